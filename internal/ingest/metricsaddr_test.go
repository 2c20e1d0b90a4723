package ingest

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/internal/proctest"
)

// With INGEST_METRICS_ADDR, /metrics is served there only, over plain HTTP (also when the
// callbacks are served over TLS): the callbacks' port answers 404 for it, the metrics
// port serves nothing else, and both listeners close when Run returns.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[withTLS], func(t *testing.T) {
			t.Parallel()
			maddr := "127.0.0.1:" + strconv.Itoa(proctest.Port(t))
			mc, murl := client, "http://"+maddr
			ti := mustStartIngestOn(t, startNATS(t), func(c *Config) {
				c.MetricsAddr = maddr
				if withTLS {
					certFile, keyFile, pool := selfSigned(t, t.TempDir())
					c.TLSCert, c.TLSKey = certFile, keyFile
					mc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				}
			})
			status := func(c *http.Client, method, url string, body []byte) int {
				t.Helper()
				req, _ := http.NewRequest(method, url, strings.NewReader(string(body)))
				res, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, url, err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			eventually(t, 15*time.Second, "/readyz 200", func() bool { return status(mc, http.MethodGet, ti.URL+"/readyz", nil) == http.StatusOK })
			if got := status(mc, http.MethodPost, ti.URL+RoutePostlink, signed(t, "success.json", ti.Keys)); got != http.StatusOK {
				t.Fatalf("callback: %d", got)
			}
			if got := status(mc, http.MethodGet, ti.URL+"/metrics", nil); got != http.StatusNotFound {
				t.Errorf("/metrics on the callbacks' port: %d, want 404", got)
			}
			res := get(t, murl+"/metrics")
			if res.status != http.StatusOK {
				t.Fatalf("/metrics on the metrics port: %d", res.status)
			}
			for _, want := range []string{
				`epayflow_ingest_requests_total{code="200",route="/epay/postlink"} 1`,
				`epayflow_ingest_publish_duration_seconds_count 1`,
				`go_goroutines `,
				`process_cpu_seconds_total `,
			} {
				if !strings.Contains(res.body, want) {
					t.Errorf("/metrics on the metrics port lacks %q", want)
				}
			}
			for _, path := range []string{"/livez", "/readyz", RoutePostlink} {
				if got := get(t, murl+path).status; got != http.StatusNotFound {
					t.Errorf("GET %s on the metrics port: %d, want 404 (it serves /metrics alone)", path, got)
				}
			}
			if got := status(client, http.MethodPost, murl+RoutePostlink, signed(t, "success.json", ti.Keys)); got != http.StatusNotFound {
				t.Errorf("callback on the metrics port: %d, want 404", got)
			}
			if err := ti.stop(); err != nil {
				t.Fatalf("Run returned %v after cancel", err)
			}
			for u, c := range map[string]*http.Client{ti.URL + "/livez": mc, murl + "/metrics": client} {
				if res, err := c.Get(u); err == nil {
					res.Body.Close()
					t.Errorf("%s still answers after Run returned", u)
				}
			}
		})
	}
}

func TestMetricsAddrFromFlagsAndEnv(t *testing.T) {
	const keys = "A:a-key-of-at-least-16-bytes"
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	c, err := ParseFlagsTo("ingest", nil, env(map[string]string{"EPAY_SECRET_KEYS": keys}), io.Discard)
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default: %q, %v; want empty (/metrics on -addr)", c.MetricsAddr, err)
	}
	c, err = ParseFlagsTo("ingest", nil, env(map[string]string{"EPAY_SECRET_KEYS": keys, "INGEST_METRICS_ADDR": ":9081"}), io.Discard)
	if err != nil || c.MetricsAddr != ":9081" {
		t.Fatalf("INGEST_METRICS_ADDR: %q, %v", c.MetricsAddr, err)
	}
	c, err = ParseFlagsTo("ingest", []string{"-metrics-addr", "127.0.0.1:9999"}, env(map[string]string{"EPAY_SECRET_KEYS": keys, "INGEST_METRICS_ADDR": ":9081"}), io.Discard)
	if err != nil || c.MetricsAddr != "127.0.0.1:9999" {
		t.Fatalf("the flag must win over the variable: %q, %v", c.MetricsAddr, err)
	}
	var usage strings.Builder
	if _, err := ParseFlagsTo("ingest", []string{"-h"}, env(nil), &usage); !strings.Contains(usage.String(), "INGEST_METRICS_ADDR") {
		t.Errorf("-h (%v) does not name INGEST_METRICS_ADDR:\n%s", err, usage.String())
	}
}

// A metrics address that cannot be bound fails the start, and the callbacks' port is
// let go.
func TestMetricsAddrInUseFailsTheStart(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := DefaultConfig()
	cfg.MetricsAddr = busy.Addr().String()
	cfg.NATSURL = natstest.Start(t).URL()
	cfg.Keys = mustKeyring(t, testKeys)
	// The callbacks' port was free a moment ago; a parallel test may take it before
	// Run binds it. That is not what is tested, so try another (a bounded number of times).
	var addr string
	for range 5 {
		addr = "127.0.0.1:" + strconv.Itoa(proctest.Port(t))
		cfg.Addr = addr
		if err = Run(t.Context(), cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), addr) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Run: %v, want an error naming %s", err, busy.Addr())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the callbacks' address is still held: %v", err)
	}
	ln.Close()
}

// When NATS cannot be set up after the listeners are bound (here a NATS_CA file that
// holds no certificate), the start fails naming it, and both ports are let go.
func TestAFailedNATSSetUpLetsBothListenersGo(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, maddr := "127.0.0.1:"+strconv.Itoa(proctest.Port(t)), "127.0.0.1:"+strconv.Itoa(proctest.Port(t))
	cfg := DefaultConfig()
	cfg.Addr, cfg.MetricsAddr = addr, maddr
	cfg.NATSURL = "nats://127.0.0.1:" + strconv.Itoa(proctest.Port(t))
	cfg.NATS.CA = ca
	cfg.Keys = mustKeyring(t, testKeys)
	err := Run(t.Context(), cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "root certificate") {
		t.Fatalf("Run: %v, want the CA file's error", err)
	}
	for _, a := range []string{addr, maddr} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is still held: %v", a, err)
		}
		ln.Close()
	}
}
