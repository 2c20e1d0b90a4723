package webhooks_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/webhooks"
)

// After BreakerThreshold consecutive failures the service stops sending to the endpoint
// (attempts are "paused", no request) and says so in its metrics; a paused attempt counts,
// and the next comes once the pause is over (the probe); the event still ends in the
// dead letter after its retries.
func TestFailingEndpointIsPaused(t *testing.T) {
	cfg := testConfig()
	cfg.BreakerThreshold, cfg.BreakerCooldown = 2, 2*time.Second
	s := startStack(t, cfg)
	rc := newReceiver(t, func(int, request) int { return http.StatusInternalServerError })
	id, _ := s.register(t, rc.URL)
	s.publish(t, "ev-p1", "paid", "INV-P")
	var dl struct{ DeadLetters []webhooks.DeadLetter }
	var log struct{ Attempts []webhooks.Attempt }
	// the dead letter and the last attempt are two writes: wait for both
	waitFor(t, "the dead letter and its attempt", func() bool {
		s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &dl)
		s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/attempts", nil, &log)
		return len(dl.DeadLetters) == 1 && len(log.Attempts) >= 4
	})
	if n := len(rc.requests()); n != 3 {
		t.Errorf("%d requests, want 3: the circuit opens after 2 failures, one probe after the pause", n)
	}
	var results []string
	for _, a := range log.Attempts {
		results = append([]string{a.Result}, results...)
	}
	if strings.Join(results, ",") != "failed,failed,paused,dead" {
		t.Errorf("attempts %v, want failed,failed,paused,dead", results)
	}
	resp, err := http.Get(s.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`epayflow_webhooks_endpoint_paused{endpoint="` + id + `"} 1`,
		`epayflow_webhooks_circuit_opened_total{endpoint="` + id + `"} 1`,
		`epayflow_webhooks_dead_letters_total{endpoint="` + id + `"} 1`,
		`epayflow_webhooks_deliveries_total{endpoint="` + id + `",result="failed"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "INV-P") {
		t.Error("/metrics shows a URL or an invoice")
	}
}
