package webhooks_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/webhooks"
)

// An event that waits behind an earlier event of its invoice keeps its whole retry
// budget and its schedule for its own failures: the rounds it waited are not attempts.
// ev-a1 fails three times (delivered at its fourth attempt); ev-a2 waits behind it, then
// fails its first real attempt once. With 3 retries ev-a2 still has them all (once, its
// waiting rounds used them up and one failure dead-lettered it); with a schedule whose
// fourth step is an hour, its retry comes after the first step, not an hour later (once,
// its waiting rounds moved it that far down the schedule).
func TestWaitingIsNotAnAttempt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		schedule []time.Duration
	}{
		{"budget", []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond}},
		{"schedule", []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond, time.Hour, time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Schedule = tc.schedule
			s := startStack(t, cfg)
			var mu sync.Mutex
			seen := map[string]int{}
			rc := newReceiver(t, func(_ int, r request) int {
				mu.Lock()
				defer mu.Unlock()
				id := r.Header.Get("webhook-id")
				seen[id]++
				if id == "ev-a1" && seen[id] <= 3 || id == "ev-a2" && seen[id] == 1 {
					return http.StatusServiceUnavailable
				}
				return http.StatusNoContent
			})
			id, _ := s.register(t, rc.URL)
			s.publish(t, "ev-a1", "created", "INV-A")
			s.publish(t, "ev-a2", "paid", "INV-A")
			var dl struct{ DeadLetters []webhooks.DeadLetter }
			waitFor(t, "both events delivered or one dead", func() bool {
				if len(rc.delivered()) == 2 {
					return true
				}
				s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &dl)
				return len(dl.DeadLetters) > 0
			})
			if len(dl.DeadLetters) > 0 {
				t.Fatalf("dead-lettered %s after %d real attempt(s): its waiting rounds counted (requests %v)",
					dl.DeadLetters[0].EventID, seen[dl.DeadLetters[0].EventID], ids(rc.requests()))
			}
			if got := rc.delivered(); !slices.Equal(got, []string{"ev-a1", "ev-a2"}) {
				t.Errorf("delivered %v, want ev-a1 then ev-a2", got)
			}
			if n := len(rc.requests()); n != 6 {
				t.Errorf("%d requests, want 6 (ev-a1 4, ev-a2 2): %v", n, ids(rc.requests()))
			}
			// The attempt log numbers ev-a2's real attempts 1 and 2, whatever it waited.
			var log struct{ Attempts []webhooks.Attempt }
			waitFor(t, "ev-a2's attempts in the log", func() bool {
				s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/attempts", nil, &log)
				return slices.ContainsFunc(log.Attempts, func(a webhooks.Attempt) bool { return a.EventID == "ev-a2" && a.Result == "delivered" })
			})
			for _, a := range log.Attempts {
				if a.EventID != "ev-a2" {
					continue
				}
				want := map[string]uint64{"failed": 1, "delivered": 2}[a.Result]
				if a.Result != "waiting" && a.Attempt != want {
					t.Errorf("ev-a2 %s logged as attempt %d, want %d", a.Result, a.Attempt, want)
				}
			}
		})
	}
}

// When the bucket refuses a write after an attempt failed (a NATS outage, a leader
// election), the event still holds its place in its invoice's queue: the next event of
// the invoice is not sent before it. ev-o1's first attempt fails while the bucket takes no
// writes; ev-o2, published meanwhile, must wait for ev-o1's retry. (Once, ev-o1 entered
// the queue only after its failure, that write was refused, and ev-o2 went first.)
func TestRefusedBucketWriteKeepsTheInvoiceOrder(t *testing.T) {
	cfg := testConfig()
	cfg.Schedule = []time.Duration{time.Second, time.Second, time.Second}
	s := startStack(t, cfg)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, r request) int {
		if r.Header.Get("webhook-id") == "ev-o1" && n == 1 {
			once.Do(func() { close(arrived) })
			<-release
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	s.register(t, rc.URL)
	s.publish(t, "ev-o1", "created", "INV-O")
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no first attempt of ev-o1")
	}
	s.bucketWrites(t, false)
	close(release)
	s.publish(t, "ev-o2", "paid", "INV-O")
	// the first of ev-o2's first attempt and ev-o1's retry
	waitFor(t, "a second request", func() bool { return len(rc.requests()) >= 2 })
	s.bucketWrites(t, true)
	waitFor(t, "both delivered", func() bool {
		d := rc.delivered()
		return slices.Contains(d, "ev-o1") && slices.Contains(d, "ev-o2")
	})
	reqs := rc.requests()
	first := func(id string) int {
		return slices.IndexFunc(reqs, func(r request) bool { return r.Header.Get("webhook-id") == id && r.Status/100 == 2 })
	}
	if o2 := slices.IndexFunc(reqs, func(r request) bool { return r.Header.Get("webhook-id") == "ev-o2" }); o2 < first("ev-o1") {
		t.Errorf("ev-o2 sent before ev-o1 was delivered: %v", ids(reqs))
	}
}

// While the bucket takes no writes, an event cannot even take its place in its invoice's
// queue: it comes again in its invoice's turn (jspubsub.NackInTurn), so the invoice's next
// events, published meanwhile, are not handed out before it. Nacked back to the server it
// would come back after them, and they would go first once the bucket took writes again
// (a NATS cluster's partition did that: reordered=1).
func TestAnEventThatCouldNotBeQueuedKeepsItsTurn(t *testing.T) {
	cfg := testConfig()
	cfg.Schedule = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
	s := startStack(t, cfg)
	rc := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	s.register(t, rc.URL)
	s.publish(t, "ev-q0", "created", "INV-Q0") // the consumer is there once it is delivered
	waitFor(t, "the first event delivered", func() bool { return len(rc.delivered()) == 1 })
	// and settled: refused, its attempt's log would have it delivered again and again, and
	// its copies would count among the deliveries awaited below
	s.waitSettled(t)

	s.bucketWrites(t, false)
	const invoices = 6
	for i := range invoices {
		s.publish(t, fmt.Sprintf("ev-q%d-1", i), "review", fmt.Sprintf("INV-Q%d", i+1))
	}
	for i := range invoices {
		s.publish(t, fmt.Sprintf("ev-q%d-2", i), "paid", fmt.Sprintf("INV-Q%d", i+1))
	}
	time.Sleep(500 * time.Millisecond) // several rounds refused; the bound of what is asserted is below
	s.bucketWrites(t, true)
	waitFor(t, "every event delivered", func() bool { return len(rc.delivered()) == 1+2*invoices })
	got := rc.delivered()
	for i := range invoices {
		first, second := slices.Index(got, fmt.Sprintf("ev-q%d-1", i)), slices.Index(got, fmt.Sprintf("ev-q%d-2", i))
		if first < 0 || second < first {
			t.Errorf("invoice %d: delivered %v, its review event after its paid one", i+1, got)
		}
	}
}
