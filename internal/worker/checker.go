package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// statusAsker is what the checker needs of the ePay client: the status API of card
// payments and the one of P2P transfers.
type statusAsker interface {
	PaymentStatusOn(ctx context.Context, terminal, invoiceID string) (*epayapi.PaymentStatus, error)
	P2PStatusOn(ctx context.Context, terminal, order string) (*epayapi.P2PStatus, error)
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
	// recoverOperationAfter is how long an operation may stay pending before the checker
	// resolves it from ePay's status, and before anyone concludes from that status that
	// it was not made: twice opCallMax, the bound of one call to ePay's operation API
	// (never retried), so that a call still under way (a worker's that timed out on our
	// side, or the previous owner's of a shard that moved, with its clock some seconds
	// off) can no longer make it. A status that shows it made is recorded at once.
	recoverOperationAfter = 2 * opCallMax
	// purposeOperation: the checker resolves an operation left pending.
	purposeOperation = "operation"
	// maxWaitInterval caps the doubling wait (from WORKER_CHECK_EVERY) between two
	// questions about a claim whose answer is not final yet.
	maxWaitInterval = 10 * time.Minute
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
	signer         inbox.StatusSigner // signs the answers: only a worker's status moves an invoice
	msgs           *inbox.Builder
	reconcileAfter time.Duration // 0: no reconciliation
	concurrency    int
	every          time.Duration
	finalWithin    time.Duration // a claim's bound for a final answer
	metrics        *Metrics
	log            *slog.Logger
	now            func() time.Time
	wake           chan struct{}
	// ops resolves operations left pending (nil: none are).
	ops *operator
	// owns says whether the worker consumes the invoice's shard now: the file keeps the
	// invoices of shards that moved away, which their new owner checks (nil: all).
	owns func(invoiceID string) bool

	mu    sync.Mutex
	state map[string]*askState // per open invoice, in memory
}

type askState struct {
	version  int64     // the invoice's version when its answer was published
	askedAt  time.Time // when it was published
	failures int       // errors and "in progress" in a row
	waits    int       // not-final answers in a row
	retryAt  time.Time // not before
}

func newChecker(store *bolt.Store, pub inboxPublisher, epay statusAsker, signer inbox.StatusSigner, msgs *inbox.Builder, cfg Config, m *Metrics, log *slog.Logger) *checker {
	return &checker{store: store, pub: pub, epay: epay, signer: signer, msgs: msgs, reconcileAfter: cfg.ReconcileAfter,
		concurrency: cfg.StatusConcurrency, every: cfg.CheckEvery, finalWithin: cfg.FinalWithin, metrics: m, log: log.With("component", "checker"),
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
	awaiting := map[string]int{}
	var oldest time.Time
	after := ""
	complete := false
	defer func() {
		if complete {
			c.sampleAwaiting(awaiting, oldest)
		}
	}()
	for ctx.Err() == nil {
		page, err := c.store.OpenInvoices(after, pageSize)
		if err != nil {
			c.log.Warn("read open invoices", "err", err)
			return
		}
		if len(page) == 0 {
			complete = true
			break
		}
		after = page[len(page)-1].InvoiceID
		for _, inv := range page {
			if c.owns != nil && !c.owns(inv.InvoiceID) {
				continue // another worker's now: its copy here is stale
			}
			seen[inv.InvoiceID] = true
			if inv.Confirmation != "" {
				awaiting[inv.Confirmation]++
				if oldest.IsZero() || inv.ConfirmSince.Before(oldest) {
					oldest = inv.ConfirmSince
				}
			}
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
	if op, ok := inv.PendingOperation(); ok {
		if c.ops == nil || now.Sub(op.RequestedAt) < recoverOperationAfter {
			return ""
		}
		return purposeOperation
	}
	if inv.Confirmation != "" { // a claim waits: a success to confirm, or a not-final failure
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

// sampleAwaiting sets the gauges of claims waiting for ePay's final answer.
func (c *checker) sampleAwaiting(awaiting map[string]int, oldest time.Time) {
	for _, conf := range []string{invoice.ConfirmationPending, invoice.ConfirmationNotFinal} {
		c.metrics.AwaitingFinal.WithLabelValues(conf).Set(float64(awaiting[conf]))
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(c.now().Sub(oldest).Seconds(), 0)
	}
	c.metrics.AwaitingOldest.Set(age)
}

// ask gets the status of inv and publishes it. An answer that is not final yet is
// published once (history keeps it) and asked again with a doubling wait; past
// WORKER_FINAL_WITHIN the next answer, or the lack of one, is published with GiveUp and
// sends the claim to review. Errors and "in progress" without a claim wait and retry.
func (c *checker) ask(ctx context.Context, inv invoice.Invoice, purpose string) {
	if purpose == purposeOperation {
		c.recoverOperation(ctx, inv)
		return
	}
	st, err := c.query(ctx, inv)
	log := c.log.With("invoice_id", inv.InvoiceID, "purpose", purpose, "kind", inv.Kind)
	now := c.now()
	claim := inv.Confirmation != ""
	giveUp := claim && !inv.ConfirmSince.IsZero() && now.Sub(inv.ConfirmSince) >= c.finalWithin
	switch {
	case ctx.Err() != nil:
		return
	case st == nil && !giveUp: // no answer: ePay unreachable, credentials refused, a malformed answer, ...
		log.Warn("ePay status request failed; will retry", "err", err, "cause", epayapi.Cause(err))
		c.retry(inv, purpose, "error")
		return
	case st == nil:
		st = &invoice.Status{Unanswered: clipText(epayapi.Cause(err) + ": " + errText(err))}
	}
	st.Check, st.Purpose, st.AskedAt, st.GiveUp = inv.StatusChecks+1, purpose, now.UTC(), giveUp
	verdict := st.Verdict()
	notFinal := verdict == invoice.VerdictNotFinal || verdict == invoice.VerdictNotFound
	switch {
	case notFinal && giveUp:
	case notFinal && !claim && st.ResultCode == string(epayapi.ResultInProgress):
		log.Debug("ePay says in progress; will retry")
		c.retry(inv, purpose, "in_progress")
		return
	case notFinal && claim && inv.LastStatus == st.Summary():
		// history has this answer already: ask again later, without a message
		log.Debug("ePay's answer is not final yet; will ask again", "status", st.Summary())
		c.wait(inv, purpose)
		return
	}
	if err := c.publish(ctx, inv.InvoiceID, *st); err != nil {
		log.Warn("publish status answer; will retry", "err", err)
		c.retry(inv, purpose, "error")
		return
	}
	c.published(inv, notFinal && claim && !giveUp)
	result := outcome(inv, *st, now)
	c.metrics.count(purpose, result)
	log.Info("ePay status answer published", "api", st.API, "result_code", st.ResultCode, "status_name", st.StatusName,
		"reason_code", st.ReasonCode, "check", st.Check, "give_up", giveUp, "result", result)
}

// query asks the status API that answers for inv's kind (P2P transfers have their own)
// with a service token of the invoice's terminal (from its signed invoice.created; the
// client's setting when it has none). The answer is nil when ePay gave none (err says why).
func (c *checker) query(ctx context.Context, inv invoice.Invoice) (*invoice.Status, error) {
	rctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	if inv.Kind == invoice.KindP2P {
		ps, err := c.epay.P2PStatusOn(rctx, inv.Terminal, inv.InvoiceID)
		if ps == nil {
			return nil, err
		}
		if err := ofInvoice(ps.Transaction, inv.InvoiceID); err != nil {
			return nil, err
		}
		return statusOf("p2p", ps.Code, ps.Message, ps.Transaction, ps.Raw), err
	}
	ps, err := c.epay.PaymentStatusOn(rctx, inv.Terminal, inv.InvoiceID)
	if ps == nil {
		return nil, err
	}
	if err := ofInvoice(ps.Transaction, inv.InvoiceID); err != nil {
		return nil, err
	}
	return statusOf("payment", ps.ResultCode, ps.ResultMessage, ps.Transaction, ps.Raw), err
}

// errOtherInvoice: ePay's status answer is about another invoice than the one asked. It
// is no answer: its money, whatever its amount, is not this invoice's.
var errOtherInvoice = errors.New("ePay's status answer names another invoice")

// ofInvoice refuses an answer whose transaction names another invoice than invoiceID.
func ofInvoice(t *epayapi.Transaction, invoiceID string) error {
	if t == nil || t.OfInvoice(invoiceID) {
		return nil
	}
	return fmt.Errorf("%w: asked about %s, the transaction is invoice %q's", errOtherInvoice, invoiceID, t.InvoiceID)
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
	case st.GiveUp && inv.Confirmation != "" && next.Confirmation == "":
		return "gave_up"
	case next.Confirmation != "":
		return "not_final"
	case st.ResultCode == string(epayapi.ResultNotFound):
		return "not_found"
	}
	return "unchanged"
}

// entry is inv's ask state, made when missing; c.mu must be held.
func (c *checker) entry(id string) *askState {
	st := c.state[id]
	if st == nil {
		st = &askState{version: -1}
		c.state[id] = st
	}
	return st
}

func (c *checker) retry(inv invoice.Invoice, purpose, result string) {
	if result != "" {
		c.metrics.count(purpose, result)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.entry(inv.InvoiceID)
	st.failures++
	st.retryAt = c.now().Add(min(retryBase<<min(st.failures-1, 20), retryMax))
}

// wait schedules the next question about a claim whose answer is not final yet: the
// check interval, doubling, at most maxWaitInterval.
func (c *checker) wait(inv invoice.Invoice, purpose string) {
	c.metrics.count(purpose, "not_final")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.schedule(c.entry(inv.InvoiceID))
}

func (c *checker) schedule(st *askState) {
	st.waits++
	st.retryAt = c.now().Add(min(c.every<<min(st.waits-1, 20), maxWaitInterval))
}

// published records that an answer about inv is on its way through the inbox; notFinal
// also schedules the next question.
func (c *checker) published(inv invoice.Invoice, notFinal bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.entry(inv.InvoiceID)
	st.version, st.askedAt, st.failures, st.retryAt = inv.Version, c.now(), 0, time.Time{}
	if notFinal {
		c.schedule(st)
	}
}

// statusOf turns ePay's answer into the state machine's Status: the merchant's terminal
// (terminalID) and the amount the transaction was made for (orgAmount) are what is
// compared with the invoice.
func statusOf(api string, code epayapi.ResultCode, msg string, t *epayapi.Transaction, raw json.RawMessage) *invoice.Status {
	st := &invoice.Status{API: api, ResultCode: string(code), ResultMessage: msg, Raw: raw}
	if t != nil {
		st.StatusName, st.TransactionID, st.Currency = t.StatusName, t.ID, t.Currency
		st.Amount, st.Refunded = t.OriginalAmount(), t.Refunded()
		st.Terminal, st.ProcessingTerminal = t.MerchantTerminal(), t.Terminal
		st.CardMask, st.ReasonCode, st.Reason = t.CardMask, t.ReasonCode, t.Reason
		st.AccountID, st.Bonus = t.AccountID, t.AmountBonus
	}
	if !json.Valid(st.Raw) {
		st.Raw = nil
	}
	return st
}

func errText(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

// clipText bounds a text kept in an invoice's history.
func clipText(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// publish puts the answer on the invoice's inbox shard, deduplicated by its id.
func (c *checker) publish(ctx context.Context, invoiceID string, st invoice.Status) error {
	msg, err := c.msgs.Status(inbox.StatusBody{InvoiceID: invoiceID, Status: st}, c.signer, c.now())
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.pub.PublishMsg(pctx, msg, jetstream.WithExpectStream(inbox.Stream))
	return err
}

// recoverOperation resolves inv's operation left pending (the worker that started it
// stopped before recording ePay's answer, and nobody asked again) from ePay's status
// API, as a request with its id would; with no clear answer yet it retries later.
func (c *checker) recoverOperation(ctx context.Context, inv invoice.Invoice) {
	op, err := c.ops.recoverPending(ctx, inv.InvoiceID)
	log := c.log.With("invoice_id", inv.InvoiceID, "operation", op.ID, "type", op.Type)
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, errOpUnknownOutcome):
		c.metrics.OperationsRecovered.WithLabelValues("unknown").Inc()
		log.Warn("an operation left pending: ePay's status does not tell its outcome yet; will retry", "err", err)
		c.retry(inv, purposeOperation, "")
	case err != nil:
		c.metrics.OperationsRecovered.WithLabelValues("error").Inc()
		log.Warn("an operation left pending could not be resolved; will retry", "err", err)
		c.retry(inv, purposeOperation, "")
	case op.ID != "":
		c.metrics.OperationsRecovered.WithLabelValues(op.State).Inc()
		c.published(inv, false)
	}
}
