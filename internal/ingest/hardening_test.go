package ingest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
)

func mustCIDRs(t *testing.T, s string) func(*Config) {
	t.Helper()
	p, err := ParseCIDRs(s)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.AllowCIDRs = p }
}

func TestAllowListRefusesOtherSourcesWith403AndCountsThem(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, mustCIDRs(t, "192.0.2.0/24"))
	res := post(t, ti.URL, RoutePostlink, callback(ti.Keys, "100000001", "tx-1", "ok"))
	if res.status != http.StatusForbidden {
		t.Fatalf("from 127.0.0.1 outside the allow-list: %d %s, want 403", res.status, res.body)
	}
	// Without trusted proxies, X-Forwarded-For is no way in.
	res = post(t, ti.URL, RoutePostlink, callback(ti.Keys, "100000001", "tx-1", "ok"), "X-Forwarded-For", "192.0.2.7")
	if res.status != http.StatusForbidden {
		t.Fatalf("spoofed X-Forwarded-For: %d, want 403", res.status)
	}
	if got := ti.metric(t, `epayflow_ingest_rejections_total{reason="forbidden"}`); got != "2" {
		t.Errorf(`rejections_total{reason="forbidden"} = %q, want 2`, got)
	}
	if got := ti.metric(t, `epayflow_ingest_requests_total{code="403",route="/epay/postlink"}`); got != "2" {
		t.Errorf(`requests_total{code="403"} = %q, want 2`, got)
	}
	if got := len(ti.storedMessages(t)); got != 0 {
		t.Errorf("stored %d messages, want none", got)
	}
	if res := get(t, ti.URL+"/readyz"); res.status != http.StatusOK {
		t.Errorf("/readyz is not behind the allow-list: %d", res.status)
	}

	allowed := mustStartIngest(t, mustCIDRs(t, "127.0.0.0/8"))
	if res := post(t, allowed.URL, RoutePostlink, callback(allowed.Keys, "100000001", "tx-1", "ok")); res.status != http.StatusOK {
		t.Fatalf("from an allowed source: %d %s", res.status, res.body)
	}
}

func TestTrustedProxyForwardsTheSourceAddress(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, mustCIDRs(t, "192.0.2.0/24"), func(c *Config) {
		c.TrustedProxies, _ = ParseCIDRs("127.0.0.1")
	})
	body := callback(ti.Keys, "100000002", "tx-2", "ok")
	tests := []struct {
		xff  string
		want int
	}{
		{"192.0.2.7", http.StatusOK},
		{"198.51.100.1", http.StatusForbidden},
		{"192.0.2.7, 198.51.100.1", http.StatusForbidden}, // the client wrote the left entry
		{"garbage", http.StatusForbidden},
		{"", http.StatusForbidden}, // no header: the proxy itself, not allowed
	}
	for _, tt := range tests {
		var res response
		if tt.xff == "" {
			res = post(t, ti.URL, RoutePostlink, body)
		} else {
			res = post(t, ti.URL, RoutePostlink, body, "X-Forwarded-For", tt.xff)
		}
		if res.status != tt.want {
			t.Errorf("X-Forwarded-For %q: %d, want %d", tt.xff, res.status, tt.want)
		}
	}
}

func TestRateLimitAnswers429WithRetryAfterPerSource(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) {
		c.RateLimit, c.RateBurst, c.RateMaxSources = 0.5, 2, 100
		c.TrustedProxies, _ = ParseCIDRs("127.0.0.1")
	})
	body := callback(ti.Keys, "100000003", "tx-3", "ok")
	for i := range 2 {
		if res := post(t, ti.URL, RoutePostlink, body, "X-Forwarded-For", "192.0.2.1"); res.status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i+1, res.status, res.body)
		}
	}
	res := post(t, ti.URL, RoutePostlink, body, "X-Forwarded-For", "192.0.2.1")
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d, want 429", res.status)
	}
	if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 seconds", res.header.Get("Retry-After"))
	}
	if res := post(t, ti.URL, RoutePostlink, body, "X-Forwarded-For", "192.0.2.2"); res.status != http.StatusOK {
		t.Errorf("another source: %d, want 200 (buckets are per source)", res.status)
	}
	if got := ti.metric(t, `epayflow_ingest_rejections_total{reason="rate_limited"}`); got != "1" {
		t.Errorf(`rejections_total{reason="rate_limited"} = %q, want 1`, got)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ingest test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSWhenCertAndKeyAreSet(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ti := mustStartIngestOn(t, startNATS(t), func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	if !strings.HasPrefix(ti.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %q: want https", ti.URL)
	}
	tc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	eventually(t, 15*time.Second, "/readyz over TLS", func() bool {
		res, err := tc.Get(ti.URL + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	res, err := tc.Post(ti.URL+RoutePostlink, "application/json", strings.NewReader(string(callback(ti.Keys, "100000004", "tx-4", "ok"))))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("callback over TLS: %d", res.StatusCode)
	}
	plain := "http://" + strings.TrimPrefix(ti.URL, "https://")
	if res, err := client.Get(plain + "/livez"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200 on the TLS listener")
		}
	}
}

func TestTLSConfigErrorsAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Keys = mustKeyring(t, testKeys)
	cfg.TLSCert = filepath.Join(dir, "missing.pem")
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("cert without key: %v, want ErrConfig", err)
	}
	cfg.TLSKey = filepath.Join(dir, "missing-key.pem")
	cfg.Addr = "127.0.0.1:0"
	err := Run(t.Context(), cfg, testLogger(t))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("missing files: %v, want an ErrConfig naming tls", err)
	}
}

// httpserver sets MaxHeaderBytes to 16 KiB; net/http reads 4 KiB beyond it before it
// refuses, so 8 KiB of headers pass and 32 KiB are refused.
func TestHeadersOver16KiBAre431(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	body := callback(ti.Keys, "100000005", "tx-5", "ok")
	if res := post(t, ti.URL, RoutePostlink, body, "X-Padding", strings.Repeat("a", 8<<10)); res.status != http.StatusOK {
		t.Fatalf("8 KiB header: %d, want 200", res.status)
	}
	if res := post(t, ti.URL, RoutePostlink, body, "X-Padding", strings.Repeat("a", 32<<10)); res.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("32 KiB header: %d, want 431", res.status)
	}
}

// trickle writes prefix, then one byte a second of rest, and returns how long the
// server took to close the connection (or to answer and close it).
func trickle(t *testing.T, addr, prefix, rest string, limit time.Duration) time.Duration {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() { // the server closing is seen as EOF (or a reset) on read
		io.Copy(io.Discard, bufio.NewReader(conn))
		close(closed)
	}()
	conn.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(conn, prefix); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-tick.C:
			if time.Since(start) > limit {
				t.Fatalf("connection still open after %s", limit)
			}
			conn.Write([]byte{rest[i%len(rest)]}) // errors once closed: the reader sees it
		}
	}
}

func TestSlowClientsAreCutOffByTheReadTimeouts(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) {
		c.HTTP = httpserver.Timeouts{ReadHeader: time.Second, Read: 2 * time.Second}
	})
	addr := strings.TrimPrefix(ti.URL, "http://")
	t.Run("headers one byte a second", func(t *testing.T) {
		t.Parallel()
		took := trickle(t, addr, "POST /epay/postlink HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa", 6*time.Second)
		if took > 3*time.Second {
			t.Errorf("closed after %s, want about the 1s read-header timeout", took)
		}
	})
	t.Run("body one byte a second", func(t *testing.T) {
		t.Parallel()
		took := trickle(t, addr, "POST /epay/postlink HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", `{"a":1}`, 8*time.Second)
		if took > 4*time.Second {
			t.Errorf("closed after %s, want about the 2s read timeout", took)
		}
	})
	if got := len(ti.storedMessages(t)); got != 0 {
		t.Errorf("stored %d messages, want none", got)
	}
}

func TestUnverifiedCallbackHasItsOwnMsgIDSoTheVerifiedOneIsStoredToo(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) { c.Policy = PolicyAcceptUnverified })
	good := callback(ti.Keys, "100000006", "tx-6", "ok")
	forged := []byte(strings.Replace(string(good), ti.Keys.Sign(testTerminal, "100000006"), "", 1))
	for _, b := range [][]byte{forged, good, good} {
		if res := post(t, ti.URL, RoutePostlink, b); res.status != http.StatusOK {
			t.Fatalf("%d %s", res.status, res.body)
		}
	}
	msgs := ti.storedMessages(t)
	if len(msgs) != 2 {
		t.Fatalf("stream holds %d messages, want the forged and the real one", len(msgs))
	}
	want := []struct{ id, verified string }{
		{inbox.UnverifiedCallbackMsgID("100000006", "tx-6", "ok"), "false"},
		{inbox.CallbackMsgID("100000006", "tx-6", "ok"), "true"},
	}
	for i, w := range want {
		if got := msgs[i].Header.Get("Nats-Msg-Id"); got != w.id {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", i+1, got, w.id)
		}
		if r, _ := inbox.ReceiptOf(msgs[i].Header); strconv.FormatBool(r.Verified) != w.verified {
			t.Errorf("message %d: receipt %q, want verified %s", i+1, msgs[i].Header.Get(inbox.HeaderReceipt), w.verified)
		}
	}
}
