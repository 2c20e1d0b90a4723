package initiator

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/internal/proctest"
)

// With INITIATOR_METRICS_ADDR, /metrics is served there only: the API's port answers 404
// for it, the metrics port serves nothing else, and both listeners close when Run returns.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	srv := natstest.Start(t)
	fake := startFakeEPay(t, answerWith(200, tokenAnswer))
	cfg := testConfig(t, fake.URL)
	srv.EnsureAll(t) // the worker has made the streams and buckets
	cfg.NATSURL = srv.URL()
	cfg.MetricsAddr = "127.0.0.1:" + strconv.Itoa(proctest.Port(t))
	murl := "http://" + cfg.MetricsAddr
	base, stop := startRun(t, cfg)
	waitFor(t, 10*time.Second, func() bool { return status(t, base+"/readyz", "") == http.StatusOK })

	if code, body := postPayment(t, base, sourceRequest); code != http.StatusCreated {
		t.Fatalf("POST /v1/payments = %d %s", code, body)
	}
	if got := status(t, base+"/metrics", ""); got != http.StatusNotFound {
		t.Errorf("/metrics on the API's port: %d, want 404", got)
	}
	if got := status(t, murl+"/metrics", ""); got != http.StatusOK {
		t.Fatalf("/metrics on the metrics port: %d", got)
	}
	metrics := get(t, murl+"/metrics")
	for _, want := range []string{
		`epayflow_initiator_payments_created_total{kind="payment"} 1`,
		`epayflow_initiator_requests_total{code="201",route="POST /v1/payments"} 1`,
		`epayflow_epay_token_request_duration_seconds_count{scope="payment"} 1`,
		`go_goroutines`, `process_`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics on the metrics port lacks %s", want)
		}
	}
	for _, path := range []string{"/livez", "/readyz", "/", "/static/"} {
		if got := status(t, murl+path, ""); got != http.StatusNotFound {
			t.Errorf("GET %s on the metrics port: %d, want 404 (it serves /metrics alone)", path, got)
		}
	}
	if code, _ := postPayment(t, murl, sourceRequest); code != http.StatusNotFound {
		t.Errorf("POST /v1/payments on the metrics port: %d, want 404", code)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, u := range []string{base + "/livez", murl + "/metrics"} {
		if status(t, u, "") != 0 {
			t.Errorf("%s still answers after Run returned", u)
		}
	}
}

// A metrics address that cannot be bound fails the start, and the API's port is let go.
func TestMetricsAddrInUseFailsTheStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t, startFakeEPay(t, answerWith(200, tokenAnswer)).URL)
	cfg.NATSURL = natstest.Start(t).URL()
	cfg.MetricsAddr = busy.Addr().String()
	// The API's port was free a moment ago; another test may take it before Run binds
	// it. That is not what is tested, so try another (a bounded number of times).
	for range 5 {
		cfg.Addr = "127.0.0.1:" + strconv.Itoa(proctest.Port(t))
		if err = Run(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), cfg.Addr) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Run: %v, want an error naming %s", err, busy.Addr())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatalf("the API's address is still held: %v", err)
	}
	ln.Close()
}

func TestMetricsAddrFromFlagsAndEnv(t *testing.T) {
	env := baseEnv()
	c, err := parseFlags("initiator", nil, envOf(env), &bytes.Buffer{})
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default: %q, %v; want empty (/metrics on -addr)", c.MetricsAddr, err)
	}
	env["INITIATOR_METRICS_ADDR"] = ":9080"
	if c, err = parseFlags("initiator", nil, envOf(env), &bytes.Buffer{}); err != nil || c.MetricsAddr != ":9080" {
		t.Fatalf("INITIATOR_METRICS_ADDR: %q, %v", c.MetricsAddr, err)
	}
	if c, err = parseFlags("initiator", []string{"-metrics-addr", "127.0.0.1:9999"}, envOf(env), &bytes.Buffer{}); err != nil || c.MetricsAddr != "127.0.0.1:9999" {
		t.Fatalf("the flag must win over the variable: %q, %v", c.MetricsAddr, err)
	}
}
