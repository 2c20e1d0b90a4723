package invoice

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resolve is an operator's decision on the test invoice, numbered n.
func resolve(n int, d Decision) Message {
	r := Resolution{Number: n, Decision: d, By: "alice@shop.kz", Reason: "checked with the bank", Operator: "ops", At: t0}
	return ResolveMessage("rs:"+testInvoice+":"+strconv.Itoa(n)+":"+string(d), testInvoice, r, t0)
}

// An operator decides invoices that wait for a human, and nothing else: every other
// state keeps the resolution in history only, without an event.
func TestResolveDecidesOnlyReviewAndUnmatched(t *testing.T) {
	type want struct {
		state State
		event EventType // "" for none
	}
	tests := map[string]map[Decision]want{
		"review":     {DecisionPaid: {StatePaid, EventPaid}, DecisionFailed: {StateFailed, EventFailed}},
		"unmatched":  {DecisionPaid: {StatePaid, EventPaid}, DecisionFailed: {StateFailed, EventFailed}},
		"created":    {DecisionPaid: {StateCreated, ""}, DecisionFailed: {StateCreated, ""}},
		"confirming": {DecisionPaid: {StateCreated, ""}, DecisionFailed: {StateCreated, ""}},
		"paid":       {DecisionPaid: {StatePaid, ""}, DecisionFailed: {StatePaid, ""}},
		"failed":     {DecisionPaid: {StateFailed, ""}, DecisionFailed: {StateFailed, ""}},
	}
	for stateName, row := range tests {
		for d, w := range row {
			t.Run(stateName+"/"+string(d), func(t *testing.T) {
				cur, _ := base(t, stateName)
				now := t0.Add(time.Hour)
				got, events, err := Apply(cur, resolve(1, d), now)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != w.state {
					t.Errorf("state %s, want %s", got.State, w.state)
				}
				if got.Version != cur.Version+1 || got.Applied[len(got.Applied)-1] != resolve(1, d).ID {
					t.Errorf("version %d -> %d, applied %v: want the resolution kept like any message", cur.Version, got.Version, got.Applied)
				}
				if w.event == "" {
					if len(events) != 0 || got.Resolution != nil {
						t.Errorf("events %+v, resolution %+v: want history only", events, got.Resolution)
					}
					return
				}
				if len(events) != 1 || events[0].Type != w.event || events[0].Resolution == nil || *events[0].Resolution != *resolve(1, d).Resolution {
					t.Fatalf("events %+v, want one %s carrying the resolution", events, w.event)
				}
				ev := events[0]
				if ev.ID != testInvoice+"-"+strconv.FormatInt(got.Version, 10) || ev.Callback != nil || ev.Invoice.Resolution == nil ||
					ev.Invoice.State != w.state || got.Confirmation != "" || len(got.Pending) != 0 {
					t.Errorf("event %+v, invoice %+v", ev, got)
				}
				if w.state == StatePaid && !got.PaidAt.Equal(now) {
					t.Errorf("paidAt %s, want the decision's %s", got.PaidAt, now)
				}
			})
		}
	}
}

// The same decision twice is one message; a second decision on the same look at the
// invoice (two operators at once) changes nothing once the first is applied.
func TestResolveIsIdempotentAndTheFirstDecisionWins(t *testing.T) {
	cur, _ := base(t, "review")
	paid := mustApply(t, cur, resolve(1, DecisionPaid))
	if _, events, err := Apply(paid, resolve(1, DecisionPaid), t0); !errors.Is(err, ErrDuplicate) || events != nil {
		t.Fatalf("the same resolution again: %v, %v; want a duplicate", err, events)
	}
	got, events, err := Apply(paid, resolve(1, DecisionFailed), t0)
	if err != nil || len(events) != 0 || got.State != StatePaid || got.Resolution.Decision != DecisionPaid {
		t.Fatalf("a second decision: %v, %v, %s %+v; want history only", err, events, got.State, got.Resolution)
	}
	// failed by an operator, then in review again (a retry paid the wrong amount): a
	// decision on the new look applies, one made on the old look does not
	failed := mustApply(t, cur, resolve(1, DecisionFailed), callback(MsgSuccess, "tx-again", func(p *Payment) { p.Amount = 1 }))
	if failed.State != StateReview || failed.Resolution.Number != 1 {
		t.Fatalf("setup: %s %+v", failed.State, failed.Resolution)
	}
	if got, events, _ := Apply(failed, resolve(1, DecisionPaid), t0); got.State != StateReview || len(events) != 0 {
		t.Errorf("a decision on an earlier look: %s, %v; want history only", got.State, events)
	}
	if got, events, _ := Apply(failed, resolve(2, DecisionPaid), t0); got.State != StatePaid || len(events) != 1 || got.Resolution.Number != 2 {
		t.Errorf("a decision on the new look: %s, %v, %+v; want paid", got.State, events, got.Resolution)
	}
}

// An unmatched invoice decided takes the payment of its kept callback that agrees with
// the decision; a late invoice.created does not undo the decision.
func TestResolvedUnmatchedTakesTheAgreeingCallback(t *testing.T) {
	fail, ok, fail2 := callback(MsgFailure, "tx-f", nil), callback(MsgSuccess, "tx-ok", nil), callback(MsgFailure, "tx-f2", nil)
	cur := mustApply(t, nil, fail, ok, fail2)
	paid := mustApply(t, cur, resolve(1, DecisionPaid))
	if paid.State != StatePaid || paid.TransactionID != "tx-ok" || paid.CardMask == "" || len(paid.Pending) != 0 ||
		paid.Amount != 10000 || paid.Currency != "KZT" || paid.Terminal != testTerminal {
		t.Errorf("resolved paid: %+v", paid)
	}
	failed := mustApply(t, cur, resolve(1, DecisionFailed))
	if failed.State != StateFailed || failed.TransactionID != "tx-f2" || failed.ReasonCode != 484 {
		t.Errorf("resolved failed: %s tx %q reason %d", failed.State, failed.TransactionID, failed.ReasonCode)
	}
	after, events, err := Apply(paid, created(), t0)
	if err != nil || after.State != StatePaid || len(events) != 0 {
		t.Errorf("invoice.created after the decision: %s, %v, %v", after.State, events, err)
	}
	// no callback agrees with the decision: the last one gives the payment
	onlyFailures := mustApply(t, nil, fail, fail2)
	paidAnyway := mustApply(t, onlyFailures, resolve(1, DecisionPaid))
	if paidAnyway.State != StatePaid || paidAnyway.TransactionID != "tx-f2" || paidAnyway.Amount != 10000 || paidAnyway.Terminal != testTerminal {
		t.Errorf("resolved paid with failures only: %s tx %q amount %d terminal %q, want the last callback's",
			paidAnyway.State, paidAnyway.TransactionID, paidAnyway.Amount, paidAnyway.Terminal)
	}
	// an unverified callback kept after the verified one (anyone may post one, under
	// accept-unverified) does not give the payment while a verified one is there
	forged := callback(MsgSuccess, "tx-forged", func(p *Payment) { p.Verified, p.Amount, p.Currency = false, 100000000, "USD" })
	withForged := mustApply(t, nil, ok, forged)
	if len(withForged.Pending) != 2 {
		t.Fatalf("pending %d callbacks, want the verified and the forged", len(withForged.Pending))
	}
	for _, d := range []Decision{DecisionPaid, DecisionFailed} {
		got := mustApply(t, withForged, resolve(1, d))
		if got.TransactionID != "tx-ok" || got.Amount != 10000 || got.Currency != "KZT" {
			t.Errorf("resolved %s with a forged callback last: tx %q %s %s, want the verified tx-ok's 100 KZT", d, got.TransactionID, got.Amount, got.Currency)
		}
	}
	// with only unverified callbacks, they are all there is
	onlyForged := mustApply(t, nil, forged)
	if got := mustApply(t, onlyForged, resolve(1, DecisionPaid)); got.TransactionID != "tx-forged" {
		t.Errorf("resolved with only an unverified callback: tx %q, want it", got.TransactionID)
	}
}

func TestResolutionsAreValidated(t *testing.T) {
	cur, _ := base(t, "review")
	if _, _, err := Apply(nil, resolve(1, DecisionPaid), t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("resolution of an unknown invoice: %v, want ErrInvalid", err)
	}
	for name, edit := range map[string]func(*Resolution){
		"no decision":           func(r *Resolution) { r.Decision = "" },
		"decision review":       func(r *Resolution) { r.Decision = "review" },
		"number 0":              func(r *Resolution) { r.Number = 0 },
		"no operator":           func(r *Resolution) { r.Operator = "" },
		"no by":                 func(r *Resolution) { r.By = "" },
		"blank reason":          func(r *Resolution) { r.Reason = "  " },
		"long by":               func(r *Resolution) { r.By = strings.Repeat("a", MaxResolutionBy+1) },
		"long reason":           func(r *Resolution) { r.Reason = strings.Repeat("я", MaxResolutionReason+1) },
		"newline in the reason": func(r *Resolution) { r.Reason = "ok\nforged log line" },
		"bidi override in by":   func(r *Resolution) { r.By = "alice\u202e" },
		"invalid UTF-8":         func(r *Resolution) { r.Reason = "\xff" },
	} {
		m := resolve(1, DecisionPaid)
		edit(m.Resolution)
		if _, _, err := Apply(cur, m, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	m := resolve(1, DecisionPaid)
	m.Resolution = nil
	if _, _, err := Apply(cur, m, t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("no body: %v, want ErrInvalid", err)
	}
	m = resolve(1, DecisionPaid)
	m.Resolution.Reason = strings.Repeat("я", MaxResolutionReason)
	if _, _, err := Apply(cur, m, t0); err != nil {
		t.Errorf("a reason of %d Cyrillic letters: %v", MaxResolutionReason, err)
	}
}
