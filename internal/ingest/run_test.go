package ingest

import (
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

func TestRunServesHealthAndMetricsAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	if !strings.HasPrefix(ti.URL, "http://127.0.0.1:") || strings.HasSuffix(ti.URL, ":0") {
		t.Errorf("URL %q: want the port :0 picked", ti.URL)
	}
	if res := get(t, ti.URL+"/livez"); res.status != http.StatusOK {
		t.Errorf("/livez: %d", res.status)
	}
	if res := get(t, ti.URL+"/readyz"); res.status != http.StatusOK {
		t.Errorf("/readyz: %d %s", res.status, res.body)
	}
	post(t, ti.URL, RoutePostlink, signed(t, "success.json", ti.Keys))
	metrics := get(t, ti.URL+"/metrics").body
	for _, want := range []string{
		`epayflow_ingest_requests_total{code="200",route="/epay/postlink"} 1`,
		`epayflow_ingest_requests_total{code="503",route="/epay/failure-postlink"} 0`,
		`epayflow_ingest_rejections_total{reason="too_large"} 0`,
		`epayflow_ingest_rejections_total{reason="secret_hash_mismatch"} 0`,
		`epayflow_ingest_publish_duration_seconds_bucket{le="0.0005"}`,
		`epayflow_ingest_publish_duration_seconds_count 1`,
		`epayflow_ingest_publish_failures_total{cause="timeout"} 0`,
		`epayflow_ingest_unverified_total{reason="missing"} 0`,
		`epayflow_ingest_duplicates_total 0`,
		`epayflow_ingest_in_flight_requests 0`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
		"go_gc_gogc_percent 400\n", // DefaultGCPercent, set by Run
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	start := time.Now()
	if err := ti.stop(); err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	t.Logf("stopped in %s", time.Since(start))
	if _, err := http.Get(ti.URL + "/livez"); err == nil {
		t.Error("still serving after Run returned")
	}
}

func TestPublishHistogramResolvesHalfAMillisecondToFiveSeconds(t *testing.T) {
	b := publishBuckets()
	if b[0] > 0.0005 || b[len(b)-1] < 5 {
		t.Fatalf("buckets %v do not span 0.5ms..5s", b)
	}
	for i := 1; i < len(b); i++ {
		if b[i]/b[i-1] > 2 {
			t.Errorf("buckets %v and %v are more than a factor 2 apart", b[i-1], b[i])
		}
	}
}

func TestConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	// A key made at run time: EPAY_ENV=prod (below) refuses every key the repository
	// publishes.
	secret := clitest.OwnSecret(t)
	keys := "A:" + secret
	c, lf, err := ParseCommand("ingest", nil, env("EPAY_SECRET_KEYS", keys, "EPAY_SHARDS", "16",
		"EPAY_SECRET_HASH_POLICY", "accept-unverified", "NATS_STREAM_REPLICAS", "3", "NATS_DUPLICATE_WINDOW", "1h",
		"INGEST_ADDR", ":9999", "INGEST_PUBLISH_TIMEOUT", "750ms", "LOG_FORMAT", "text"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Shards != 16 || c.Policy != PolicyAcceptUnverified || c.Streams.Replicas != 3 || c.Streams.DuplicateWindow != time.Hour ||
		c.Addr != ":9999" || c.PublishTimeout != 750*time.Millisecond || lf.Format != "text" || c.Keys.KeyIDs() != "A" {
		t.Errorf("config from env: %+v", c)
	}
	c, err = ParseFlagsTo("ingest", []string{"-shards", "4", "-secret-hash-policy", "require"}, env("EPAY_SECRET_KEYS", keys, "EPAY_SHARDS", "16", "EPAY_SECRET_HASH_POLICY", "accept-unverified"), io.Discard)
	if err != nil || c.Shards != 4 || c.Policy != PolicyRequire {
		t.Errorf("flags must win over env: %+v, %v", c, err)
	}
	c, err = ParseFlagsTo("ingest", nil, env("EPAY_SECRET_KEYS", keys, "EPAY_ENV", "prod", "INGEST_ALLOW_CIDRS", "192.0.2.0/24,198.51.100.7",
		"INGEST_TRUSTED_PROXIES", "10.0.0.0/8", "INGEST_RATE_LIMIT", "50", "INGEST_READ_HEADER_TIMEOUT", "2s"), io.Discard)
	if err != nil || len(c.AllowCIDRs) != 2 || len(c.TrustedProxies) != 1 || c.RateLimit != 50 || c.RateBurst != 500 || c.HTTP.ReadHeader != 2*time.Second || c.Env != epay.EnvProd {
		t.Errorf("hardening from env: %+v, %v", c, err)
	}
	d := DefaultConfig()
	if d.Addr != ":8081" || d.NATSURL != "nats://127.0.0.1:4222" || d.Shards != inbox.DefaultShards || d.Policy != PolicyRequire || d.PublishTimeout != 2*time.Second ||
		d.GCPercent != DefaultGCPercent {
		t.Errorf("defaults: %+v", d)
	}
	// GOGC is the runtime's own variable: when it is set, the ingest keeps it.
	for v, want := range map[string]int{"": DefaultGCPercent, "100": 100, "off": -1, "1": 1} {
		c, err := ParseFlagsTo("ingest", nil, env("EPAY_SECRET_KEYS", keys, "GOGC", v), io.Discard)
		if err != nil || c.GCPercent != want {
			t.Errorf("GOGC=%q: %d %v, want %d", v, c.GCPercent, err, want)
		}
	}
	if c, err := ParseFlagsTo("ingest", []string{"-gogc", "200"}, env("EPAY_SECRET_KEYS", keys, "GOGC", "100"), io.Discard); err != nil || c.GCPercent != 200 {
		t.Errorf("-gogc 200 over GOGC=100: %d %v", c.GCPercent, err)
	}

	bad := []struct {
		args []string
		env  []string
	}{
		{nil, nil}, // no keys
		{[]string{"-shards", "0"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-shards", "1025"}, []string{"EPAY_SECRET_KEYS", keys}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "EPAY_SHARDS", "many"}},
		{[]string{"-secret-hash-policy", "maybe"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-publish-timeout", "0s"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-publish-timeout", "1m"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-stream-replicas", "0"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-duplicate-window", "10ms"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-log-format", "xml"}, []string{"EPAY_SECRET_KEYS", keys}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "GOGC", "0"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "GOGC", "-50"}},
		{[]string{"-gogc", "lots"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-log-level", "loud"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-addr", ""}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"-no-such-flag"}, []string{"EPAY_SECRET_KEYS", keys}},
		{[]string{"extra"}, []string{"EPAY_SECRET_KEYS", keys}},
		{nil, []string{"EPAY_SECRET_KEYS", "A:tiny-Secret"}},
		{nil, []string{"EPAY_SECRET_KEYS", "a-secret-without-an-id-at-all"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "EPAY_ENV", "production"}},
		{nil, []string{"EPAY_SECRET_KEYS", "D:dev-only-signing-key-do-not-use-in-prod", "EPAY_ENV", "prod"}},
		{nil, []string{"EPAY_SECRET_KEYS", "B:" + secret + ",A:dev-only-change-me-0123", "EPAY_ENV", "prod"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_ALLOW_CIDRS", "10.0.0.0/33"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_TRUSTED_PROXIES", "proxy.local"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_RATE_LIMIT", "-1"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_RATE_LIMIT", "NaN"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_RATE_LIMIT", "10", "INGEST_RATE_BURST", "-5"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_TLS_CERT", "/etc/cert.pem"}},
		{nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_READ_TIMEOUT", "-1s"}},
	}
	for _, b := range bad {
		_, err := ParseFlagsTo("ingest", b.args, env(b.env...), io.Discard)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("args %q env %q: %v, want ErrConfig", b.args, b.env, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, secret) || strings.Contains(msg, "tiny-Secret") || strings.Contains(msg, "a-secret-without") ||
			strings.Contains(msg, "do-not-use") || strings.Contains(msg, "change-me") {
			t.Errorf("error %q is not one line or shows a secret", msg)
		}
	}
	var usage strings.Builder
	if _, err := ParseFlagsTo("ingest", []string{"-h"}, env(), &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, v := range []string{"INGEST_ADDR", "NATS_URL", "EPAY_SECRET_KEYS", "EPAY_SHARDS", "EPAY_SECRET_HASH_POLICY",
		"INGEST_PUBLISH_TIMEOUT", "NATS_STREAM_REPLICAS", "NATS_DUPLICATE_WINDOW", "LOG_FORMAT", "LOG_LEVEL",
		"EPAY_ENV", "INGEST_ALLOW_CIDRS", "INGEST_TRUSTED_PROXIES", "INGEST_RATE_LIMIT", "INGEST_RATE_BURST", "INGEST_TLS_CERT", "INGEST_TLS_KEY",
		"INGEST_READ_HEADER_TIMEOUT", "INGEST_READ_TIMEOUT"} {
		if !strings.Contains(usage.String(), v) {
			t.Errorf("-h does not name %s", v)
		}
	}
}
