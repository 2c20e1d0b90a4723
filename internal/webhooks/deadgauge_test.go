package webhooks_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// The metric epayflow_webhooks_dead_letters is what the bucket holds: 1 once an event
// exhausted its retries, none once it is replayed (an alert says "not empty" with it).
func TestDeadLettersGaugeIsWhatTheBucketHolds(t *testing.T) {
	s := startStack(t, testConfig())
	var up atomic.Bool
	rc := newReceiver(t, func(int, request) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	id, _ := s.register(t, rc.URL)
	line := `epayflow_webhooks_dead_letters{endpoint="` + id + `"} `
	metrics := func() string { return s.metrics(t) }
	waitFor(t, "the gauge at 0 for the new endpoint", func() bool { return strings.Contains(metrics(), line+"0\n") })
	s.publish(t, "ev-g1", "failed", "INV-G")
	waitFor(t, "the gauge at 1", func() bool { return strings.Contains(metrics(), line+"1\n") })
	var dl struct{ DeadLetters []struct{ Seq uint64 } }
	s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &dl)
	if len(dl.DeadLetters) != 1 {
		t.Fatalf("dead letters %+v, want 1", dl.DeadLetters)
	}
	up.Store(true)
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints/"+id+"/dead-letters/"+itoa(dl.DeadLetters[0].Seq)+"/replay", nil, nil); code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, b)
	}
	if m := metrics(); !strings.Contains(m, line+"0\n") {
		t.Errorf("the gauge does not say 0 after the replay:\n%s", m)
	}
}
