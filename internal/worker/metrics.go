package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/httpmetrics"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jspubsub"
)

// Message outcomes, the outcome label of epayflow_worker_messages_total.
const (
	OutcomeApplied   = "applied"
	OutcomeDuplicate = "duplicate"
	OutcomePoisoned  = "poisoned"
	OutcomeRetried   = "retried"
	// OutcomeOverLimit: a callback past its invoice's bound of messages
	// (invoice.ErrOverLimit): acked, not applied, not sent to the DLQ; its copy stays in
	// EPAY_INBOX.
	OutcomeOverLimit = "over_limit"
)

// Metrics are the worker's own metrics (Watermill adds its router metrics beside them).
type Metrics struct {
	Messages        *prometheus.CounterVec // kind, outcome
	ConsumerPending *prometheus.GaugeVec   // shard
	DLQMessages     prometheus.Gauge       // messages on EPAY_DLQ
	StreamUsed      *prometheus.GaugeVec   // bytes against max bytes, by stream
	CommitDuration  prometheus.Histogram   // bbolt write transactions
	// ApplyStage: an applied message's time in each step after its Prepare (stage label:
	// changelog, commit, events); stage holds the bound observers.
	ApplyStage      *prometheus.HistogramVec
	stage           [numStages]prometheus.Observer
	EventsPublished *prometheus.CounterVec // type
	PublishErrors   prometheus.Counter     // relay publish failures
	Confirmations   *prometheus.CounterVec // result: status answers for claims waiting
	Reconciled      *prometheus.CounterVec // result: status answers for invoices left created
	PendingRefused  prometheus.Counter     // callbacks of uncreated invoices beyond the limits (to the DLQ)
	ShardsOwned     prometheus.Gauge       // shards whose lease this worker holds
	Shards          prometheus.Gauge       // EPAY_SHARDS: how many shards the inbox has
	ShardConflicts  prometheus.Counter     // attempts refused: a shard owned by another worker
	LeasesRefused   prometheus.Counter     // leases and memberships the workers did not sign, not counted
	ShardMoves      *prometheus.CounterVec // direction: shards gained and lost
	ShardStart      prometheus.Histogram   // lease taken to consumer running, restore included
	Members         prometheus.Gauge       // live workers, as this one sees them
	AwaitingFinal   *prometheus.GaugeVec   // confirmation: open invoices whose claim waits for ePay
	AwaitingOldest  prometheus.Gauge       // seconds the oldest of them has waited
	Fenced          prometheus.Counter     // changelog writes refused: another worker wrote the invoice
	// StateRefused: EPAY_STATE records not adopted: not signed with the workers' status
	// key, or on another invoice's subject (a forgery, or a worker with another key).
	StateRefused   prometheus.Counter
	Takeovers      *prometheus.CounterVec // reason: shard consumers made again from their ack floor
	EventsRequeued prometheus.Counter     // events of adopted changes published again
	Restores       *prometheus.CounterVec // result: shard restores from the changelog
	// CreatedSignatures: invoice.created by the state of the initiator's signature
	// (result: valid, invalid, missing_refused, missing_accepted).
	CreatedSignatures *prometheus.CounterVec
	// OperationsRecovered: operations left pending (a worker stopped before recording
	// ePay's answer) resolved in the background from ePay's status, by outcome.
	OperationsRecovered *prometheus.CounterVec
	RestoreDuration     prometheus.Histogram // a shard's restore, start to done
	RestoredRecords     prometheus.Counter   // records taken from the changelog by restores
	HTTP                *httpmetrics.Routes  // the read API's requests: epayflow_worker_requests_total, _request_duration_seconds
	PrunedBodies        prometheus.Counter   // history bodies dropped by the retention
	PrunedBytes         prometheus.Counter   // and their bytes
	storeStats          func() (bolt.Stats, error)
	invoices            *prometheus.Desc
	backlog             *prometheus.Desc
	fileBytes           *prometheus.Desc
	reclaimable         *prometheus.Desc
}

// NewMetrics registers the worker's metrics on reg. The store-backed gauges appear once
// the store is known (readStore).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_messages_total",
			Help: "Inbox messages handled, by kind (invoice, postlink) and outcome (applied, duplicate, poisoned, retried, over_limit).",
		}, []string{"kind", "outcome"}),
		ConsumerPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "epayflow_worker_consumer_pending",
			Help: "Inbox messages of a shard not yet acked by this worker (consumer lag: pending + ack pending), sampled.",
		}, []string{"shard"}),
		DLQMessages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "epayflow_worker_dlq_messages",
			Help: "Messages on the EPAY_DLQ stream, sampled.",
		}),
		StreamUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "epayflow_worker_stream_used_ratio",
			Help: "What each stream with a size bound holds against its max bytes (0 to 1), sampled. At 1 NATS refuses what is published on it: " +
				"on EPAY_INBOX every callback (the ingest's 503), invoice.created and answer of the workers.",
		}, []string{"stream"}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "epayflow_worker_commit_duration_seconds",
			Help:    "Duration of bbolt write transactions, begin to durable (fsync included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		ApplyStage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "epayflow_worker_apply_stage_seconds",
			Help: "An applied message's time in each step of its apply: changelog (its record written to EPAY_STATE, to the PubAck), " +
				"commit (queued for the group commit, then the transaction and its fsync), events (from the commit to its events' PubAcks, the outbox relay).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"stage"}),
		EventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_events_published_total",
			Help: "Payment events published to PAYMENT_EVENTS (PubAck received), by type.",
		}, []string{"type"}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_event_publish_errors_total",
			Help: "Failed attempts to publish an outbox entry (retried with backoff).",
		}),
		Confirmations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_confirmations_total",
			Help: "Status checks of callbacks waiting for ePay's final answer, by result (paid, failed, review, not_final, in_progress, error, gave_up, unchanged).",
		}, []string{"result"}),
		Reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_reconciled_total",
			Help: "Status checks of invoices left created, by result (paid, failed, review, not_found, unchanged, in_progress, error).",
		}, []string{"result"}),
		OperationsRecovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_operations_recovered_total",
			Help: "Refunds, charges and cancels left pending by a stopped worker and resolved in the background from ePay's status API, by outcome (succeeded, failed: not made, unknown: ePay's status did not tell yet, error: the outcome could not be recorded; both retried).",
		}, []string{"outcome"}),
		CreatedSignatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_created_signatures_total",
			Help: "invoice.created messages by their initiator's signature (EPAY_SECRET_KEYS): valid; invalid (forged or changed: to the DLQ); " +
				"missing_refused (unsigned: to the DLQ); missing_accepted (unsigned, stored before WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE: applied).",
		}, []string{"result"}),
		PendingRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_pending_refused_total",
			Help: "Callbacks for an invoice not created yet refused because it holds WORKER_MAX_PENDING callbacks or WORKER_MAX_PENDING_BYTES (they go to the DLQ).",
		}),
		ShardsOwned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "epayflow_worker_shards_owned",
			Help: "Inbox shards this worker consumes now (their leases held, their consumers running).",
		}),
		Shards: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "epayflow_worker_shards",
			Help: "Shards of the inbox (EPAY_SHARDS, the same in every worker): the live workers' epayflow_worker_shards_owned must add up to it.",
		}),
		ShardConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_shard_conflicts_total",
			Help: "Attempts to take a shard named in WORKER_SHARDS that another live worker owns (the worker waits, not ready). With the assignment (WORKER_SHARDS=auto) waiting for the previous owner to give a shard back is the normal course of a move and is not counted.",
		}),
		LeasesRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_leases_refused_total",
			Help: "Shard leases and memberships read from EPAY_SHARD_OWNERS that the workers' status key did not sign for their own key within 30 s of when NATS stored them, not counted (a forged or replayed one is taken over or ignored).",
		}),
		ShardMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_shard_moves_total",
			Help: "Shards this worker started consuming (direction gained) and stopped consuming (lost: given back to the worker that wins it now, or its lease found taken).",
		}, []string{"direction"}),
		ShardStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "epayflow_worker_shard_start_duration_seconds",
			Help:    "Time from taking a shard's lease to its consumer running, the shard's restore included.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		Members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "epayflow_worker_members",
			Help: "Live workers (membership keys in EPAY_SHARD_OWNERS) as this worker saw them at its last rebalance step; 0 with WORKER_SHARDS set.",
		}),
		AwaitingFinal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "epayflow_worker_awaiting_final",
			Help: "Open invoices whose callback waits for ePay's final answer, by confirmation (pending: a success to confirm; not_final: a failure ePay calls not final). Sampled by the checker.",
		}, []string{"confirmation"}),
		AwaitingOldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "epayflow_worker_awaiting_final_oldest_seconds",
			Help: "How long the oldest claim waiting for ePay's final answer has waited (0 when none). Sampled by the checker.",
		}),
		Fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_changelog_fenced_total",
			Help: "Changes refused by EPAY_STATE because another worker wrote the invoice's state since (its record adopted, the message applied again). Non-zero only while a shard moves.",
		}),
		StateRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_state_records_refused_total",
			Help: "EPAY_STATE records never adopted as an invoice's state: without the workers' signature (WORKER_STATUS_KEY), or on another invoice's subject. A forgery, or workers with different status keys: never zero for long.",
		}),
		Takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_consumer_takeovers_total",
			Help: "Shard consumers made again from their ack floor so that what was delivered and not acked comes again in stream order, by reason: start (a shard taken with messages a previous reader left unacked), lost_delivery (a delivery skipped: NATS died with it on its way, a dead reader's pull request took it), resumed (deleted and made again by another reader's takeover) or remade (deleted and made again by nobody within 2 minutes: made by the owner, from the shard's first message).",
		}, []string{"reason"}),
		EventsRequeued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_events_requeued_total",
			Help: "Events of a change adopted from another worker's record published again (deduplicated by id) because its message came again unacked.",
		}),
		Restores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_worker_restores_total",
			Help: "Shard restores from EPAY_STATE before consuming a shard, by result (ok, error).",
		}, []string{"result"}),
		RestoreDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "epayflow_worker_restore_duration_seconds",
			Help:    "How long a shard's restore from EPAY_STATE took (the shard is not consumed meanwhile).",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		RestoredRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_restored_records_total",
			Help: "Invoice records taken from EPAY_STATE by restores (newer than the store's copy).",
		}),
		HTTP:      httpmetrics.New("worker"),
		invoices:  prometheus.NewDesc("epayflow_worker_invoices", "Invoices by state.", []string{"state"}, nil),
		fileBytes: prometheus.NewDesc("epayflow_worker_store_file_bytes", "Size of the worker's bbolt file.", nil, nil),
		reclaimable: prometheus.NewDesc("epayflow_worker_store_reclaimable_bytes",
			"Bytes of the bbolt file in free pages (deleted outbox entries, pruned bodies): new writes reuse them; `worker compact` gives them back to the disk.", nil, nil),
		PrunedBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_pruned_bodies_total",
			Help: "History bodies of closed invoices dropped by the retention (WORKER_RETENTION).",
		}),
		PrunedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_worker_pruned_bytes_total",
			Help: "Bytes of history given back to the file's free pages by the retention (WORKER_RETENTION).",
		}),
		backlog: prometheus.NewDesc("epayflow_worker_outbox_backlog", "Payment events written but not yet published.", nil, nil),
	}
	// every kind and outcome from the start: an alert's increase() over a series born at N
	// (the first over_limit flood, or poisoned message, after a worker's start) sees 0
	for _, k := range []string{inbox.KindPostlink, inbox.KindInvoice, inbox.KindStatus, inbox.KindResolve, inbox.KindOperation} {
		for _, o := range []string{OutcomeApplied, OutcomeDuplicate, OutcomePoisoned, OutcomeRetried, OutcomeOverLimit} {
			m.Messages.WithLabelValues(k, o)
		}
	}
	for _, t := range []invoice.EventType{invoice.EventPaid, invoice.EventFailed, invoice.EventReview, invoice.EventRefunded, invoice.EventCharged, invoice.EventCancelled} {
		m.EventsPublished.WithLabelValues(string(t))
	}
	for _, r := range []string{"paid", "failed", "review", "not_final", "in_progress", "error", "gave_up"} {
		m.Confirmations.WithLabelValues(r)
	}
	for _, d := range []string{"gained", "lost"} {
		m.ShardMoves.WithLabelValues(d)
	}
	for _, c := range []string{invoice.ConfirmationPending, invoice.ConfirmationNotFinal} {
		m.AwaitingFinal.WithLabelValues(c)
	}
	for _, r := range []string{"paid", "failed", "review", "not_found", "in_progress", "error"} {
		m.Reconciled.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.Restores.WithLabelValues(r)
	}
	for _, r := range []string{SignatureValid, SignatureInvalid, SignatureMissingRefused, SignatureMissingAccepted} {
		m.CreatedSignatures.WithLabelValues(r)
	}
	for _, r := range []string{jspubsub.TakeoverStart, jspubsub.TakeoverLostDelivery, jspubsub.TakeoverResumed, jspubsub.TakeoverRemade} {
		m.Takeovers.WithLabelValues(r)
	}
	for _, o := range []string{invoice.OpSucceeded, invoice.OpFailed, "unknown", "error"} {
		m.OperationsRecovered.WithLabelValues(o)
	}
	for st, name := range stageNames {
		m.stage[st] = m.ApplyStage.WithLabelValues(name)
	}
	reg.MustRegister(m.HTTP, m.Fenced, m.StateRefused, m.Takeovers, m.OperationsRecovered, m.EventsRequeued, m.Restores, m.RestoreDuration, m.RestoredRecords, m.PrunedBodies, m.PrunedBytes)
	reg.MustRegister(m.Messages, m.ConsumerPending, m.DLQMessages, m.StreamUsed, m.CommitDuration, m.ApplyStage, m.EventsPublished, m.PublishErrors,
		m.Confirmations, m.Reconciled, m.PendingRefused, m.CreatedSignatures, m.ShardsOwned, m.Shards, m.ShardConflicts, m.LeasesRefused, m.ShardMoves, m.ShardStart, m.Members, m.AwaitingFinal, m.AwaitingOldest, m)
	return m
}

// count records the result of a status check for purpose (confirm or reconcile).
func (m *Metrics) count(purpose, result string) {
	if purpose == invoice.PurposeConfirm {
		m.Confirmations.WithLabelValues(result).Inc()
		return
	}
	m.Reconciled.WithLabelValues(result).Inc()
}

// readStore makes the scrapes read epayflow_worker_invoices{state} and
// epayflow_worker_outbox_backlog from s (counters kept in its meta bucket, so the read is
// cheap). It is called once, before anything is served.
func (m *Metrics) readStore(s *bolt.Store) { m.storeStats = s.Stats }

// Describe implements prometheus.Collector for the store-backed gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.invoices
	ch <- m.backlog
	ch <- m.fileBytes
	ch <- m.reclaimable
}

// Collect implements prometheus.Collector for the store-backed gauges.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if m.storeStats == nil {
		return
	}
	st, err := m.storeStats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.invoices, err)
		return
	}
	for _, s := range invoice.States {
		ch <- prometheus.MustNewConstMetric(m.invoices, prometheus.GaugeValue, float64(st.Invoices[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(m.backlog, prometheus.GaugeValue, float64(st.OutboxBacklog))
	ch <- prometheus.MustNewConstMetric(m.fileBytes, prometheus.GaugeValue, float64(st.FileBytes))
	ch <- prometheus.MustNewConstMetric(m.reclaimable, prometheus.GaugeValue, float64(st.FreeBytes))
}

// Steps of an apply, the stage label of epayflow_worker_apply_stage_seconds.
const (
	stageChangelog = iota
	stageCommit
	stageEvents
	numStages
)

var stageNames = [numStages]string{stageChangelog: "changelog", stageCommit: "commit", stageEvents: "events"}

// observeStage records that an applied message spent the time since *since in stage,
// and moves *since to now.
func (m *Metrics) observeStage(stage int, since *time.Time) {
	now := time.Now()
	m.stage[stage].Observe(now.Sub(*since).Seconds())
	*since = now
}

// observeCommit is the store's OnCommit hook.
func (m *Metrics) observeCommit(d time.Duration) { m.CommitDuration.Observe(d.Seconds()) }

// readAPICodes are the answers of GET /v1/invoices/{invoiceId} (invoiceHandler, and the
// forwarder's when the owner is another worker): their request counters are there, at 0,
// before the first read.
var readAPICodes = []int{200, 400, 401, 404, 500, 502, 503}

// listAPICodes and resolveAPICodes are the answers of GET /v1/invoices and
// POST /v1/invoices/{invoiceId}/resolve, counted at 0 before the first request.
var (
	listAPICodes    = []int{200, 400, 401, 503}
	resolveAPICodes = []int{200, 202, 400, 401, 403, 404, 409, 503}
)
