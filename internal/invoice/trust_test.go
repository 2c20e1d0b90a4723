package invoice

import (
	"strings"
	"testing"
)

// trustCases are the cells of the columns of unverified callbacks (no secret_hash, or a
// wrong one: anyone could have sent them) over every state. Without a way to check them
// (no Confirm) they are history only; with one they only make the worker ask ePay, and
// never send an invoice to failed or review.
func trustCases() map[string]map[string]cell {
	// row: every column leaves the state as it is; pending says a claim waits after it
	// (the invoice's own, kept: an unverified callback never takes a claim's place)
	row := func(state State, pending bool) map[string]cell {
		return map[string]cell{
			"failure unverified":                {state: state, pending: pending},
			"failure unverified confirm":        {state: state, pending: pending},
			"success unverified amount confirm": {state: state, pending: pending},
		}
	}
	return map[string]map[string]cell{
		"unknown":   row(StateUnmatched, false),
		"unmatched": row(StateUnmatched, false),
		// created: an unverified failure with a way to check waits as not final; an
		// unverified success of another amount waits for ePay's answer, not review
		"created": {
			"failure unverified":                {state: StateCreated},
			"failure unverified confirm":        {state: StateCreated, pending: true},
			"success unverified amount confirm": {state: StateCreated, pending: true},
		},
		"paid":                  row(StatePaid, false),
		"failed":                {"failure unverified": {state: StateFailed}, "failure unverified confirm": {state: StateFailed}, "success unverified amount confirm": {state: StateFailed, pending: true}},
		"review":                {"failure unverified": {state: StateReview}, "failure unverified confirm": {state: StateReview}, "success unverified amount confirm": {state: StateReview, pending: true}},
		"confirming":            row(StateCreated, true),
		"not final":             row(StateCreated, true),
		"confirming unverified": row(StateCreated, true),
	}
}

// With confirmation on, a second verified payment is never lost: one seen while the first
// waits is flagged when ePay confirms (paid, then a review event of its own); one after
// paid is flagged when it comes, whatever transaction ePay's answer named; each once.
func TestDoublePaymentsAreFlaggedWithConfirmationOn(t *testing.T) {
	claim := func(tx string) Message {
		return callback(MsgSuccess, tx, func(p *Payment) { p.Confirm = true })
	}
	paidBy := func(tx string) Message {
		return withStatus(status("100", "CHARGE", 10000), func(s *Status) { s.TransactionID = tx })
	}
	t.Run("second payment while the first waits", func(t *testing.T) {
		cur := mustApply(t, nil, created(), claim("tx-1"), claim("tx-2"))
		if cur.State != StateCreated || cur.ConfirmClaim.TransactionID != "tx-1" || len(cur.OtherTransactions) != 1 {
			t.Fatalf("before the answer: %+v", cur)
		}
		got, events, err := Apply(cur, paidBy("tx-2"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Type != EventPaid || events[1].Type != EventReview || events[0].ID == events[1].ID {
			t.Fatalf("events %+v, want paid then review with their own ids", events)
		}
		if got.State != StatePaid || !got.DoublePayment || got.TransactionID != "tx-1" ||
			!strings.Contains(got.ReviewReason, "double payment: transactions tx-2 besides tx-1") {
			t.Fatalf("invoice %+v", got)
		}
		again, events, _ := Apply(&got, callback(MsgSuccess, "tx-2", func(p *Payment) { p.CardMask = "resent" }), t0)
		if len(events) != 0 || again.State != StatePaid {
			t.Fatalf("the flagged payment's callback again: events %+v", events)
		}
	})
	t.Run("ePay names another payment than the one waiting: flagged then, whether its callback comes or not", func(t *testing.T) {
		cur := mustApply(t, nil, created(), claim("tx-1"))
		got, events, err := Apply(cur, paidBy("tx-2"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Type != EventPaid || events[1].Type != EventReview {
			t.Fatalf("events %+v, want paid then review", events)
		}
		if got.State != StatePaid || got.TransactionID != "tx-1" || !got.DoublePayment ||
			!strings.Contains(got.ReviewReason, "double payment: transactions tx-2 besides tx-1") {
			t.Fatalf("after the answer: %+v", got)
		}
		again, events, err := Apply(&got, claim("tx-2"), t0)
		if err != nil || len(events) != 0 || again.State != StatePaid {
			t.Fatalf("the second payment's callback after it was flagged: %+v %+v %v", again, events, err)
		}
	})
	t.Run("one payment confirmed is no double payment", func(t *testing.T) {
		resent := callback(MsgSuccess, "tx-1", func(p *Payment) { p.Confirm, p.CardMask = true, "resent" })
		cur := mustApply(t, nil, created(), claim("tx-1"), paidBy("tx-1"), resent)
		if cur.State != StatePaid || cur.DoublePayment || len(cur.OtherTransactions) != 0 {
			t.Fatalf("%+v", cur)
		}
	})
}

// An unverified failure asked about (it waits as not final) is anyone's claim: when ePay
// never gives a final answer, the claim is only dropped. It never sends the invoice to
// review: under accept-unverified anyone could otherwise do that to every invoice id.
func TestAnUnverifiedFailureNeverSendsTheInvoiceToReview(t *testing.T) {
	unverified := callback(MsgFailure, "tx-anyone", func(p *Payment) { p.Verified, p.Confirm, p.ReasonCode = false, true, -498 })
	cur := mustApply(t, nil, created(), unverified)
	if cur.State != StateCreated || cur.Confirmation != ConfirmationNotFinal {
		t.Fatalf("after the unverified failure: state %s confirmation %q, want created, asked about", cur.State, cur.Confirmation)
	}
	for name, answer := range map[string]Message{
		"not found": withStatus(status("102", "", 0), func(s *Status) { s.GiveUp = true }),
		"not final": withStatus(status("100", "NEW", 10000), func(s *Status) { s.GiveUp = true }),
		"cancelled": status("100", "CANCEL", 10000),
	} {
		got, events, err := Apply(cur, answer, t0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.State != StateCreated || len(events) != 0 || got.ConfirmClaim != nil || got.ReviewReason != "" {
			t.Errorf("%s at the bound: state %s events %+v claim %v review %q; want created, no event, the claim dropped",
				name, got.State, events, got.ConfirmClaim, got.ReviewReason)
		}
	}
	// ePay's own answer still decides
	if got, events, _ := Apply(cur, status("101", "REJECT", 10000), t0); got.State != StateFailed || len(events) != 1 {
		t.Errorf("declined by ePay: state %s events %+v, want failed", got.State, events)
	}
}
