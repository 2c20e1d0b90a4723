package ingest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

const (
	testKeys     = "A:ingest-test-signing-key-000001,B:ingest-test-signing-key-000002"
	testTerminal = "67e34d63-102f-4bd1-898e-370781d0074d" // the terminal of both samples
)

// testIngest is a running ingest on a real embedded JetStream.
type testIngest struct {
	URL  string
	NATS *natstest.Server
	Keys *epay.Keyring
	js   jetstream.JetStream
	stop func() error // cancels Run and returns its error
}

// mustStartIngest starts NATS and an ingest on :0, waits until it is ready, and stops
// both when the test ends. edit may change the config before the start.
func mustStartIngest(t testing.TB, edit ...func(*Config)) *testIngest {
	t.Helper()
	ti := mustStartIngestOn(t, startNATS(t), edit...)
	ti.waitReady(t)
	return ti
}

// startNATS starts NATS with EPAY_INBOX made, as the worker makes it at its start (the
// ingest only binds to it).
func startNATS(t testing.TB) *natstest.Server {
	t.Helper()
	ns := natstest.Start(t)
	ns.EnsureAll(t)
	return ns
}

// mustStartIngestOn starts an ingest on ns, which may be down, without waiting for ready.
func mustStartIngestOn(t testing.TB, ns *natstest.Server, edit ...func(*Config)) *testIngest {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.NATSURL = ns.URL()
	cfg.Keys = mustKeyring(t, testKeys)
	cfg.PublishTimeout = time.Second
	for _, e := range edit {
		e(&cfg)
	}
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httpserver.WithListenHook(ctx, func(u string) { urls <- u })
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, testLogger(t)) }()
	ti := &testIngest{NATS: ns, Keys: cfg.Keys, js: mustJetStream(t, ns)}
	select {
	case ti.URL = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("ingest did not listen within 10s")
	}
	stopped := false
	ti.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of cancel")
			return nil
		}
	}
	t.Cleanup(func() {
		if err := ti.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ti
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func mustKeyring(t testing.TB, spec string) *epay.Keyring {
	t.Helper()
	k, err := epay.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustJetStream is a separate client connection, for the test to look at the stream.
func mustJetStream(t testing.TB, ns *natstest.Server) jetstream.JetStream {
	t.Helper()
	return natstest.JetStream(t, ns.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
}

// sample returns one of epay's verbatim sample callbacks.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "epay", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withField puts `"key": value` first in a JSON object body, leaving the rest verbatim.
func withField(body []byte, key, value string) []byte {
	i := bytes.IndexByte(body, '{')
	out := append([]byte(nil), body[:i+1]...)
	out = append(out, `"`+key+`":`+value+`,`...)
	return append(out, body[i+1:]...)
}

// signed is the sample with the secret_hash its terminal and invoiceId earn under keys.
func signed(t testing.TB, name string, keys *epay.Keyring) []byte {
	t.Helper()
	body := sample(t, name)
	c, err := epay.DecodeCallback(body)
	if err != nil {
		t.Fatal(err)
	}
	return withField(body, "secret_hash", `"`+keys.Sign(c.Terminal, c.InvoiceID)+`"`)
}

// callback builds a signed callback for invoiceID and transaction id.
func callback(keys *epay.Keyring, invoiceID, id, code string) []byte {
	return []byte(`{"id":"` + id + `","invoiceId":"` + invoiceID + `","amount":100,"currency":"KZT","code":"` + code +
		`","terminal":"` + testTerminal + `","secret_hash":"` + keys.Sign(testTerminal, invoiceID) + `"}`)
}

var client = &http.Client{Timeout: 15 * time.Second}

type response struct {
	status int
	body   string
	header http.Header
}

// post sends body to the route and returns the answer; a transport error fails the test.
func post(t testing.TB, base, route string, body []byte, header ...string) response {
	t.Helper()
	r, err := tryPost(base, route, body, header...)
	if err != nil {
		t.Fatalf("POST %s: %v", route, err)
	}
	return r
}

func tryPost(base, route string, body []byte, header ...string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, base+route, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: string(b), header: res.Header}, err
}

func get(t testing.TB, url string) response {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: string(b), header: res.Header}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedMessages reads every message of EPAY_INBOX, in order.
func (ti *testIngest) storedMessages(t testing.TB) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := ti.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// waitReady waits until /readyz says the ingest can store callbacks.
func (ti *testIngest) waitReady(t testing.TB) {
	t.Helper()
	eventually(t, 15*time.Second, "/readyz 200", func() bool { return get(t, ti.URL+"/readyz").status == http.StatusOK })
}

// metric returns the value of one series on /metrics, such as
// `epayflow_ingest_rejections_total{reason="bad_json"}`, or "" when absent.
func (ti *testIngest) metric(t testing.TB, series string) string {
	t.Helper()
	for _, line := range strings.Split(get(t, ti.URL+"/metrics").body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
