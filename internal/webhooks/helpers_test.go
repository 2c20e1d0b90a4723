package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/webhooks"
	"github.com/epayflow/epayflow/merchant"
)

const apiKey = "test-api-key-0123456789"

// stack is a secured embedded NATS with PAYMENT_EVENTS, the webhooks service running as
// its own user, and a worker connection that publishes events.
type stack struct {
	api    string // the webhooks API's base URL
	worker jetstream.JetStream
	// streams is the streams identity (`worker streams`), the only one that may change a
	// stream or bucket
	streams jetstream.JetStream
	nats    string
	auth    map[natsbus.Role]natsbus.Auth
	cfg     webhooks.Config
	stop    func() // stops the service
}

// startStack runs the service with cfg (NATS and API fields filled in), on a NATS with
// the roles' users and extra.
func startStack(t *testing.T, cfg webhooks.Config, extra ...natsembed.User) *stack {
	t.Helper()
	users, auth := natsembed.RoleUsers()
	ns, err := natsembed.Start(natsembed.Config{Dir: t.TempDir(), Port: -1, Users: append(users, extra...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	s := &stack{nats: ns.ClientURL(), auth: auth}
	nc, err := natsbus.ConnectAs(s.nats, "test-worker", natsbus.RoleWorker, auth[natsbus.RoleWorker], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s.worker, _ = jetstream.New(nc)
	snc, err := natsbus.ConnectAs(s.nats, "test-streams", natsbus.RoleStreams, auth[natsbus.RoleStreams], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snc.Close)
	s.streams, _ = jetstream.New(snc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureAll(ctx, s.streams, nil, natsbus.DefaultStreamsConfig()); err != nil { // what `worker streams` makes
		t.Fatal(err)
	}

	if cfg.Events == nil { // every test's events are the workers', signed (publish)
		cfg.Events = testEventVerifier(t)
	}
	if cfg.SecretsKey == nil { // and every test's secrets sealed, as in prod
		cfg.SecretsKey = []byte("tests-webhooks-secrets-key-0123!")
	}
	s.cfg = cfg
	s.stop = s.run(t)
	return s
}

// testEventsKey signs the tests' events as the workers' WORKER_EVENTS_KEY does.
const testEventsKey = "whsk_dGVzdHMtZXZlbnRzLWtleS0wMTIzNDU2Nzg5YWJjZGU="

func testEventSigner(t testing.TB) events.Signer {
	t.Helper()
	s, err := events.ParseSigningKey(testEventsKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testEventVerifier verifies with testEventsKey's public key (WEBHOOKS_EVENTS_PUBLIC_KEYS).
func testEventVerifier(t testing.TB) *merchant.EventVerifier {
	t.Helper()
	v, err := merchant.NewEventVerifier(testEventSigner(t).PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signedEvent is the message of a CloudEvent as a worker publishes it, signed by signer.
func signedEvent(signer events.Signer, ce events.CloudEvent) *nats.Msg {
	b, _ := json.Marshal(ce)
	msg := &nats.Msg{Subject: "payments." + strings.TrimPrefix(ce.Type, events.TypePrefix), Header: nats.Header{}, Data: b}
	msg.Header.Set(nats.MsgIdHdr, ce.ID)
	msg.Header.Set(events.HeaderID, ce.ID)
	msg.Header.Set(events.HeaderTimestamp, strconv.FormatInt(ce.Time.Unix(), 10))
	msg.Header.Set(events.HeaderSignature, signer.Sign(ce.ID, ce.Time.Unix(), b))
	return msg
}

// asWebhooks connects as the webhooks user (closed when the test ends).
func (s *stack) asWebhooks(t *testing.T, name string) jetstream.JetStream {
	t.Helper()
	nc, err := natsbus.ConnectAs(s.nats, name, natsbus.RoleWebhooks, s.auth[natsbus.RoleWebhooks], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return js
}

// bucketWrites makes the bucket refuse every write (false: its values may be no larger
// than a byte), or take them again (true), as the streams identity, which owns its
// configuration.
func (s *stack) bucketWrites(t *testing.T, on bool) {
	t.Helper()
	js := s.streams // the bucket's owner: the webhooks user may not change a stream, nor the worker
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	str, err := js.Stream(ctx, "KV_"+webhooks.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	c := str.CachedInfo().Config
	c.MaxMsgSize = -1
	if !on {
		c.MaxMsgSize = 1
	}
	if _, err := js.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// run starts the service and returns what stops it (also called when the test ends).
func (s *stack) run(t *testing.T) (stop func()) {
	t.Helper()
	cancel, done := s.start(t)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// start starts the service, waits for its API to listen, and returns what cancels Run's
// context and where Run's error comes.
func (s *stack) start(t *testing.T) (cancel func(), done <-chan error) {
	t.Helper()
	cfg := s.cfg
	cfg.NATSURL, cfg.Auth, cfg.Addr, cfg.APIKeys = s.nats, s.auth[natsbus.RoleWebhooks], "127.0.0.1:0", []string{apiKey}
	runCtx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	runCtx = httpserver.WithListenHook(runCtx, func(u string) { urls <- u })
	ended := make(chan error, 1)
	go func() { ended <- webhooks.Run(runCtx, cfg, testLog(t)) }()
	select {
	case s.api = <-urls:
	case err := <-ended:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("webhooks did not listen")
	}
	return cancel, ended
}

// testConfig allows loopback receivers and retries within milliseconds.
func testConfig() webhooks.Config {
	return webhooks.Config{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AllowHTTP: true,
		Timeout: 2 * time.Second, Schedule: []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond},
		BreakerThreshold: 100, Jitter: 0.1}
}

// call makes an API request and decodes the answer into out (when not nil).
func (s *stack) call(t *testing.T, method, path string, in, out any) (int, []byte) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.api+path, body)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, b
}

// register registers url for all events and returns the endpoint id and its secret.
func (s *stack) register(t *testing.T, url string, types ...string) (string, string) {
	t.Helper()
	var c webhooks.Created
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints", webhooks.NewEndpoint{URL: url, EventTypes: types}, &c); code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, b)
	}
	return c.ID, c.Secret
}

// publish publishes a payment event of invoice inv as the worker does.
func (s *stack) publish(t *testing.T, id, typ, inv string) {
	t.Helper()
	ce := events.CloudEvent{SpecVersion: "1.0", ID: id, Source: "test", Type: events.TypePrefix + typ, Time: time.Now().UTC(),
		Subject: inv, DataContentType: "application/json", Data: events.Data{Invoice: events.View{InvoiceID: inv}}}
	msg := signedEvent(testEventSigner(t), ce)
	msg.Header.Del(nats.MsgIdHdr) // as before: the tests publish some ids twice
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.worker.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
}

// receiver is an HTTP endpoint that records every request and answers with status(n),
// n counting its requests from 1.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	status func(n int, r request) int
}

type request struct {
	Header http.Header
	Body   []byte
	Status int
}

func newReceiver(t *testing.T, status func(n int, r request) int) *receiver {
	t.Helper()
	rc := &receiver{status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		req := request{Header: r.Header.Clone(), Body: b}
		req.Status = rc.status(len(rc.got)+1, req)
		rc.got = append(rc.got, req)
		rc.mu.Unlock()
		w.WriteHeader(req.Status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// delivered are the webhook-ids answered 2xx, in order.
func (rc *receiver) delivered() []string {
	var out []string
	for _, r := range rc.requests() {
		if r.Status/100 == 2 {
			out = append(out, r.Header.Get("webhook-id"))
		}
	}
	return out
}

// waitSettled waits until the service's consumer holds nothing undelivered or delivered
// and not acked: every event published so far was handled and its attempt logged.
func (s *stack) waitSettled(t *testing.T) {
	t.Helper()
	durable := s.cfg.Durable
	if durable == "" {
		durable = "webhooks"
	}
	js := s.asWebhooks(t, "test-settled")
	waitFor(t, "every event settled", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, events.Stream, durable)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errNo = errors.New("no")

func splitHostPort(u string) (string, string, error) {
	i := len("http://")
	host, port, ok := strings.Cut(u[i:], ":")
	if !ok {
		return "", "", errNo
	}
	return host, port, nil
}

// testLog logs to the test at warn level and above.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
