package invoice

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// Apply is the state machine: it returns the invoice after msg and the events the change
// publishes. cur is nil for an invoice never seen. now stamps UpdatedAt and the events.
//
// Rules (docs/DESIGN.md): invoice.created makes an invoice created, or resolves an unmatched
// one by re-applying its stored callbacks in order; a verified success that matches
// amount, currency and terminal makes created, failed or review paid; a verified success
// that does not match makes created or failed review; a verified, final failure makes
// created failed; an unverified callback never moves an invoice by itself (with Confirm
// it makes the worker ask ePay); a paid invoice never leaves paid (a second verified success with
// another transaction id flags a double payment and raises a review event); everything
// else is kept in history only. A callback for an unknown invoice makes it unmatched,
// with no event.
//
// Errors: ErrDuplicate when msg.ID was applied before (cur is returned unchanged),
// ErrInvalid when msg can never be applied.
func Apply(cur *Invoice, msg Message, now time.Time) (Invoice, []Event, error) {
	if err := msg.Validate(); err != nil {
		return Invoice{}, nil, err
	}
	if cur == nil && (msg.Kind == MsgStatus || msg.Kind == MsgResolve || msg.Kind == MsgOperation) {
		return Invoice{}, nil, fmt.Errorf("%w: %s for invoice %s, which is not known", ErrInvalid, msg.Kind, msg.InvoiceID)
	}
	if cur == nil {
		cur = &Invoice{InvoiceID: msg.InvoiceID, State: StateUnmatched}
	}
	if cur.InvoiceID != msg.InvoiceID {
		return Invoice{}, nil, fmt.Errorf("%w: message for invoice %s applied to %s", ErrInvalid, msg.InvoiceID, cur.InvoiceID)
	}
	if slices.Contains(cur.Applied, msg.ID) {
		return *cur, nil, ErrDuplicate
	}
	inv := cur.clone()
	inv.Applied = append(inv.Applied, msg.ID)
	switch msg.Kind {
	case MsgCreated:
		return applyCreated(inv, msg, now)
	case MsgStatus:
		inv, ev := applyStatus(inv, msg, now)
		return inv, ev, nil
	case MsgResolve:
		inv, ev := applyResolve(inv, msg, now)
		return inv, ev, nil
	case MsgOperation:
		inv, ev := applyOperation(inv, msg, now)
		return inv, ev, nil
	}
	inv, ev := applyPayment(inv, msg, now)
	if len(cur.Applied) >= callbackLimit(msg.Payment) && len(ev) == 0 && inv.State == cur.State &&
		inv.Confirmation == cur.Confirmation && inv.TransactionID == cur.TransactionID {
		// past the bound only a callback that moves the invoice is taken (the state machine
		// moves one way: a few at most); one for its history alone is refused
		return Invoice{}, nil, fmt.Errorf("%w: invoice %s has taken %d messages: a callback more (verified: %t) that changes nothing but its history is refused",
			ErrOverLimit, msg.InvoiceID, len(cur.Applied), msg.Payment.Verified)
	}
	return inv, ev, nil
}

// MaxMessagesForUnverified bounds the messages an invoice may have taken before it takes
// an unverified callback: anyone may send one (under accept-unverified, or a service that
// publishes to the inbox), each with a new id, and each grows the invoice's record of
// applied ids, which goes whole into its changelog record (NATS refuses a message past
// its max payload: the invoice would take nothing more, its real callback included). An
// invoice's own messages (created, a few callbacks, status answers, operations) stay far
// below it, and a verified callback is bound by MaxMessagesForCallbacks only.
const MaxMessagesForUnverified = 256

// MaxMessagesForCallbacks bounds the messages an invoice may have taken before it takes a
// verified callback. A verified callback needs no more than the invoice's secret_hash,
// which its buyer can learn: with a new transaction id each, some 2,300 of them grew the
// changelog record past NATS's message size, and the shard then stopped at that invoice
// for good. At this bound, with the longest ids the ingest takes (64-character
// transaction ids, 32-character codes), its ids are about a quarter of it, which leaves
// room for the events the record carries (a callback body is at most 64 KiB). Past it a
// callback is still taken when it moves the invoice (its state, its claim, its
// transaction, or an event: ePay's real success for an invoice a flood's failure made
// failed), and refused when it would only add to its history. A real invoice takes a few
// callbacks.
const MaxMessagesForCallbacks = 512

// callbackLimit is how many messages an invoice may have taken before it takes p.
func callbackLimit(p *Payment) int {
	if p.Verified {
		return MaxMessagesForCallbacks
	}
	return MaxMessagesForUnverified
}

func (inv Invoice) clone() Invoice {
	inv.Applied = slices.Clone(inv.Applied)
	inv.Pending = slices.Clone(inv.Pending)
	inv.Operations = slices.Clone(inv.Operations)
	return inv
}

// applyCreated handles invoice.created: a second one changes nothing but history; an
// unmatched invoice is resolved by folding its pending callbacks in order.
func applyCreated(inv Invoice, msg Message, now time.Time) (Invoice, []Event, error) {
	if inv.State != StateUnmatched {
		inv.touch(now)
		return inv, nil, nil
	}
	c := msg.Created
	pending := inv.Pending
	inv.Pending = nil
	inv.State = StateCreated
	inv.Kind, inv.Amount, inv.Currency, inv.Terminal = c.Kind, c.Amount, normCurrency(c.Currency), c.Terminal
	inv.Description, inv.AccountID, inv.CreatedAt = c.Description, c.AccountID, c.CreatedAt
	inv.OrderID, inv.Metadata = c.OrderID, maps.Clone(c.Metadata)
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = msg.ReceivedAt
	}
	inv.touch(now)
	var events []Event
	for _, p := range pending {
		var ev []Event
		inv, ev = applyPayment(inv, p, now)
		events = append(events, ev...)
	}
	return inv, events, nil
}

// applyPayment applies one callback (already deduplicated).
func applyPayment(inv Invoice, msg Message, now time.Time) (Invoice, []Event) {
	inv.touch(now)
	p := msg.Payment
	switch {
	case inv.State == StateUnmatched:
		inv.Pending = append(inv.Pending, msg)
		return inv, nil
	case !p.Verified && !p.Confirm:
		// nobody can check an unverified callback here: it never moves an invoice by
		// itself (anyone could have sent it); history keeps it
		return inv, nil
	case !p.Verified && msg.Kind == MsgSuccess:
		// an unverified success only makes the worker ask ePay; ePay's answer alone
		// decides, whatever the callback says of the amount
		if inv.State != StatePaid && inv.ConfirmClaim == nil {
			inv.Confirmation, inv.ConfirmClaim, inv.ConfirmSince = ConfirmationPending, p, msg.waitFrom()
		}
		return inv, nil
	case msg.Kind == MsgFailure:
		if inv.State != StateCreated {
			return inv, nil // a late or repeated failure is history only
		}
		if inv.Confirmation == ConfirmationPending && inv.ConfirmClaim != nil && inv.ConfirmClaim.Verified {
			// a verified success waits for ePay's answer, which decides: a failure (of
			// another attempt, come late) is history only, not a failed event the
			// merchant would cancel the order on before the paid one
			return inv, nil
		}
		if p.Confirm || epay.ReasonFinality(p.ReasonCode) == epay.NotFinal {
			// ePay calls the outcome not final (or the worker must check it): the
			// invoice stays open and the status API decides.
			if inv.ConfirmClaim == nil {
				inv.Confirmation, inv.ConfirmClaim, inv.ConfirmSince = ConfirmationNotFinal, p, msg.waitFrom()
			}
			return inv, nil
		}
		inv.State = StateFailed
		inv.setPayment(p)
		return inv, []Event{inv.event(EventFailed, "", p, now)}
	}
	problem := mismatch(inv, p)
	switch {
	case inv.State != StatePaid && p.Confirm && problem == "":
		// The status API answers for the invoice: one success claim is enough; it takes
		// the place of a failure waiting for a final answer, and a verified one takes the
		// place of an unverified one.
		c := inv.ConfirmClaim
		switch {
		case c == nil || inv.Confirmation == ConfirmationNotFinal || !c.Verified:
			inv.Confirmation, inv.ConfirmClaim, inv.ConfirmSince = ConfirmationPending, p, msg.waitFrom()
		case p.TransactionID != c.TransactionID:
			// a second verified payment while the first waits: counted when ePay
			// confirms, never lost
			inv.noteTransaction(p.TransactionID)
		}
		return inv, nil
	case inv.State == StatePaid:
		if !p.Verified || p.TransactionID == inv.TransactionID || slices.Contains(inv.OtherTransactions, p.TransactionID) {
			return inv, nil // the same payment again, or one already flagged
		}
		if len(inv.OtherTransactions) >= maxOtherTransactions {
			// flagged that many times already: a human is on it, and more reviews would only
			// be what a flood of callbacks made with the invoice's secret_hash raises
			return inv, nil
		}
		inv.noteTransaction(p.TransactionID)
		inv.DoublePayment = true
		inv.ReviewReason = "double payment: transaction " + p.TransactionID + " after " + inv.TransactionID
		if problem != "" {
			inv.ReviewReason += " (" + problem + ")"
		}
		inv.ReviewReason += ": look " + p.TransactionID + " up in ePay's cabinet before any refund (a second payment, or a callback made with a leaked secret_hash)"
		return inv, []Event{inv.event(EventReview, inv.ReviewReason, p, now)}
	case problem == "":
		inv.State = StatePaid
		inv.clearClaim()
		inv.setPayment(p)
		inv.PaidAt = paidAt(p, now)
		// a payment ePay's status showed of another amount (the invoice went to review) took
		// money too: with this one it is a double payment, raised after the paid event. (A
		// callback of another amount is not counted so: secret_hash does not bind the amount,
		// and anyone who knows it could make a verified one.)
		inv.OtherTransactions = slices.DeleteFunc(inv.OtherTransactions, func(tx string) bool { return tx == inv.TransactionID })
		return inv, append([]Event{inv.event(EventPaid, "", p, now)}, inv.doublePayment(p, now, "")...)
	case inv.State == StateReview:
		return inv, nil // still for a human; history keeps the callback
	default: // created or failed
		inv.State = StateReview
		inv.clearClaim() // a human decides now
		inv.setPayment(p)
		inv.ReviewReason = problem
		return inv, []Event{inv.event(EventReview, problem, p, now)}
	}
}

// mismatch says how a payment differs from the invoice in amount, currency and terminal.
func mismatch(inv Invoice, p *Payment) string {
	var d []string
	switch {
	case p.Amount != inv.Amount && p.Bonus > 0 && p.Amount+p.Bonus == inv.Amount:
		// Part paid with Halyk's bonuses: the card's part is amount. Whether ePay pays
		// the merchant the whole sum, only ePay can say: a human asks, then resolves.
		d = append(d, "amount "+p.Amount.String()+" + bonuses "+p.Bonus.String()+" = invoice "+inv.Amount.String()+
			" (paid partly with Halyk bonuses: ask ePay what the merchant is paid, then resolve)")
	case p.Amount != inv.Amount:
		d = append(d, "amount "+p.Amount.String()+" != invoice "+inv.Amount.String())
	}
	if normCurrency(p.Currency) != inv.Currency {
		d = append(d, "currency "+strconv.Quote(p.Currency)+" != invoice "+inv.Currency)
	}
	if !strings.EqualFold(strings.TrimSpace(p.Terminal), inv.Terminal) {
		d = append(d, "terminal "+strconv.Quote(p.Terminal)+" != invoice "+inv.Terminal)
	}
	if p.AccountID != "" && inv.AccountID != "" && p.AccountID != inv.AccountID {
		// The token binds neither accountId nor cardSave: a shopper who edits the payment
		// object's accountId pays (and may save a card) as another customer of the shop.
		d = append(d, "accountId "+strconv.Quote(p.AccountID)+" != invoice "+strconv.Quote(inv.AccountID))
	}
	if len(d) == 0 {
		return ""
	}
	return "mismatch: " + strings.Join(d, ", ")
}

// maxOtherTransactions bounds Invoice.OtherTransactions.
const maxOtherTransactions = 16

// noteTransaction records another verified transaction of the invoice.
func (inv *Invoice) noteTransaction(tx string) {
	// inv.TransactionID is the paid one only once paid: before, it may be a failed
	// attempt's, and a success of that transaction is money taken too
	paidWith := inv.State == StatePaid && tx == inv.TransactionID
	if tx != "" && !paidWith && !slices.Contains(inv.OtherTransactions, tx) && len(inv.OtherTransactions) < maxOtherTransactions {
		inv.OtherTransactions = append(inv.OtherTransactions, tx)
	}
}

// doublePayment is the review raised, after the paid event of the same message, when
// the invoice was paid and other verified transactions of it are known: money was
// taken more than once. Its event gets a version of its own.
func (inv *Invoice) doublePayment(p *Payment, now time.Time, note string) []Event {
	if len(inv.OtherTransactions) == 0 {
		return nil
	}
	inv.Version++
	inv.DoublePayment = true
	inv.ReviewReason = "double payment: transactions " + strings.Join(inv.OtherTransactions, ", ") + " besides " + inv.TransactionID
	if note != "" {
		inv.ReviewReason += " (" + note + ")"
	}
	return []Event{inv.event(EventReview, inv.ReviewReason, p, now)}
}

func (inv *Invoice) clearClaim() {
	inv.Confirmation, inv.ConfirmClaim, inv.ConfirmSince = "", nil, time.Time{}
}

func (inv *Invoice) setPayment(p *Payment) {
	inv.TransactionID, inv.CardMask = p.TransactionID, p.CardMask
	inv.ReasonCode, inv.Reason = p.ReasonCode, p.Reason
}

func (inv *Invoice) touch(now time.Time) {
	inv.Version++
	inv.UpdatedAt = now
}

func (inv Invoice) event(t EventType, reason string, p *Payment, now time.Time) Event {
	snap := inv
	snap.Applied, snap.Pending, snap.ConfirmClaim = nil, nil, nil
	return Event{
		ID: inv.InvoiceID + "-" + strconv.FormatInt(inv.Version, 10), Type: t, InvoiceID: inv.InvoiceID,
		Time: now, Reason: reason, Invoice: snap, Callback: p.Raw,
	}
}

// paidAt is ePay's dateTime when it parses, else now.
func paidAt(p *Payment, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, p.DateTime); err == nil {
		return t
	}
	return now
}

func normCurrency(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
