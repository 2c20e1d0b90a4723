package webhooks_test

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/webhooks"
)

// An endpoint gets the events PAYMENT_EVENTS stored after it was registered, none stored
// before: not those still in retry at another endpoint when it was registered, which
// came back to be delivered to it too, after the later events of their invoice. The
// endpoint that was failing still gets its events in order.
func TestAnEndpointGetsOnlyTheEventsStoredAfterItsRegistration(t *testing.T) {
	cfg := testConfig()
	cfg.Schedule = []time.Duration{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond,
		200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}
	s := startStack(t, cfg)
	var up atomic.Bool
	b := newReceiver(t, func(int, request) int {
		if up.Load() {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	s.register(t, b.URL)
	s.publish(t, "ev-old1", "created", "INV-N1")
	s.publish(t, "ev-old2", "created", "INV-N2")
	waitFor(t, "the old events' first attempts at B failed", func() bool { return len(b.requests()) >= 2 })

	c := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	s.register(t, c.URL)
	s.publish(t, "ev-new1", "paid", "INV-N1")
	s.publish(t, "ev-new3", "created", "INV-N3")
	waitFor(t, "C got the events published after its registration", func() bool { return len(c.delivered()) >= 2 })
	time.Sleep(500 * time.Millisecond) // the old events come back meanwhile, at B still failing
	up.Store(true)
	waitFor(t, "B got every event", func() bool { return len(b.delivered()) >= 4 })
	s.waitSettled(t)

	got := c.delivered()
	for _, old := range []string{"ev-old1", "ev-old2"} {
		if slices.Contains(got, old) {
			t.Errorf("C got %s, published before C was registered: C got %v", old, ids(c.requests()))
		}
	}
	if !slices.Contains(got, "ev-new1") || !slices.Contains(got, "ev-new3") {
		t.Errorf("C got %v, want ev-new1 and ev-new3", got)
	}
	var n1 []string
	for _, d := range b.delivered() {
		if d == "ev-old1" || d == "ev-new1" {
			n1 = append(n1, d)
		}
	}
	if !slices.Equal(n1, []string{"ev-old1", "ev-new1"}) {
		t.Errorf("B got invoice INV-N1's events %v, want [ev-old1 ev-new1]: %s", n1, strings.Join(ids(b.requests()), " "))
	}
}

// An endpoint's createdAt is when the bucket stored it, by the NATS server's clock (the
// clock that dates the events it gets), and a rotation keeps it: rewritten with the
// rotation's time, the events still in retry from before would no longer go to it.
func TestAnEndpointsCreationTimeIsTheBucketsAndARotationKeepsIt(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	before := time.Now()
	id, _ := s.register(t, rc.URL)
	var first, after webhooks.View
	s.call(t, "GET", "/v1/webhooks/endpoints/"+id, nil, &first)
	if d := first.CreatedAt.Sub(before); d < -time.Second || d > 5*time.Second {
		t.Fatalf("createdAt %v, registered at %v", first.CreatedAt, before)
	}
	time.Sleep(20 * time.Millisecond)
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints/"+id+"/rotate-secret", nil, nil); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, b)
	}
	s.call(t, "GET", "/v1/webhooks/endpoints/"+id, nil, &after)
	if !after.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("createdAt %v after a rotation, was %v", after.CreatedAt, first.CreatedAt)
	}
}
