package webhooks

import (
	"testing"
	"time"
)

// After threshold consecutive failures the endpoint is paused until the cool-down
// passes; then exactly one probe goes out: its failure pauses it again, its success
// resumes it.
func TestBreakerPausesAndProbes(t *testing.T) {
	b := newBreakers(3, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 2 {
		if !b.allow("ep", t0) {
			t.Fatalf("request %d refused before the threshold", i+1)
		}
		if opened, _ := b.done("ep", false, false, t0); opened {
			t.Fatalf("opened after %d failures", i+1)
		}
	}
	if _, _ = b.done("ep", true, false, t0); !b.allow("ep", t0) {
		t.Fatal("a success did not reset the count")
	}
	for range 2 {
		b.done("ep", false, false, t0)
	}
	if opened, _ := b.done("ep", false, false, t0); !opened {
		t.Fatal("3 consecutive failures did not open the circuit")
	}
	if b.allow("ep", t0.Add(59*time.Second)) {
		t.Fatal("request allowed during the cool-down")
	}
	if !b.allow("other", t0) {
		t.Fatal("another endpoint paused too")
	}
	t1 := t0.Add(time.Minute)
	if !b.allow("ep", t1) {
		t.Fatal("no probe after the cool-down")
	}
	if b.allow("ep", t1) {
		t.Fatal("a second request during the probe")
	}
	if opened, _ := b.done("ep", false, false, t1); opened {
		t.Fatal("a failed probe counted as a new opening")
	}
	if b.allow("ep", t1.Add(time.Second)) {
		t.Fatal("allowed right after a failed probe")
	}
	t2 := t1.Add(time.Minute)
	if !b.allow("ep", t2) {
		t.Fatal("no second probe")
	}
	if _, closed := b.done("ep", true, false, t2); !closed {
		t.Fatal("a delivered probe did not close the circuit")
	}
	for i := range 2 {
		if !b.allow("ep", t2) {
			t.Fatalf("request %d refused after the circuit closed", i+1)
		}
	}
}

// The delay before each retry follows the schedule within its jitter, and stays at the
// last step after it.
func TestRetryDelays(t *testing.T) {
	c := Config{Schedule: []time.Duration{time.Second, time.Minute}, Jitter: 0.2}
	for delivered, want := range map[uint64]time.Duration{1: time.Second, 2: time.Minute, 3: time.Minute, 9: time.Minute} {
		for range 50 {
			d := c.delay(delivered)
			if d < want*8/10 || d > want*12/10 {
				t.Fatalf("delay after delivery %d: %v, want %v ±20%%", delivered, d, want)
			}
		}
	}
}
