package ingest

import (
	"testing"
	"time"
)

// Every publish gets at least its timeout, at most a tick more, and the publishes of
// one tick share one context (one timer), whatever order their clocks were read in.
func TestPublishesShareADeadlineAndEachGetsItsWholeTimeout(t *testing.T) {
	const timeout = 2 * time.Second
	d := newDeadlines(timeout)
	if d.tick != 100*time.Millisecond {
		t.Fatalf("tick %s, want 100ms for a 2s timeout", d.tick)
	}
	t0 := time.Now()
	within := func(at time.Time, label string) {
		t.Helper()
		ctx := d.after(at)
		dl, ok := ctx.Deadline()
		if !ok || dl.Before(at.Add(timeout)) || dl.After(at.Add(timeout+d.tick)) {
			t.Fatalf("%s: deadline %s after the publish began, want %s to %s", label, dl.Sub(at), timeout, timeout+d.tick)
		}
	}
	first := d.after(t0)
	within(t0, "first")
	within(t0.Add(d.tick/2), "half a tick later")
	within(t0.Add(d.tick-time.Nanosecond), "at the end of the tick")
	if d.after(t0.Add(d.tick/2)) != first || d.after(t0.Add(-time.Millisecond)) != first {
		t.Fatal("publishes within one tick got contexts of their own")
	}
	within(t0.Add(d.tick), "one tick later")
	if d.after(t0.Add(d.tick)) == first {
		t.Fatal("a publish a tick later shares the first context: it could wait less than its timeout")
	}
	within(t0.Add(time.Hour), "an hour later")

	for _, c := range []struct{ timeout, tick time.Duration }{
		{10 * time.Second, 100 * time.Millisecond}, {300 * time.Millisecond, 30 * time.Millisecond}, {5 * time.Millisecond, time.Millisecond},
	} {
		if got := newDeadlines(c.timeout).tick; got != c.tick {
			t.Errorf("timeout %s: tick %s, want %s", c.timeout, got, c.tick)
		}
	}
}

// The shared context ends: a publish that gets no answer is not left waiting.
func TestASharedDeadlineEnds(t *testing.T) {
	d := newDeadlines(50 * time.Millisecond)
	start := time.Now()
	ctx := d.after(start)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the shared context did not end within 5s of a 50ms timeout")
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("ended after %s, before the timeout", waited)
	}
}
