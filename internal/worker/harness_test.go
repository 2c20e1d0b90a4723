package worker

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/merchant"
)

const sampleTerminal = "67e34d63-102f-4bd1-898e-370781d0074d"

// env is one embedded NATS server, a client on it and a worker database path.
type env struct {
	t   *testing.T
	ns  *natstest.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	db  string
	log *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := natstest.Start(t)
	js := natstest.JetStream(t, ns.URL())
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("WORKER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return &env{t: t, ns: ns, nc: nc, js: js, db: filepath.Join(t.TempDir(), "worker.db"), log: log}
}

// running is a worker started by start.
type running struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

func (e *env) config() Config {
	cfg := DefaultConfig()
	cfg.Addr, cfg.DB, cfg.NATSURL = "127.0.0.1:0", e.db, e.ns.URL()
	cfg.OwnShards, _ = ParseShards("all", cfg.Shards)
	cfg.AckWait, cfg.SampleEvery = 2*time.Second, 100*time.Millisecond
	cfg.Keys = testKeys
	// one status key for every worker of a test, as the Secret worker-status-key gives
	// them (EPAY_STATE records another worker signed are adopted only with it)
	cfg.StatusKey = testStatusKey
	cfg.EventsKey = testEventsKey
	cfg.ReadKeys, _ = ParseReadKeys("tests:pii:" + testReadKey + ",support:read:" + testSupportKey)
	return cfg
}

// The tests' read API keys: one with the pii scope (get uses it), one with read only.
const (
	testReadKey    = "worker-tests-read-key-pii"
	testSupportKey = "worker-tests-read-key-support"
)

// testKeys is the tests' secret_hash keyring (the ingest's and the worker's).
var testKeys = func() *epay.Keyring {
	k, err := epay.ParseKeyring("A:worker-test-signing-key-01")
	if err != nil {
		panic(err)
	}
	return k
}()

// signed is raw with a valid secret_hash for its terminal and invoiceId (unless it has
// one already): what ePay sends back for a payment the merchant started.
func signed(t testing.TB, raw []byte) []byte {
	t.Helper()
	cb, err := epay.DecodeCallback(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cb.SecretHash != "" {
		return raw
	}
	i := bytes.IndexByte(raw, '{')
	return append(append(append([]byte(nil), raw[:i+1]...), `"secret_hash":"`+testKeys.Sign(cb.Terminal, cb.InvoiceID)+`",`...), raw[i+1:]...)
}

// start runs a worker with cfg until the test ends or stop, and waits until /readyz is 200.
func (e *env) start(cfg Config) *running {
	e.t.Helper()
	r := e.startListening(cfg)
	waitFor(e.t, 10*time.Second, "worker ready", func() bool {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

// startListening is start without waiting for /readyz.
func (e *env) startListening(cfg Config) *running {
	e.t.Helper()
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httpserver.WithListenHook(ctx, func(u string) { urls <- u })
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, cfg, e.log) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	select {
	case r.url = <-urls:
	case err := <-r.done:
		e.t.Fatalf("worker did not start: %v", err)
	case <-time.After(10 * time.Second):
		e.t.Fatal("worker did not listen within 10s")
	}
	return r
}

// stop cancels the worker and waits for Run to return.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop within 30s")
		return nil
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publishCreated publishes invoice.created the way the initiator does: signed with
// the keyring (testKeys), under its Nats-Msg-Id.
func (e *env) publishCreated(c invoice.Created) {
	e.t.Helper()
	body, _ := json.Marshal(c)
	e.publish(signedCreated(&nats.Msg{Subject: inbox.Subject(inbox.Shard(c.InvoiceID, inbox.DefaultShards), inbox.KindInvoice), Data: body}, c.InvoiceID))
}

// signedCreated gives msg, an invoice.created of invoice id, the initiator's signature
// (testKeys) and Nats-Msg-Id.
func signedCreated(msg *nats.Msg, id string) *nats.Msg {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header.Set(nats.MsgIdHdr, inbox.CreatedNatsMsgID(testKeys, id))
	msg.Header.Set(inbox.HeaderCreatedSignature, inbox.SignCreated(testKeys, msg.Subject, msg.Data))
	return msg
}

// callbackMsg builds a callback message the way the ingest does; msgIDSuffix lets a
// test send the same callback under another Nats-Msg-Id.
func callbackMsg(t testing.TB, raw []byte, verified bool, msgIDSuffix string) *nats.Msg {
	t.Helper()
	return callbackReceivedAt(t, raw, verified, msgIDSuffix, time.Now())
}

// callbackReceivedAt is callbackMsg with a receipt of the ingest's dated at.
func callbackReceivedAt(t testing.TB, raw []byte, verified bool, msgIDSuffix string, at time.Time) *nats.Msg {
	t.Helper()
	if verified {
		raw = signed(t, raw)
	}
	cb, err := epay.DecodeCallback(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := inbox.NewBuilder(inbox.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	msg := b.Callback(cb, inbox.Receipt{Route: "/epay/postlink", RemoteAddr: "127.0.0.1:5555",
		RequestID: "req-" + cb.InvoiceID + "-" + cb.ID, At: at, Verified: verified})
	msg.Header.Set(nats.MsgIdHdr, msg.Header.Get(nats.MsgIdHdr)+msgIDSuffix)
	return msg
}

// publish puts msg on the inbox as the ingest, the initiator and the checker do: with
// Nats-Expected-Stream, a header the stored message keeps.
func (e *env) publish(msg *nats.Msg) {
	e.t.Helper()
	if err := e.tryPublish(msg); err != nil {
		e.t.Fatalf("publish %s: %v", msg.Subject, err)
	}
}

// tryPublish is publish for goroutines other than the test's: it returns the error.
func (e *env) tryPublish(msg *nats.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg = &nats.Msg{Subject: msg.Subject, Header: cloneHeader(msg.Header), Data: msg.Data} // the option writes a header: not into the caller's
	_, err := e.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(inbox.Stream))
	return err
}

// events returns every message on PAYMENT_EVENTS, decoded.
func (e *env) events() []events.CloudEvent {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamEvents)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []events.CloudEvent
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatalf("event %d: %v", seq, err)
		}
		var ce events.CloudEvent
		if err := json.Unmarshal(raw.Data, &ce); err != nil {
			e.t.Fatalf("event %d is not a CloudEvent: %v", seq, err)
		}
		if raw.Header.Get(nats.MsgIdHdr) != ce.ID || raw.Subject != events.Subject(invoice.EventType(strings.TrimPrefix(ce.Type, events.TypePrefix))) {
			e.t.Fatalf("event %d: Nats-Msg-Id %q subject %q for %+v", seq, raw.Header.Get(nats.MsgIdHdr), raw.Subject, ce)
		}
		if raw.Header.Get(events.HeaderSignature) != "" { // a worker's (a test's own relay may sign none)
			if _, err := testEventVerifier(e.t).Verify(raw.Header, raw.Data); err != nil {
				e.t.Fatalf("event %d (%s): %v", seq, ce.ID, err)
			}
		}
		out = append(out, ce)
	}
	return out
}

// testEventsKey signs the events of the tests' workers (WORKER_EVENTS_KEY).
const testEventsKey = "whsk_dGVzdHMtZXZlbnRzLWtleS0wMTIzNDU2Nzg5YWJjZGU="

// testEventVerifier verifies events with testEventsKey's public key, as a subscriber does.
func testEventVerifier(t testing.TB) *merchant.EventVerifier {
	t.Helper()
	s, err := events.ParseSigningKey(testEventsKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := merchant.NewEventVerifier(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// eventCount is how many messages PAYMENT_EVENTS holds.
func (e *env) eventCount() uint64 { return streamMsgs(e.js, natsbus.StreamEvents) }

// streamMsgs is how many messages stream name holds (0 when it cannot be read).
func streamMsgs(js jetstream.JetStream, name string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// get reads GET /v1/invoices/{id} with the pii key; status and decoded body.
func get(t testing.TB, base, id string) (int, InvoiceResponse) {
	t.Helper()
	return getAs(t, base, id, testReadKey)
}

// getAs is get with key ("" for none).
func getAs(t testing.TB, base, id, key string) (int, InvoiceResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/invoices/"+id, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body InvoiceResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, body
}

func waitState(t testing.TB, base, id string, want invoice.State) InvoiceResponse {
	t.Helper()
	var last InvoiceResponse
	waitFor(t, 20*time.Second, "invoice "+id+" "+string(want), func() bool {
		code, body := get(t, base, id)
		last = body
		return code == http.StatusOK && body.State == want
	})
	return last
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "epay", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func createdFor(id string, amount epay.Amount) invoice.Created {
	return invoice.Created{InvoiceID: id, Kind: "payment", Amount: amount, Currency: "KZT", Terminal: sampleTerminal, CreatedAt: time.Now().UTC()}
}

// withState is a test env whose EPAY_STATE exists, and a context bounded by timeout,
// canceled when the test ends: the changelog tests' start.
func withState(t *testing.T, timeout time.Duration) (*env, context.Context) {
	t.Helper()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	if err := natsbus.EnsureStreams(ctx, e.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamState); err != nil {
		t.Fatal(err)
	}
	return e, ctx
}
