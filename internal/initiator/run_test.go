package initiator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// TestRunServesPaymentsHealthAndMetricsAndStopsCleanly starts the service the way the
// binary and the devstack do: Run on port 0, real NATS, a fake ePay.
func TestRunServesPaymentsHealthAndMetricsAndStopsCleanly(t *testing.T) {
	srv := natstest.Start(t)
	fake := startFakeEPay(t, answerWith(200, tokenAnswer))
	cfg := testConfig(t, fake.URL)
	srv.EnsureAll(t) // the worker has made the streams and buckets
	cfg.NATSURL = srv.URL()
	cfg.PublicURL = ""
	base, stop := startRun(t, cfg)
	waitFor(t, 10*time.Second, func() bool { return status(t, base+"/readyz", "") == http.StatusOK })

	if code, body := postPayment(t, base, sourceRequest); code != http.StatusCreated {
		t.Fatalf("POST /v1/payments = %d %s", code, body)
	}
	_, body := postPayment(t, base, `{"kind":"payment","amount":1,"currency":"KZT","description":"x"}`)
	if !strings.Contains(body, `"backLink":"`+base+`/return/success?invoiceId=`) {
		t.Fatalf("default backLink is not on the listener's URL: %s", body)
	}

	metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`epayflow_initiator_payments_created_total{kind="payment"} 2`,
		`epayflow_initiator_payments_created_total{kind="p2p"} 0`,
		`epayflow_initiator_requests_total{code="201",route="POST /v1/payments"} 2`,
		`epayflow_epay_token_request_duration_seconds_count{scope="payment"} 2`,
		`epayflow_epay_token_errors_total{cause="timeout"} 0`,
		`epayflow_epay_status_request_duration_seconds_count 0`,
		`go_goroutines`, `process_`,
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
	if status(t, base+"/livez", "") != http.StatusOK || status(t, base+"/", "") != http.StatusOK {
		t.Fatal("livez or shop page not served")
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// startRun runs the service as the binary does, with cfg, until stop or the end of the
// test, and returns its URL once it listens. stop cancels it and returns Run's error.
func startRun(t *testing.T, cfg Config) (base string, stop func() error) {
	t.Helper()
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httpserver.WithListenHook(ctx, func(u string) { urls <- u })
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = errors.New("Run did not stop within 15s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening within 10s")
	}
	return base, stop
}

// postPayment sends POST /v1/payments with the API key and returns the status and body.
func postPayment(t *testing.T, base, request string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/payments", strings.NewReader(request))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

func TestRunRefusesABadConfig(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1")
	cfg.APIKeys = nil
	if err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Run accepted a config without API keys")
	}
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t *testing.T, url, _ string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
