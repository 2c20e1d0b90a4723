package initiator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/natsbus"
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

// With EPAY_P2P_TERMINAL, a P2P transfer is the P2P terminal's from end to end: its
// transfer token, its payment object, its secret_hash (the ingest verifies a callback
// against the terminal the callback names) and its invoice.created (the worker checks
// the callback's terminal against the invoice's); a card payment keeps EPAY_TERMINAL.
func TestRunGivesP2PTransfersTheP2PTerminal(t *testing.T) {
	const p2pTerminal = "40a348cb-68a3-45d5-9002-a4836d79c3b5"
	srv := natstest.Start(t)
	fake := startFakeEPay(t, answerWith(200, tokenAnswer))
	cfg := testConfig(t, fake.URL)
	cfg.EPay.P2PTerminal = p2pTerminal
	srv.EnsureAll(t)
	cfg.NATSURL = srv.URL()
	base, stop := startRun(t, cfg)
	defer stop()
	waitFor(t, 10*time.Second, func() bool { return status(t, base+"/readyz", "") == http.StatusOK })
	for _, tt := range []struct{ kind, terminal, scope string }{{"p2p", p2pTerminal, "transfer"}, {"payment", testTerminal, "payment"}} {
		code, body := postPayment(t, base, `{"kind":"`+tt.kind+`","amount":100,"currency":"KZT","description":"x"}`)
		var c struct {
			InvoiceID     string `json:"invoiceId"`
			PaymentObject struct {
				Terminal string `json:"terminal"`
			} `json:"paymentObject"`
		}
		if code != http.StatusCreated || json.Unmarshal([]byte(body), &c) != nil || c.PaymentObject.Terminal != tt.terminal {
			t.Fatalf("%s: %d %s, want the payment object on terminal %s", tt.kind, code, body, tt.terminal)
		}
		forms := fake.requests()
		form := forms[len(forms)-1]
		if form.Get("scope") != tt.scope || form.Get("terminal") != tt.terminal {
			t.Fatalf("%s: token form scope %q terminal %q, want %q %q", tt.kind, form.Get("scope"), form.Get("terminal"), tt.scope, tt.terminal)
		}
		if err := cfg.Keyring.Verify(tt.terminal, c.InvoiceID, form.Get("secret_hash")); err != nil {
			t.Fatalf("%s: the secret_hash does not verify for terminal %s: %v", tt.kind, tt.terminal, err)
		}
		created := lastInboxMessage(t, srv)
		if !strings.Contains(created, `"invoiceId":"`+c.InvoiceID+`"`) || !strings.Contains(created, `"terminal":"`+tt.terminal+`"`) {
			t.Fatalf("%s: invoice.created %s, want invoice %s on terminal %s", tt.kind, created, c.InvoiceID, tt.terminal)
		}
	}
}

// lastInboxMessage is the data of EPAY_INBOX's last message.
func lastInboxMessage(t *testing.T, srv *natstest.Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := natstest.JetStream(t, srv.URL()).Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	return string(m.Data)
}
