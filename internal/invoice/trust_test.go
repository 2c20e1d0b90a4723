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
// waits is flagged when ePay confirms (paid with the transaction ePay's answer names, then a
// review event of its own for the other); one after paid is flagged when it comes; each once.
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
		// paid with the transaction ePay names; the claim's, which ePay did not name, is the one flagged
		if got.State != StatePaid || !got.DoublePayment || got.TransactionID != "tx-2" ||
			!strings.Contains(got.ReviewReason, "double payment: transactions tx-1 besides tx-2") {
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
		if got.State != StatePaid || got.TransactionID != "tx-2" || !got.DoublePayment ||
			!strings.Contains(got.ReviewReason, "double payment: transactions tx-1 besides tx-2") {
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

// A verified callback proves only that its sender knew the invoice's secret_hash, which
// ePay posts to whatever postLink the payment object names (a P2P transfer's object is
// in the shopper's browser). A shopper who learned it so and sent a success of their own
// before paying for real does not become the invoice's payment when ePay confirms the
// real one: the invoice is paid with ePay's transaction and answer, the paid event
// carries none of the forged callback's fields, and the forged transaction is the one a
// human is told to look up, before any refund. (Before: paid with FORGED-TX, the event
// carrying the shopper's callback, and the real payment flagged as the double one.)
func TestAForgedClaimDoesNotBecomeThePaymentEPayConfirms(t *testing.T) {
	forged := callback(MsgSuccess, "FORGED-TX", func(p *Payment) {
		p.Confirm, p.CardMask, p.Raw = true, "999999...9999", []byte(`{"id":"FORGED-TX","email":"attacker@example.com"}`)
	})
	real := callback(MsgSuccess, "REAL-TX", func(p *Payment) { p.Confirm = true })
	confirmed := withStatus(status("100", "CHARGE", 10000), func(s *Status) {
		s.TransactionID, s.CardMask, s.Raw = "REAL-TX", "440043...2222", []byte(`{"resultCode":"100","transaction":{"id":"REAL-TX"}}`)
	})
	cur := mustApply(t, nil, created(), forged, real)
	got, events, err := Apply(cur, confirmed, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StatePaid || got.TransactionID != "REAL-TX" || got.CardMask != "440043...2222" ||
		len(got.OtherTransactions) != 1 || got.OtherTransactions[0] != "FORGED-TX" {
		t.Fatalf("invoice: state %s, transaction %s, card %s, others %v; want paid with REAL-TX and its card, FORGED-TX the other",
			got.State, got.TransactionID, got.CardMask, got.OtherTransactions)
	}
	if len(events) != 2 || events[0].Type != EventPaid || events[1].Type != EventReview {
		t.Fatalf("events %+v, want paid then review", events)
	}
	if strings.Contains(string(events[0].Callback), "attacker") || events[0].Invoice.TransactionID != "REAL-TX" {
		t.Errorf("the paid event carries %s (transaction %s), want ePay's answer for REAL-TX", events[0].Callback, events[0].Invoice.TransactionID)
	}
	if !strings.Contains(events[1].Reason, "look FORGED-TX up in ePay's cabinet before any refund") {
		t.Errorf("review reason %q, want it to name FORGED-TX as the transaction to look up", events[1].Reason)
	}
	// the real payment's callback again, after paid: the same payment, nothing new
	if _, events, _ := Apply(&got, real, t0); len(events) != 0 {
		t.Errorf("the real payment's callback after paid: %+v, want nothing", events)
	}
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
