package invoice

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MsgResolve is the kind of a resolution: an operator's decision on an invoice that
// needs a human (review or unmatched), made through the worker's
// POST /v1/invoices/{invoiceId}/resolve and published to the inbox, signed with the
// workers' key, so that it is applied in order, once, like any other message.
const MsgResolve MessageKind = "resolve"

// Decision is what an operator decided an invoice is.
type Decision string

// Decisions.
const (
	DecisionPaid   Decision = "paid"
	DecisionFailed Decision = "failed"
)

// Bounds of a resolution's texts, in characters.
const (
	MaxResolutionBy     = 200
	MaxResolutionReason = 1000
)

// Resolution is an operator's decision on an invoice in review or unmatched.
type Resolution struct {
	// Number is the invoice's resolutions before this one + 1, as the operator saw
	// the invoice: part of the message id, so the same decision asked twice is one
	// message, and a decision made on an earlier look at the invoice (one another
	// resolution has answered since) changes nothing.
	Number   int      `json:"number"`
	Decision Decision `json:"decision"`
	// By is who decided, as the operator says (a name, an email); Reason is why.
	By     string `json:"by"`
	Reason string `json:"reason"`
	// Operator is the name of the operator key that authorised it (WORKER_READ_KEYS).
	Operator string    `json:"operator"`
	At       time.Time `json:"at"` // when it was asked
}

// ResolveMessage makes the message of a resolution.
func ResolveMessage(id, invoiceID string, r Resolution, receivedAt time.Time) Message {
	return Message{ID: id, Kind: MsgResolve, InvoiceID: invoiceID, ReceivedAt: receivedAt, Resolution: &r}
}

// Resolvable says whether an invoice in state s waits for a human's decision.
func Resolvable(s State) bool { return s == StateReview || s == StateUnmatched }

// Validate says why r can never be applied; the error wraps ErrInvalid.
func (r *Resolution) Validate() error {
	switch {
	case r.Decision != DecisionPaid && r.Decision != DecisionFailed:
		return fmt.Errorf("%w: decision %q: want paid or failed", ErrInvalid, r.Decision)
	case r.Number < 1:
		return fmt.Errorf("%w: resolution number %d", ErrInvalid, r.Number)
	case r.Operator == "":
		return fmt.Errorf("%w: resolution without its operator", ErrInvalid)
	}
	if err := checkText("by", r.By, MaxResolutionBy); err != nil {
		return err
	}
	return checkText("reason", r.Reason, MaxResolutionReason)
}

// checkText takes 1 to maxLen characters of valid UTF-8, not only spaces, without
// control or format characters (a resolution ends up in logs, events and dashboards).
func checkText(field, s string, maxLen int) error {
	n := utf8.RuneCountInString(s)
	switch {
	case strings.TrimSpace(s) == "" || n > maxLen:
		return fmt.Errorf("%w: %s must be 1 to %d characters (has %d)", ErrInvalid, field, maxLen, n)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	case strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
	}):
		return fmt.Errorf("%w: %s must not contain control, format or line-separator characters", ErrInvalid, field)
	}
	return nil
}

// applyResolve applies a resolution (already deduplicated) to a known invoice:
//
//	review or unmatched, a newer resolution  -> paid (+paid) or failed (+failed)
//	anything else                            -> history only
//
// "Anything else" is an invoice decided meanwhile (by ePay, or by another resolution,
// which is how two operators deciding at once differently end: the first applied wins)
// and a resolution made on an earlier look at the invoice. The event is the decision's
// own type (a merchant's consumer already acts on paid and failed) with the
// resolution; it carries no callback. An unmatched invoice takes the payment (and the
// amount, currency and terminal) of a kept callback (pendingFor: verified ones first,
// the last that agrees with the decision) and drops the rest; an invoice.created arriving after is history
// only.
func applyResolve(inv Invoice, msg Message, now time.Time) (Invoice, []Event) {
	inv.touch(now)
	r := *msg.Resolution
	if !Resolvable(inv.State) || inv.Resolution != nil && r.Number <= inv.Resolution.Number {
		return inv, nil
	}
	inv.Resolution = &r
	inv.clearClaim()
	p := &Payment{}
	if inv.State == StateUnmatched {
		p = pendingFor(inv.Pending, r.Decision)
		inv.Pending = nil
		inv.setPayment(p)
		// no invoice.created came: what is known of the money is what the callback says
		inv.Amount, inv.Currency, inv.Terminal = p.Amount, normCurrency(p.Currency), strings.TrimSpace(p.Terminal)
	}
	t := EventFailed
	inv.State = StateFailed
	if r.Decision == DecisionPaid {
		t, inv.State, inv.PaidAt = EventPaid, StatePaid, now
		// the payment the human accepted is the invoice's, not another one
		inv.OtherTransactions = slices.DeleteFunc(inv.OtherTransactions, func(tx string) bool { return tx == inv.TransactionID })
	}
	ev := inv.event(t, "", &Payment{}, now)
	ev.Resolution = inv.Resolution
	return inv, []Event{ev}
}

// pendingFor is the kept callback that gives an unmatched invoice its payment: the last
// verified one of the decision's kind, else the last verified one, and only when no
// kept callback is verified, the last unverified one of that kind, else the last one.
// An unverified callback is anyone's claim (kept under accept-unverified): one posted
// after the real callback must not give the invoice its amount, currency or transaction.
func pendingFor(pending []Message, d Decision) *Payment {
	want := MsgFailure
	if d == DecisionPaid {
		want = MsgSuccess
	}
	// best[verified][agreeing]: the last callback of each kind
	var best [2][2]*Payment
	for _, m := range pending {
		if m.Payment == nil {
			continue
		}
		v, a := 0, 0
		if m.Payment.Verified {
			v = 1
		}
		if m.Kind == want {
			a = 1
		}
		best[v][a] = m.Payment
	}
	for _, p := range []*Payment{best[1][1], best[1][0], best[0][1], best[0][0]} {
		if p != nil {
			return p
		}
	}
	return &Payment{}
}
