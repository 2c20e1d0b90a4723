package webhooks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/webhooks"
)

// bucketKeys lists the bucket's keys that name the endpoint id.
func (s *stack) bucketKeys(t *testing.T, id string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := s.asWebhooks(t, "test-keys").KeyValue(ctx, webhooks.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	l, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range l.Keys() {
		if strings.Contains(k, "."+id) {
			out = append(out, k)
		}
	}
	_ = l.Stop()
	return out
}

// metrics is the service's /metrics page.
func (s *stack) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// An endpoint deleted while deliveries to it are under way leaves nothing behind: the
// rounds that end after DELETE answered write neither a dead letter, nor a retry, nor
// an attempt for it. Such a dead letter outlived the deletion's sweep and nobody could
// clear it (the API answers 404 for the endpoint): epayflow_webhooks_dead_letters kept
// saying 1 for the deleted id, and the dead-letters alert never resolved.
func TestAnEndpointDeletedDuringADeliveryLeavesNothingBehind(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 10 * time.Second
	cfg.Schedule = []time.Duration{20 * time.Millisecond} // two attempts: the second is the last
	s := startStack(t, cfg)
	var mu sync.Mutex
	seen := map[string]int{}
	arrived, release := make(chan string, 8), make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		if id == "ev-dead" && n == 1 { // fails at once: its next attempt is its last
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		arrived <- id
		select { // under way until the endpoint is deleted, then failed
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(rc.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	id, _ := s.register(t, rc.URL)
	s.publish(t, "ev-dead", "failed", "INV-DEL1")   // its last attempt under way: a dead letter after it
	s.publish(t, "ev-retry", "created", "INV-DEL2") // its first under way: a retry after it
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("the deliveries did not reach the receiver")
		}
	}
	if code, b := s.call(t, "DELETE", "/v1/webhooks/endpoints/"+id, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, b)
	}
	close(release)
	s.waitSettled(t)
	var left []string
	waitFor(t, "no key of the deleted endpoint in the bucket", func() bool {
		if keys := s.bucketKeys(t, id); !slices.Equal(keys, left) {
			t.Logf("keys of the deleted endpoint: %v", keys)
			left = keys
		}
		return len(left) == 0
	})
	var series []string
	waitFor(t, "no metric series of the deleted endpoint", func() bool {
		var now []string
		for l := range strings.Lines(s.metrics(t)) {
			if strings.Contains(l, `endpoint="`+id+`"`) {
				now = append(now, strings.TrimSpace(l))
			}
		}
		if !slices.Equal(now, series) {
			t.Logf("series of the deleted endpoint: %v", now)
			series = now
		}
		return len(series) == 0
	})
	if code, _ := s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, nil); code != http.StatusNotFound {
		t.Errorf("dead letters of the deleted endpoint: %d, want 404", code)
	}
}

// Dead letters of an endpoint that does not exist (left by a crash between a delivery's
// writes, before the dispatcher's sweep removes them) are not counted: nobody can list,
// replay or clear them through the API, and an alert on them would never resolve.
func TestDeadLettersGaugeCountsOnlyEndpointsThatExist(t *testing.T) {
	s := startStack(t, testConfig())
	store := s.openStore(t)
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	id, _ := s.register(t, rc.URL)
	const orphan = "ep_00000000000000aa"
	for _, ep := range []string{id, orphan} {
		dl := webhooks.DeadLetter{Seq: 3, EventID: "ev-x", InvoiceID: "INV-X", FailedAt: time.Now().UTC(), LastError: "HTTP 500",
			Event: []byte(`{"id":"ev-x"}`)}
		if err := store.PutDead(context.Background(), ep, dl); err != nil {
			t.Fatal(err)
		}
	}
	m := s.metrics(t)
	if !strings.Contains(m, `epayflow_webhooks_dead_letters{endpoint="`+id+`"} 1`+"\n") {
		t.Errorf("the registered endpoint's dead letter is not counted:\n%s", m)
	}
	if strings.Contains(m, `epayflow_webhooks_dead_letters{endpoint="`+orphan+`"}`) {
		t.Errorf("dead letters of an endpoint that does not exist are counted:\n%s", m)
	}
}
