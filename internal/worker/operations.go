package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// operationSender is what the operator needs of the ePay client: the operation API,
// and the status API to find an operation's outcome when its answer was lost.
type operationSender interface {
	Operate(ctx context.Context, req epayapi.OperationRequest) error
	PaymentStatusOn(ctx context.Context, terminal, invoiceID string) (*epayapi.PaymentStatus, error)
}

// Errors of operate; the HTTP handler maps them to statuses.
var (
	// errOpUnknownInvoice: no such invoice on this worker.
	errOpUnknownInvoice = errors.New("unknown invoice")
	// errOpConflict: the operation id was used for another operation.
	errOpConflict = errors.New("the Idempotency-Key was used for another operation")
	// errOpRefused: the invoice's rules refuse the operation; nothing was sent to ePay.
	errOpRefused = errors.New("operation refused")
	// errOpUnknownOutcome: ePay's answer was lost and its status API did not tell the
	// outcome yet; the operation stays pending and is resolved on the next request.
	errOpUnknownOutcome = errors.New("the operation's outcome is not known yet")
	// errOpStatusUnavailable: ePay's status of the payment, read before an operation is
	// sent, could not be read; nothing was sent.
	errOpStatusUnavailable = errors.New("ePay's status of the payment could not be read; nothing was sent")
)

// operator makes charges, cancels and refunds. Each is two signed inbox messages around
// one call to ePay: started (the invoice holds it pending, so no other operation of the
// invoice starts, and a worker that stops before ePay's answer finds it), then done
// with ePay's answer. An operation found pending (the worker stopped in between) is
// resolved from ePay's status API before anything else happens to the invoice; it is
// never sent to ePay a second time.
type operator struct {
	store  *bolt.Store
	pub    inboxPublisher
	epay   operationSender
	signer inbox.StatusSigner
	msgs   *inbox.Builder
	now    func() time.Time
	log    *slog.Logger
	// applyWait bounds the wait for a published step to be applied.
	applyWait time.Duration

	mu    sync.Mutex
	locks map[string]*invoiceLock // one operation of an invoice at a time, in this worker
}

type invoiceLock struct {
	sync.Mutex
	users int
}

func newOperator(store *bolt.Store, pub inboxPublisher, ep operationSender, signer inbox.StatusSigner, msgs *inbox.Builder, log *slog.Logger) *operator {
	return &operator{store: store, pub: pub, epay: ep, signer: signer, msgs: msgs, now: time.Now,
		log: log.With("component", "operator"), applyWait: 15 * time.Second, locks: map[string]*invoiceLock{}}
}

// lock serialises the operations of one invoice; the returned func unlocks.
func (o *operator) lock(invoiceID string) func() {
	o.mu.Lock()
	l := o.locks[invoiceID]
	if l == nil {
		l = &invoiceLock{}
		o.locks[invoiceID] = l
	}
	l.users++
	o.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		o.mu.Lock()
		if l.users--; l.users == 0 {
			delete(o.locks, invoiceID)
		}
		o.mu.Unlock()
	}
}

// opRequest is one charge, cancel or refund asked through the API.
type opRequest struct {
	InvoiceID string
	Type      string      // invoice.OpRefund, OpCharge or OpCancel
	ID        string      // the operation id (Idempotency-Key)
	Amount    epay.Amount // 0: the whole amount (a refund: all that is left)
}

// operate makes req once and returns the invoice with the operation's record. The same
// operation id again returns the record (ePay is not asked twice). Errors:
// errOpUnknownInvoice, errOpConflict, errOpRefused (nothing sent), errOpUnknownOutcome
// (pending; ask again with the same id), or the bus's errors.
func (o *operator) operate(ctx context.Context, req opRequest) (invoice.Invoice, invoice.Operation, error) {
	defer o.lock(req.InvoiceID)()
	inv, err := o.invoice(req.InvoiceID)
	if err != nil {
		return inv, invoice.Operation{}, err
	}
	if op, ok := inv.FindOperation(req.ID); ok {
		if op.Type != req.Type || req.Amount != 0 && req.Amount != op.Amount && op.State != invoice.OpRefused {
			return inv, op, fmt.Errorf("%w (%s of %s, operation %s)", errOpConflict, op.Type, op.Amount, op.ID)
		}
		if op.State != invoice.OpPending {
			return inv, op, nil
		}
	}
	if p, ok := inv.PendingOperation(); ok {
		if inv, err = o.resolve(ctx, inv, p); err != nil {
			return inv, p, err
		}
		if op, ok := inv.FindOperation(req.ID); ok {
			return inv, op, nil
		}
	}
	if _, why := inv.CheckOperation(req.Type, req.Amount); why != "" {
		return inv, invoice.Operation{}, fmt.Errorf("%w: %s", errOpRefused, why)
	}
	before, err := o.before(ctx, inv, req.Type)
	if err != nil {
		return inv, invoice.Operation{}, err
	}
	step := invoice.OperationStep{ID: req.ID, Type: req.Type, Phase: invoice.PhaseStarted, Amount: req.Amount, At: o.now().UTC(), Before: before}
	inv, op, err := o.record(ctx, req.InvoiceID, step)
	if err != nil || op.State != invoice.OpPending {
		return inv, op, err // refused by the state machine (a race the check above lost)
	}
	// From here ePay may be asked: the call and the record of its answer run to their
	// own bound, whatever happens to the request (a client that goes away, a forwarder's
	// deadline), so that a call is never abandoned half way while ePay goes on with it.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opCallMax+o.applyWait)
	defer cancel()
	return o.send(octx, inv, op)
}

// before reads ePay's status of the payment just before an operation of type typ is
// sent, for two reasons:
//   - an operation ePay's status says cannot be made is refused before anything is
//     sent: a charge or a cancel of a payment not held as AUTH (a one-stage terminal, ePay's
//     default, charges at once: a charge sent for it whose answer was lost would then be
//     read as made from the status, CHARGE), a refund of a payment ePay does not show
//     charged (CHARGE, or REFUND after a partial refund; see notRefunded);
//   - a lost answer is judged against what ePay showed before (resolve): its refunded
//     total counts refunds made in ePay's web cabinet, which the invoice does not.
//
// When the status cannot be read nothing is sent (errOpStatusUnavailable).
func (o *operator) before(ctx context.Context, inv invoice.Invoice, typ string) (invoice.EPayBefore, error) {
	st, err := o.epay.PaymentStatusOn(ctx, inv.Terminal, inv.InvoiceID)
	if st == nil || st.Transaction == nil || st.ResultCode != epayapi.ResultSuccess && st.ResultCode != epayapi.ResultRejected {
		if err == nil && st != nil {
			err = fmt.Errorf("result code %s", st.ResultCode)
		}
		return invoice.EPayBefore{}, fmt.Errorf("%w: invoice %s: %v", errOpStatusUnavailable, inv.InvoiceID, err)
	}
	tx := st.Transaction
	if err := ofInvoice(tx, inv.InvoiceID); err != nil {
		return invoice.EPayBefore{}, fmt.Errorf("%w: invoice %s: %v", errOpStatusUnavailable, inv.InvoiceID, err)
	}
	if tx.ID != "" && tx.ID != inv.TransactionID {
		return invoice.EPayBefore{}, fmt.Errorf("%w: ePay's status shows transaction %s, not the invoice's %s: a human must look at the payments of the invoice", errOpRefused, tx.ID, inv.TransactionID)
	}
	switch {
	case (typ == invoice.OpCharge || typ == invoice.OpCancel) && tx.StatusName != epayapi.StatusAuth:
		return invoice.EPayBefore{}, fmt.Errorf("%w: ePay's status of the payment is %s: a %s is made only of a payment held by a two-step terminal (AUTH)", errOpRefused, tx.StatusName, typ)
	case typ == invoice.OpRefund && !slices.Contains([]string{epayapi.StatusCharge, epayapi.StatusRefund}, tx.StatusName):
		return invoice.EPayBefore{}, fmt.Errorf("%w: ePay's status of the payment is %s: a refund is made only of a charged payment (CHARGE, or REFUND after a partial refund)%s",
			errOpRefused, shownStatus(tx.StatusName), notRefunded[tx.StatusName])
	}
	r, ok := tx.RefundedKnown()
	return invoice.EPayBefore{Status: tx.StatusName, Refunded: r, NoRefunded: !ok}, nil
}

// notRefunded says why a payment ePay shows in a documented status other than CHARGE or
// REFUND is not refunded. A refund is allowed by what ePay's status says was charged,
// never by a list of what was not: a payment declined (REJECT, FAILED) or not finished
// (NEW, 3D) took no money, and a status ePay may add later is not guessed at.
var notRefunded = map[string]string{
	epayapi.StatusAuth:        " (a held one is cancelled, or charged first)",
	epayapi.StatusCancel:      " (a cancelled one was released, not charged)",
	epayapi.StatusCancelOld:   " (a cancelled one was released, not charged)",
	epayapi.StatusReject:      " (a declined one is not charged)",
	epayapi.StatusFailed:      " (a failed one is not charged)",
	epayapi.StatusNew:         " (the payment is not finished)",
	epayapi.Status3D:          " (the payment is not finished)",
	epayapi.StatusVerified:    " (the payment is not finished)",
	epayapi.StatusFingerprint: " (the payment is not finished)",
}

// shownStatus is ePay's status name for a message: quoted, and said to be unknown, when
// it is not one ePay documents (an empty one included).
func shownStatus(name string) string {
	if _, ok := notRefunded[name]; ok || name == epayapi.StatusCharge || name == epayapi.StatusRefund {
		return name
	}
	return fmt.Sprintf("%q, not a status ePay documents", name)
}

// opCallMax bounds one call to ePay's operation API, its token included: an operation
// started opCallMax ago has no call under way any more, on any worker.
const opCallMax = 60 * time.Second

// OperationBudget bounds an operation request as a worker serves it: a pending one
// resolved first, the started step recorded, ePay's call, its answer recorded. A
// forwarding worker waits this long for the owner's answer, and the answer's write
// deadline is extended to it (the server's 15 s would cut it).
const OperationBudget = 2 * time.Minute

// send calls ePay for the pending operation op and records the outcome: ePay's answer,
// or, when it was lost, what the status API shows.
func (o *operator) send(ctx context.Context, inv invoice.Invoice, op invoice.Operation) (invoice.Invoice, invoice.Operation, error) {
	req := epayapi.OperationRequest{Op: op.Type, TransactionID: inv.TransactionID, Terminal: inv.Terminal}
	if op.Type != invoice.OpCancel {
		amt := op.Amount
		req.Amount = &amt
	}
	if op.Type == invoice.OpRefund {
		req.ExternalID = op.ID
	}
	cctx, cancel := context.WithTimeout(ctx, opCallMax)
	err := o.epay.Operate(cctx, req)
	cancel()
	done := invoice.OperationStep{ID: op.ID, Type: op.Type, Phase: invoice.PhaseDone, Amount: op.Amount, At: o.now().UTC()}
	var api *epayapi.APIError
	switch {
	case err == nil:
		done.Outcome = invoice.OpSucceeded
	case errors.Is(err, epayapi.ErrOperationRefused) && errors.As(err, &api) && refusedForSure(api):
		done.Outcome, done.Code, done.Message = invoice.OpFailed, api.Code, api.Message
		if done.Message == "" {
			done.Message = api.Error()
		}
	default:
		o.log.Warn("ePay's answer to an operation is not known; asking its status", "invoiceId", inv.InvoiceID,
			"operation", op.ID, "type", op.Type, "err", err)
		inv, err := o.resolve(ctx, inv, op)
		got, _ := inv.FindOperation(op.ID)
		return inv, got, err
	}
	o.log.Info("operation done", "invoiceId", inv.InvoiceID, "operation", op.ID, "type", op.Type,
		"amount", op.Amount.String(), "outcome", done.Outcome, "code", done.Code)
	return o.record(ctx, inv.InvoiceID, done)
}

// refusedForSure says whether ePay's 4xx answer to an operation means it was not made:
// its token refused (401, 403), and nothing else. ePay documents its operation errors as
// {"code": 100, "message": ""} (100: "system error, check the payment status") and no
// table of operation codes; its reason-code table is about payments, where a code it
// calls final (458 "server is not responding", 461 "system error") says a payment
// attempt failed, not that a refund was not made. Any other answer is read from the
// status API (resolve): taken for "not made", a refund ePay did make would be recorded
// failed, and the merchant, told so, would refund again
// (TestARefundEPayMadeButAnsweredWithAnErrorCodeIsReadFromItsStatus).
func refusedForSure(api *epayapi.APIError) bool {
	return api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden
}

// resolve finds the outcome of the pending operation op from ePay's status API and
// records it: a refund was made when ePay's refunded total covers it on top of what
// ePay had refunded when it was sent (op.EPayBefore; the refunds recorded, for an
// operation started before that was read) and of the invoice's refunds started after
// it, a charge when the transaction is charged (CHARGE or REFUND), a cancel when it is
// cancelled. With no clear answer the
// operation stays pending (errOpUnknownOutcome). It never sends the operation again.
func (o *operator) resolve(ctx context.Context, inv invoice.Invoice, op invoice.Operation) (invoice.Invoice, error) {
	st, err := o.epay.PaymentStatusOn(ctx, inv.Terminal, inv.InvoiceID)
	if st == nil || st.Transaction == nil || st.ResultCode != epayapi.ResultSuccess && st.ResultCode != epayapi.ResultRejected {
		return inv, fmt.Errorf("%w: operation %s (%s): ePay's status: %v", errOpUnknownOutcome, op.ID, op.Type, err)
	}
	tx := st.Transaction
	made := false
	switch op.Type {
	case invoice.OpRefund:
		refunded, known := tx.RefundedKnown()
		if !known {
			// neither payoutAmount nor orgAmount: nothing tells whether it was made
			return inv, fmt.Errorf("%w: operation %s (%s): ePay's status (%s) does not say what was paid back", errOpUnknownOutcome,
				op.ID, op.Type, tx.StatusName)
		}
		base := inv.Refunded
		if b := op.EPayBefore; b.Status != "" && !b.NoRefunded {
			// refunds made in ePay's cabinet included, and the invoice's own refunds
			// started after this one (its start replayed late: from the DLQ, say), which
			// ePay's view before it could not hold
			base = b.Refunded + refundedAfter(inv, op)
		}
		made = refunded >= base+op.Amount
		if !made && tx.StatusName == epayapi.StatusRefund {
			// ePay calls the transaction refunded but its amounts do not show this
			// refund: never recorded as not made (the merchant would refund again)
			return inv, fmt.Errorf("%w: operation %s (%s): ePay's status is REFUND, refunded %s, the invoice %s before it", errOpUnknownOutcome,
				op.ID, op.Type, refunded, base)
		}
	case invoice.OpCharge:
		made = slices.Contains([]string{epayapi.StatusCharge, epayapi.StatusRefund}, tx.StatusName)
	case invoice.OpCancel:
		made = slices.Contains([]string{epayapi.StatusCancel, epayapi.StatusCancelOld}, tx.StatusName)
	}
	if age := o.now().Sub(op.RequestedAt); !made && age < recoverOperationAfter {
		// ePay's status does not show it yet, but a call for it may still be under way
		// (this worker's, timed out on our side; or the one of a worker whose shard this
		// was): ePay could make it in a moment. Recorded not made, the merchant would ask
		// again and be refunded twice. It stays pending until no call can be under way.
		return inv, fmt.Errorf("%w: operation %s (%s): ePay's status does not show it yet, and a call for it may still be under way (started %s ago; not made is concluded after %s)",
			errOpUnknownOutcome, op.ID, op.Type, age.Round(time.Second), recoverOperationAfter)
	}
	done := invoice.OperationStep{ID: op.ID, Type: op.Type, Phase: invoice.PhaseDone, Amount: op.Amount,
		Outcome: invoice.OpSucceeded, Recovered: true, At: o.now().UTC()}
	if !made {
		done.Outcome, done.Code = invoice.OpFailed, "not_made"
		done.Message = fmt.Sprintf("ePay's status shows no %s (transaction %s, refunded %s): it was not made", op.Type, tx.StatusName, tx.Refunded())
	}
	o.log.Warn("operation outcome read from ePay's status", "invoiceId", inv.InvoiceID, "operation", op.ID, "type", op.Type, "outcome", done.Outcome)
	inv, _, err = o.record(ctx, inv.InvoiceID, done)
	return inv, err
}

// refundedAfter is what the invoice's refunds started after op and made (succeeded) came
// to: ePay's total holds them, and op's view of ePay from before it does not.
func refundedAfter(inv invoice.Invoice, op invoice.Operation) epay.Amount {
	var sum epay.Amount
	for _, o := range inv.Operations {
		if o.ID != op.ID && o.Type == invoice.OpRefund && o.State == invoice.OpSucceeded && o.RequestedAt.After(op.RequestedAt) {
			sum += o.Amount
		}
	}
	return sum
}

// recoverPending resolves the invoice's pending operation, if it still has one, from
// ePay's status API (resolve), under the invoice's lock so that it never overlaps an
// operation of this worker; it returns the operation as recorded after it (ID "" when
// none was pending).
func (o *operator) recoverPending(ctx context.Context, invoiceID string) (invoice.Operation, error) {
	defer o.lock(invoiceID)()
	inv, err := o.invoice(invoiceID)
	if err != nil {
		return invoice.Operation{}, err
	}
	p, ok := inv.PendingOperation()
	if !ok {
		return invoice.Operation{}, nil
	}
	if inv, err = o.resolve(ctx, inv, p); err != nil {
		return p, err
	}
	op, _ := inv.FindOperation(p.ID)
	return op, nil
}

// record publishes step and waits until this worker applied it; it returns the invoice
// and the operation after it.
func (o *operator) record(ctx context.Context, invoiceID string, step invoice.OperationStep) (invoice.Invoice, invoice.Operation, error) {
	msg, err := o.msgs.Operation(inbox.OperationBody{InvoiceID: invoiceID, Operation: step}, o.signer, o.now())
	if err != nil {
		return invoice.Invoice{}, invoice.Operation{}, err
	}
	if _, err := o.pub.PublishMsg(ctx, msg); err != nil {
		return invoice.Invoice{}, invoice.Operation{}, fmt.Errorf("publish operation %s %s: %w", step.ID, step.Phase, err)
	}
	id := inbox.OperationMsgID(invoiceID, step.ID, step.Phase)
	ctx, cancel := context.WithTimeout(ctx, o.applyWait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		inv, err := o.invoice(invoiceID)
		if err != nil {
			return inv, invoice.Operation{}, err
		}
		if slices.Contains(inv.Applied, id) {
			op, _ := inv.FindOperation(step.ID)
			return inv, op, nil
		}
		select {
		case <-ctx.Done():
			return inv, invoice.Operation{}, fmt.Errorf("%w: operation %s %s published, not applied yet: %v", errOpUnknownOutcome, step.ID, step.Phase, ctx.Err())
		case <-tick.C:
		}
	}
}

func (o *operator) invoice(id string) (invoice.Invoice, error) {
	inv, _, err := o.store.Get(id)
	if errors.Is(err, bolt.ErrNotFound) {
		return inv, errOpUnknownInvoice
	}
	return inv, err
}
