package devstack_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/epay"
)

// get GETs url and returns its status and body; status 0 when nothing answers.
func get(url string) (int, string) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond every 50ms for up to 20s; a test error with what at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A stopped worker is a closed port; callbacks are stored meanwhile and the worker,
// started again on its address and file, applies them. A stopped NATS server answers
// nothing, not even its /healthz, and the ingest refuses callbacks with 503; started
// again, it has its streams and the services reconnect by themselves.
func TestControlStopsAndStartsTheWorkerAndNATS(t *testing.T) {
	var ctl *devstack.Control
	urls := devstacktest.Start(t, devstacktest.Options{NATSMonitor: true, OnControl: func(c *devstack.Control) { ctl = c }})
	workerKeys.Store(urls.Worker, urls.WorkerReadKey)
	if ctl == nil || urls.NATSMonitor == "" {
		t.Fatalf("no Control (%v) or no NATS monitor URL (%q)", ctl != nil, urls.NATSMonitor)
	}
	keys, _ := epay.ParseKeyring(devstack.DevSecretKeys)
	p := createPayment(t, urls.Initiator)

	if err := ctl.StopWorker(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(urls.Worker + "/livez"); code != 0 {
		t.Fatalf("a stopped worker answered /livez %d", code)
	}
	if code := postCallback(t, urls.Ingest, genuine(t, p, keys, "success")); code != http.StatusOK {
		t.Fatalf("callback while the worker is stopped: %d, want 200 (stored)", code)
	}
	if err := ctl.StartWorker(); err != nil {
		t.Fatal(err)
	}
	waitState(t, urls.Worker, p.InvoiceID, "paid")

	if code, body := get(urls.NATSMonitor + "/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatalf("NATS /healthz: %d %s, want 200 ok", code, body)
	}
	ctl.StopNATS()
	if code, _ := get(urls.NATSMonitor + "/healthz"); code != 0 {
		t.Fatalf("a stopped NATS answered /healthz %d", code)
	}
	p2 := createPaymentOrNot(urls.Initiator)
	if code := postCallback(t, urls.Ingest, genuine(t, p, keys, "success")); code != http.StatusServiceUnavailable {
		t.Fatalf("callback while NATS is stopped: %d, want 503", code)
	}
	if p2 {
		t.Fatal("the initiator started a payment while NATS was stopped")
	}
	if err := ctl.StartNATS(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NATS /healthz ok after StartNATS", func() bool {
		code, body := get(urls.NATSMonitor + "/healthz")
		return code == http.StatusOK && strings.Contains(body, `"ok"`)
	})
	eventually(t, "the ingest and the initiator ready again", func() bool {
		ingest, _ := get(urls.Ingest + "/readyz")
		initiator, _ := get(urls.Initiator + "/readyz")
		return ingest == http.StatusOK && initiator == http.StatusOK
	})
	p3 := createPayment(t, urls.Initiator)
	eventually(t, "a callback stored after NATS came back", func() bool {
		return postCallback(t, urls.Ingest, genuine(t, p3, keys, "success")) == http.StatusOK
	})
	waitState(t, urls.Worker, p3.InvoiceID, "paid")
}

// createPaymentOrNot reports whether the initiator answered a payment with 201.
func createPaymentOrNot(initiatorURL string) bool {
	req, _ := http.NewRequest(http.MethodPost, initiatorURL+"/v1/payments",
		strings.NewReader(`{"amount":100,"currency":"KZT","description":"Order 43","kind":"payment","email":"a@example.kz"}`))
	req.Header.Set("Authorization", "Bearer "+devstack.DevAPIKey)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusCreated
}
