package suite

import (
	"testing"
	"time"
)

// The hops of an invoice run from its intended send through each stored time to its
// event's arrival; an invoice missing a point is in no hop.
func TestHopsSplitEachInvoiceAtItsStoredTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w := &eventWatch{
		sentAt:    map[string]time.Time{"a": t0, "b": t0, "c": t0},
		arrivedAt: map[string]time.Time{"a": t0.Add(10 * time.Millisecond), "b": t0.Add(20 * time.Millisecond)},
	}
	inbox := map[string]time.Time{"a": t0.Add(1 * time.Millisecond), "b": t0.Add(2 * time.Millisecond), "c": t0}
	state := map[string]time.Time{"a": t0.Add(4 * time.Millisecond)} // b has no record: left out
	got := hops(w, []string{"in", "apply", "out"}, inbox, state)
	want := []time.Duration{time.Millisecond, 3 * time.Millisecond, 6 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("%d hops, want %d", len(got), len(want))
	}
	for i, h := range got {
		if h.Latency.Count() != 1 {
			t.Errorf("hop %s counts %d invoices, want 1 (only a has every point and its event)", h.Name, h.Latency.Count())
		}
		if d := h.Latency.Max(); d < want[i]*99/100 || d > want[i]*101/100 {
			t.Errorf("hop %s took %s, want %s", h.Name, d, want[i])
		}
	}
}
