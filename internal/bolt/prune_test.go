package bolt

import (
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

// Prune drops the bodies of closed invoices changed before the cutoff, and nothing else:
// open invoices, recent ones, the states, applied ids and entries stay; a message
// applied before is still a duplicate.
func TestPruneDropsOnlyOldClosedBodies(t *testing.T) {
	s := openTest(t, Options{})
	old, recent := t0, t0.Add(48*time.Hour)
	apply := func(m invoice.Message, at time.Time) {
		t.Helper()
		if _, err := s.Apply(m, at); err != nil {
			t.Fatal(err)
		}
	}
	const paidOld, paidRecent, openOld = "100000000001", "100000000002", "100000000003"
	for _, x := range []struct {
		id string
		at time.Time
	}{{paidOld, old}, {paidRecent, recent}} {
		apply(createdMsg(x.id), x.at)
		apply(callbackMsg(x.id, "tx-"+x.id, true), x.at)
	}
	apply(createdMsg(openOld), old)
	// for a human still: a double payment, and a success of another amount (review)
	const doubleOld, reviewOld = "100000000004", "100000000005"
	apply(createdMsg(doubleOld), old)
	apply(callbackMsg(doubleOld, "tx-a", true), old)
	apply(callbackMsg(doubleOld, "tx-b", true), old)
	apply(createdMsg(reviewOld), old)
	other := callbackMsg(reviewOld, "tx-r", true)
	other.Payment.Amount = 5000
	apply(other, old)
	cutoff := t0.Add(24 * time.Hour)

	var total Pruned
	for after, first := "", true; first || after != ""; first = false {
		p, err := s.Prune(cutoff, after, 2) // two invoices a call: the walk resumes
		if err != nil {
			t.Fatal(err)
		}
		total.Invoices, total.Bodies, total.Bytes = total.Invoices+p.Invoices, total.Bodies+p.Bodies, total.Bytes+p.Bytes
		after = p.Next
	}
	if total.Invoices != 5 || total.Bodies != 2 || total.Bytes <= 0 {
		t.Fatalf("pruned %+v, want 5 invoices looked at, the 2 bodies of %s", total, paidOld)
	}
	inv, hist, err := s.Get(paidOld)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != invoice.StatePaid || len(inv.Applied) != 2 || len(hist) != 2 {
		t.Fatalf("pruned invoice %+v, %d entries", inv, len(hist))
	}
	for _, h := range hist {
		if len(h.Body) != 0 || !h.Pruned || h.MessageID == "" || h.StateAfter == "" {
			t.Fatalf("pruned entry %+v", h)
		}
	}
	if len(hist[1].Events) != 1 {
		t.Fatalf("the event ids went with the body: %+v", hist[1])
	}
	if inv, _, _ := s.Get(doubleOld); !inv.DoublePayment {
		t.Fatalf("%s is no double payment: %+v", doubleOld, inv)
	}
	if inv, _, _ := s.Get(reviewOld); inv.State != invoice.StateReview {
		t.Fatalf("%s is not in review: %+v", reviewOld, inv)
	}
	for _, id := range []string{paidRecent, openOld, doubleOld, reviewOld} {
		_, hist, _ := s.Get(id)
		for _, h := range hist {
			if len(h.Body) == 0 || h.Pruned {
				t.Fatalf("%s lost a body: %+v", id, h)
			}
		}
	}
	r, err := s.Apply(callbackMsg(paidOld, "tx-"+paidOld, true), recent)
	if err != nil || r.Outcome != Duplicate {
		t.Fatalf("a message of a pruned invoice applied again: %v, %v", r.Outcome, err)
	}
	if p, err := s.Prune(cutoff, "", 10); err != nil || p.Bodies != 0 {
		t.Fatalf("a second prune: %+v, %v", p, err)
	}
}
