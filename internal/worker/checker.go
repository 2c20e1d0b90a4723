package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// statusBody is the payload of an epay.inbox.<shard>.status message.
type statusBody struct {
	InvoiceID string         `json:"invoiceId"`
	Status    invoice.Status `json:"status"`
}

// statusAsker is what the checker needs of the ePay client.
type statusAsker interface {
	PaymentStatus(ctx context.Context, invoiceID string) (*epayapi.PaymentStatus, error)
}

// inboxPublisher publishes to EPAY_INBOX.
type inboxPublisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Limits of the checker.
const (
	// maxReconcileChecks: after this many answers an invoice still created (ePay does
	// not know it) is no longer asked about; it stays created.
	maxReconcileChecks = 10
	// maxReconcileInterval caps the doubling wait between two reconcile checks.
	maxReconcileInterval = 24 * time.Hour
	// askedGrace is how long an invoice whose answer was published is left alone while
	// the answer makes its way through the inbox.
	askedGrace = time.Minute
	// retryBase and retryMax bound the wait after an error or "107 in progress".
	retryBase, retryMax = 2 * time.Second, 5 * time.Minute
	// statusTimeout bounds one status request, retries included.
	statusTimeout = 30 * time.Second
	pageSize      = 256
)

// checker asks ePay's status API about open invoices and publishes the answers to the
// inbox, where they are applied in order like callbacks (the log stays the single source
// of truth, and no HTTP call runs inside a bbolt transaction). It confirms success
// callbacks that wait for it, and reconciles invoices left created too long.
type checker struct {
	store          *bolt.Store
	pub            inboxPublisher
	epay           statusAsker
	shards         int
	reconcileAfter time.Duration // 0: no reconciliation
	concurrency    int
	every          time.Duration
	metrics        *Metrics
	log            *slog.Logger
	now            func() time.Time
	wake           chan struct{}

	mu    sync.Mutex
	state map[string]*askState // per open invoice, in memory
}

type askState struct {
	version  int64     // the invoice's version when its answer was published
	askedAt  time.Time // when it was published
	failures int       // errors and "in progress" in a row
	retryAt  time.Time // not before
}

func newChecker(store *bolt.Store, pub inboxPublisher, epay statusAsker, cfg Config, m *Metrics, log *slog.Logger) *checker {
	return &checker{store: store, pub: pub, epay: epay, shards: cfg.Shards, reconcileAfter: cfg.ReconcileAfter,
		concurrency: cfg.StatusConcurrency, every: cfg.CheckEvery, metrics: m, log: log.With("component", "checker"),
		now: time.Now, wake: make(chan struct{}, 1), state: map[string]*askState{}}
}

// Wake makes the checker look at the open invoices now (a claim waits).
func (c *checker) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run checks until ctx ends.
func (c *checker) Run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		c.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		}
	}
}

// scan pages through the open invoices and asks about those due, at most concurrency
// at once; it returns when every request of the scan has ended.
func (c *checker) scan(ctx context.Context) {
	sem := make(chan struct{}, c.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := map[string]bool{}
	after := ""
	for ctx.Err() == nil {
		page, err := c.store.OpenInvoices(after, pageSize)
		if err != nil {
			c.log.Warn("read open invoices", "err", err)
			return
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].InvoiceID
		for _, inv := range page {
			seen[inv.InvoiceID] = true
			purpose := c.due(inv, c.now())
			if purpose == "" {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				c.ask(ctx, inv, purpose)
			})
		}
	}
	c.forget(seen)
}

// due says why inv should be asked about now ("" when it should not).
func (c *checker) due(inv invoice.Invoice, now time.Time) string {
	c.mu.Lock()
	st := c.state[inv.InvoiceID]
	c.mu.Unlock()
	if st != nil && (now.Before(st.retryAt) || st.version == inv.Version && now.Sub(st.askedAt) < askedGrace) {
		return ""
	}
	if inv.Confirmation == invoice.ConfirmationPending {
		return invoice.PurposeConfirm
	}
	if inv.State != invoice.StateCreated || c.reconcileAfter <= 0 || inv.StatusChecks >= maxReconcileChecks {
		return ""
	}
	since := inv.CreatedAt
	if since.IsZero() {
		since = inv.UpdatedAt
	}
	wait := c.reconcileAfter
	if !inv.LastStatusAt.IsZero() {
		since = inv.LastStatusAt
		wait = min(c.reconcileAfter<<min(inv.StatusChecks, 20), maxReconcileInterval)
	}
	if now.Sub(since) < wait {
		return ""
	}
	return invoice.PurposeReconcile
}

// forget drops the memory of invoices no longer open.
func (c *checker) forget(open map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.state {
		if !open[id] {
			delete(c.state, id)
		}
	}
}

// ask gets the status of inv and publishes it; errors and "in progress" wait and retry.
func (c *checker) ask(ctx context.Context, inv invoice.Invoice, purpose string) {
	rctx, cancel := context.WithTimeout(ctx, statusTimeout)
	ps, err := c.epay.PaymentStatus(rctx, inv.InvoiceID)
	cancel()
	log := c.log.With("invoice_id", inv.InvoiceID, "purpose", purpose)
	switch {
	case ctx.Err() != nil:
		return
	case ps == nil: // no answer: ePay unreachable, credentials refused, ...
		log.Warn("ePay status request failed; will retry", "err", err, "cause", epayapi.Cause(err))
		c.retry(inv, purpose, "error")
		return
	case ps.ResultCode == epayapi.ResultInProgress:
		log.Debug("ePay says in progress; will retry")
		c.retry(inv, purpose, "in_progress")
		return
	}
	st := statusOf(ps, inv.StatusChecks+1, purpose, c.now())
	if err := c.publish(ctx, inv.InvoiceID, st); err != nil {
		log.Warn("publish status answer; will retry", "err", err)
		c.retry(inv, purpose, "error")
		return
	}
	c.mu.Lock()
	c.state[inv.InvoiceID] = &askState{version: inv.Version, askedAt: c.now()}
	c.mu.Unlock()
	result := outcome(inv, st, c.now())
	c.metrics.count(purpose, result)
	log.Info("ePay status answer published", "result_code", st.ResultCode, "status_name", st.StatusName, "check", st.Check, "result", result)
}

// outcome is what the answer will do to the invoice (the state machine, run ahead on a
// copy): the result label of the metrics.
func outcome(inv invoice.Invoice, st invoice.Status, now time.Time) string {
	next, _, err := invoice.Apply(&inv, invoice.StatusMessage("preview", inv.InvoiceID, st, now), now)
	if err != nil {
		return "error"
	}
	switch {
	case next.State != inv.State:
		return string(next.State)
	case st.ResultCode == string(epayapi.ResultNotFound):
		return "not_found"
	}
	return "unchanged"
}

func (c *checker) retry(inv invoice.Invoice, purpose, result string) {
	c.metrics.count(purpose, result)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state[inv.InvoiceID]
	if st == nil {
		st = &askState{version: -1}
		c.state[inv.InvoiceID] = st
	}
	st.failures++
	st.retryAt = c.now().Add(min(retryBase<<min(st.failures-1, 20), retryMax))
}

// statusOf turns ePay's answer into the state machine's Status.
func statusOf(ps *epayapi.PaymentStatus, check int, purpose string, now time.Time) invoice.Status {
	st := invoice.Status{Check: check, Purpose: purpose, ResultCode: string(ps.ResultCode), ResultMessage: ps.ResultMessage,
		AskedAt: now.UTC(), Raw: ps.Raw}
	if t := ps.Transaction; t != nil {
		st.StatusName, st.TransactionID, st.Amount, st.Currency, st.Terminal = t.StatusName, t.ID, t.Amount, t.Currency, t.Terminal
		st.CardMask, st.ReasonCode, st.Reason = t.CardMask, t.ReasonCode, t.Reason
	}
	if !json.Valid(st.Raw) {
		st.Raw = nil
	}
	return st
}

// publish puts the answer on the invoice's inbox shard, deduplicated by its id.
func (c *checker) publish(ctx context.Context, invoiceID string, st invoice.Status) error {
	body, err := json.Marshal(statusBody{InvoiceID: invoiceID, Status: st})
	if err != nil {
		return err
	}
	msg := &nats.Msg{
		Subject: natsbus.InboxSubject(natsbus.Shard(invoiceID, c.shards), natsbus.KindStatus),
		Data:    body,
		Header: nats.Header{
			natsbus.HeaderReceivedAt:    {c.now().UTC().Format(time.RFC3339Nano)},
			natsbus.HeaderWatermillUUID: {nuid.Next()},
		},
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.pub.PublishMsg(pctx, msg,
		jetstream.WithMsgID(natsbus.StatusMsgID(invoiceID, st.Check, st.ResultCode, st.StatusName, st.TransactionID)),
		jetstream.WithExpectStream(natsbus.StreamInbox))
	return err
}
