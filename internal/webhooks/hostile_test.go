package webhooks_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/epayflow/epayflow/internal/webhooks"
)

// An endpoint is anyone's server. One that answers 2xx with megabytes of headers made
// the service hold them (Go's default allows 10 MB an answer, and an event goes to every
// endpoint at once): a few such endpoints and events exhausted its memory. Such an
// answer is now a failed attempt, and the next one is not read past the bound either.
func TestAnEndpointsHugeHeadersAreAFailedAttempt(t *testing.T) {
	s := startStack(t, testConfig())
	var answered atomic.Int32
	big := strings.Repeat("x", 1<<20)
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answered.Add(1)
		for i := range 4 {
			w.Header().Set("X-Pad-"+string(rune('a'+i)), big)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hostile.Close)
	id, _ := s.register(t, hostile.URL)
	s.publish(t, "ev-h", "paid", "INV-H")
	var log struct{ Attempts []webhooks.Attempt }
	waitFor(t, "an attempt in the log", func() bool {
		s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/attempts", nil, &log)
		return len(log.Attempts) > 0
	})
	a := log.Attempts[len(log.Attempts)-1] // the first
	if a.Result != "failed" || !strings.Contains(a.Error, "header") {
		t.Errorf("first attempt %+v: want failed, its headers past the bound", a)
	}
	if answered.Load() == 0 {
		t.Error("the endpoint was never called")
	}
}
