package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// applier applies inbox messages to the store: the router's handler.
type applier struct {
	store   *bolt.Store
	dec     decoder
	claimed func() // tells the checker that a success waits for confirmation
	metrics *Metrics
	log     *slog.Logger
	relay   *relay // publishes the outbox; a message is acked once its events are out
	now     func() time.Time
	// overLimitLogged is when an over-limit callback was last logged at warn (Unix
	// nanoseconds): a flood is hundreds a second, one line a second says it.
	overLimitLogged atomic.Int64
	// eventsWait bounds how long a message waits for its events' PubAcks before it is
	// nacked (and redelivered: its change is kept, its events follow when they can).
	eventsWait time.Duration
	// dupWindow is PAYMENT_EVENTS' duplicate window: the events of a change adopted from
	// another worker, published again past it, may reach a subscriber twice (logged).
	dupWindow time.Duration
	// changes is the changelog (EPAY_STATE); nil leaves the store the only copy of the
	// state (benchmarks of the store alone).
	changes *changelog
	// crash is the crash tests' hook (crashHook): nil but in a binary built for them.
	crash func(point, msgID string)
}

// errEventsPending: the message's change is durable, but its events are not yet
// published (PAYMENT_EVENTS unreachable): the message is not acked, and comes again.
// It is never a reason to give a message up.
var errEventsPending = errors.New("events not yet published")

// handle applies one message. It returns nil once the change is in the changelog, in
// the store and its events are published (the router then acks), an error wrapping
// ErrPoison for a message that can never be applied, and any other error for a
// transient failure (retried, then nacked).
func (a *applier) handle(msg *message.Message) error {
	kind := kindOf(msg)
	d, err := a.dec.decode(msg)
	if err != nil {
		return err
	}
	m := d.Message
	ch, err := a.store.Prepare(m, a.now())
	switch {
	case errors.Is(err, invoice.ErrOverLimit):
		// a flood of callbacks for one invoice (made with its secret_hash): acked, not
		// applied; sent to the DLQ, the flood would fill it, and a full DLQ stops the shard
		a.metrics.Messages.WithLabelValues(kind, OutcomeOverLimit).Inc()
		level := slog.LevelDebug
		if now, last := time.Now().UnixNano(), a.overLimitLogged.Load(); now-last >= int64(time.Second) && a.overLimitLogged.CompareAndSwap(last, now) {
			level = slog.LevelWarn // at most one a second; the metric counts them all
		}
		a.log.Log(msg.Context(), level, "callback past its invoice's bound of messages: not applied (kept in EPAY_INBOX)", "invoice_id", m.InvoiceID,
			"msg_id", m.ID, "stream_seq", msg.Metadata.Get(mdStreamSeq), "correlation_id", middleware.MessageCorrelationID(msg))
		return nil
	case errors.Is(err, invoice.ErrInvalid):
		if errors.Is(err, bolt.ErrPendingFull) {
			a.metrics.PendingRefused.Inc()
		}
		return poison("%v", err)
	case err != nil:
		a.metrics.Messages.WithLabelValues(kind, OutcomeRetried).Inc()
		return err
	}
	ctx := msg.Context()
	// One line per message, at debug: at info it cost ~5% of the worker's CPU under load.
	// The attributes are only built when debug is on.
	debug := a.log.Enabled(ctx, slog.LevelDebug)
	if ch.Result.Outcome == bolt.Duplicate {
		if err := a.settleLatest(ctx, ch); err != nil {
			a.metrics.Messages.WithLabelValues(kind, OutcomeRetried).Inc()
			return err
		}
		a.metrics.Messages.WithLabelValues(kind, OutcomeDuplicate).Inc()
		if debug {
			a.log.Debug("duplicate message", "invoice_id", m.InvoiceID, "msg_id", m.ID, "correlation_id", middleware.MessageCorrelationID(msg))
		}
		return nil
	}
	var seq uint64
	since := time.Now() // each step's time, for epayflow_worker_apply_stage_seconds
	if a.changes != nil {
		seq, err = a.changes.write(ctx, ch)
		if errors.Is(err, errFenced) {
			a.metrics.Fenced.Inc()
			return a.adopt(ctx, m.InvoiceID, err)
		}
		if err != nil {
			a.metrics.Messages.WithLabelValues(kind, OutcomeRetried).Inc()
			return err
		}
		a.metrics.observeStage(stageChangelog, &since)
	}
	var ready []readyEvent // the events' messages, made once, here
	if a.relay != nil {
		ready = a.relay.encode(ch.Result.Events)
		if seq != 0 && len(ready) > 0 && !ch.EarlierUnpublished() {
			// of record now: its PubAck comes while the commit runs (publishEarly)
			a.relay.publishEarly(ready[0])
		}
	}
	a.crashAt("recorded", m.ID)
	if len(ready) > 0 {
		// told from the committer, as the transaction is durable: a relay draining
		// meanwhile finds the entries ready instead of decoding them from the file
		ch.Committed = func(last uint64) { a.relay.offerReady(last, ready) }
	}
	last, err := a.store.Commit(ch, seq)
	if err != nil {
		if a.relay != nil {
			a.relay.dropEarly(ready)
		}
		a.metrics.Messages.WithLabelValues(kind, OutcomeRetried).Inc()
		return err
	}
	a.metrics.observeStage(stageCommit, &since)
	a.crashAt("committed", m.ID)
	a.metrics.Messages.WithLabelValues(kind, OutcomeApplied).Inc()
	if debug {
		a.log.Debug("message applied", "invoice_id", m.InvoiceID, "msg_id", m.ID, "correlation_id", middleware.MessageCorrelationID(msg),
			"kind", m.Kind, "state_before", ch.Result.StateBefore, "state", ch.Result.Invoice.State, "events", len(ch.Result.Events),
			"record", seq)
	}
	if ch.Result.Invoice.Confirmation != "" && a.claimed != nil { // a claim waits: a success to confirm or a not-final failure
		a.claimed()
	}
	if err := a.published(ctx, last); err != nil {
		return err
	}
	if last != 0 && a.relay != nil {
		a.metrics.observeStage(stageEvents, &since)
	}
	a.crashAt("published", m.ID)
	return nil
}

// crashAt is a point where the crash tests kill the worker: "recorded" (the change is
// in the changelog, not in the store), "committed" (in the store, its events not yet
// published, the message not acked), "published" (the events out, the message not
// acked). It does nothing but in their build.
func (a *applier) crashAt(point, msgID string) {
	if a.crash != nil {
		a.crash(point, msgID)
	}
}

// settleLatest finishes a duplicate that made its invoice's latest change: the message
// was not acked (it came again), so that change's events may not be out yet. Made here,
// they are in the outbox or published; adopted from another worker's record, they are
// published again from the record (deduplicated by event id while PAYMENT_EVENTS still
// remembers ids; past its window a subscriber may see one twice, and dedupes by id: at
// least once, never lost); the record holds the invoice's earlier events its writer had not seen
// out, too. An older duplicate has nothing to settle: what of its events was not out
// when the next change of its invoice was made is in that change's record and outbox.
func (a *applier) settleLatest(ctx context.Context, ch bolt.Change) error {
	switch {
	case !ch.Latest:
		return nil
	case !ch.Prev.Adopted:
		return a.published(ctx, ch.Prev.Outbox)
	case a.changes == nil:
		return nil
	}
	rec, ok, err := a.changes.last(ctx, ch.Msg.InvoiceID)
	if err != nil || !ok || rec.Record.MessageID != ch.Msg.ID || len(rec.Record.Events) == 0 {
		return err
	}
	if age := a.now().Sub(rec.Record.At); age > a.dupWindow {
		// PAYMENT_EVENTS no longer drops them by id: a subscriber may see those the old
		// owner published twice (it dedupes by id). Not publishing them could lose events
		// that never went out (a worker that died between the record and its commit).
		a.log.Info("events of an adopted change published again past PAYMENT_EVENTS' duplicate window: subscribers may see some twice",
			"invoice_id", ch.Msg.InvoiceID, "msg_id", ch.Msg.ID, "age", age)
	}
	last, err := a.store.Requeue(ch.Msg.InvoiceID, rec.Record.Events)
	if err != nil {
		return err
	}
	a.metrics.EventsRequeued.Add(float64(len(rec.Record.Events)))
	return a.published(ctx, last)
}

// adopt takes the invoice's newer record from the changelog into the store after a
// fenced write, and returns a transient error: the message is applied again on top.
func (a *applier) adopt(ctx context.Context, invoiceID string, fenced error) error {
	rec, ok, err := a.changes.last(ctx, invoiceID)
	if errors.Is(err, errRecordRefused) || err == nil && !ok {
		// The subject's last record is not the workers' (a forgery: it evicted the
		// genuine one, one record a subject) or there is none (EPAY_STATE made anew):
		// the store's copy is the invoice's state of record, and its next change goes on
		// top of what is there, so the invoice is not fenced for good.
		if serr := a.store.Supersede(invoiceID, rec.Seq); serr != nil && !errors.Is(serr, bolt.ErrNotFound) {
			return errors.Join(fenced, err, serr)
		}
		return errors.Join(fenced, err)
	}
	if err != nil {
		return errors.Join(fenced, err)
	}
	if ok {
		if _, err := a.store.Adopt([]bolt.Adopted{rec}, a.now()); err != nil {
			return errors.Join(fenced, err)
		}
	}
	a.log.Info("invoice written by another worker: its record adopted, the message applied again", "invoice_id", invoiceID, "record", rec.Seq)
	return fenced
}

// published waits until the outbox entry last (and every one before it) is published.
func (a *applier) published(ctx context.Context, last uint64) error {
	if last == 0 || a.relay == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, a.eventsWait)
	defer cancel()
	if err := a.relay.waitPublished(wctx, last); err != nil {
		return fmt.Errorf("%w: %v", errEventsPending, err)
	}
	return nil
}

// giveUp turns a transient error into a poison one once the message was delivered
// maxDeliveries times, so a message never blocks its shard (or vanishes) forever.
func giveUp(maxDeliveries uint64) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err != nil && !errors.Is(err, ErrPoison) && !stateOrEvents(err) && deliveries(msg) >= maxDeliveries {
				err = poison("gave up after %d deliveries: %v", deliveries(msg), err)
			}
			return out, err
		}
	}
}

// stateOrEvents says whether err is one a message waits out however many deliveries it
// takes, never given up for: its events' PubAcks (its change is kept), or the changelog
// (EPAY_STATE not taking the record, another worker's record, or a record that is not
// the workers': the invoice's messages wait, and the alerts say why, rather than go to
// the DLQ out of their order).
func stateOrEvents(err error) bool {
	return errors.Is(err, errEventsPending) || errors.Is(err, errStateWrite) || errors.Is(err, errFenced) || errors.Is(err, errRecordRefused)
}

// countPoisoned counts the messages the poison middleware took (its inner error).
func (a *applier) countPoisoned(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if errors.Is(err, ErrPoison) {
			a.metrics.Messages.WithLabelValues(kindOf(msg), OutcomePoisoned).Inc()
			a.log.Warn("message poisoned, to the DLQ", "msg_uuid", msg.UUID, "subject", msg.Metadata.Get(mdSubject),
				"stream_seq", msg.Metadata.Get(mdStreamSeq), "correlation_id", middleware.MessageCorrelationID(msg), "reason", err.Error())
		}
		return out, err
	}
}

// nakDelay is the redelivery delay after the n-th failed delivery: 1s doubling to 1 min.
func nakDelay(delivered uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < delivered && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

func itoa(n int) string { return strconv.Itoa(n) }
