package initiator

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoiceid"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// testAPIKey and testShopKey are the API keys (INITIATOR_API_KEYS) of the tests in the
// sandbox; testShopKey is just the second one. Published here, EPAY_ENV=prod refuses
// both: a test in prod makes its keys at run time (withOwnKeys).
const (
	testAPIKey  = "merchant-key-0123456789"
	testShopKey = "shop-key-abcdefghijklmnop"
	// testOperateKey may also refund, charge and cancel (INITIATOR_OPERATE_KEYS).
	testOperateKey = "operate-key-0123456789abc"
	testBaseURL    = "https://ingest.example.kz"
	testPayform    = "https://test-epay.homebank.kz/redesign-payform/payment-api.js"
	testShards     = 8
	testTerminal   = "67e34d63-102f-4bd1-898e-370781d0074d"
	tokenAnswer    = `{"access_token":"DCEB8O_ZM5U7SO_T_U5EJQ","expires_in": 7200,"refresh_token":"","scope":"payment","token_type":"Bearer"}`
)

// fakeEPay is ePay's token endpoint in-process: it records each form and answers with
// the handler the test set.
type fakeEPay struct {
	*httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	answer http.HandlerFunc
}

func startFakeEPay(t *testing.T, answer http.HandlerFunc) *fakeEPay {
	t.Helper()
	f := &fakeEPay{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.forms = append(f.forms, form)
		h := f.answer
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEPay) requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.forms...)
}

func answerWith(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// testEnv is an initiator in-process on real NATS and a fake ePay.
type testEnv struct {
	nats    *natstest.Server
	js      jetstream.JetStream
	epay    *fakeEPay
	keyring *epay.Keyring
	cfg     Config
	svc     *Service
	handler http.Handler
	reg     *prometheus.Registry
	metrics *Metrics
	logs    *bytes.Buffer
}

func mustKeyring(t *testing.T) *epay.Keyring {
	t.Helper()
	kr, err := epay.ParseKeyring("K:0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func testConfig(t *testing.T, epayURL string) Config {
	t.Helper()
	return Config{
		Addr: "127.0.0.1:0", EPayEnv: epay.EnvTest,
		EPay: epayapi.Config{
			TokenURL: epayURL + "/oauth2/token", APIURL: epayURL, ClientID: "test",
			ClientSecret: TestClientSecret, Terminal: testTerminal,
			Timeout: 150 * time.Millisecond, MaxAttempts: 2, BackoffBase: time.Millisecond,
		},
		PayformJSURL: testPayform, PublicBaseURL: testBaseURL, PublicURL: "https://shop.example.kz",
		APIKeys: []epayapi.Secret{testAPIKey, testShopKey}, Keyring: mustKeyring(t), Shards: testShards,
		Shop: true, IDs: defaultIDs(), Streams: natsbus.DefaultStreamsConfig(),
		PublishTimeout: 2 * time.Second, BackLinkHosts: []string{"example.kz", "shop.example.kz"},
	}
}

// startEnv wires the service as Run does, but in-process, so tests can watch the
// response being written. withStream false leaves EPAY_INBOX missing.
func startEnv(t *testing.T, answer http.HandlerFunc, withStream bool) *testEnv {
	t.Helper()
	e := &testEnv{nats: natstest.Start(t), epay: startFakeEPay(t, answer), logs: &bytes.Buffer{}}
	e.cfg = testConfig(t, e.epay.URL)
	e.cfg.NATSURL = e.nats.URL()
	e.keyring = e.cfg.Keyring
	nc, err := nats.Connect(e.nats.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if e.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	// What the worker makes at its start: the buckets, and EPAY_INBOX unless withStream
	// is false.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureBuckets(ctx, e.js, nil, e.cfg.Streams, natsbus.SequenceBucket, natsbus.IdempotencyBucket); err != nil {
		t.Fatal(err)
	}
	if withStream {
		if err := natsbus.EnsureStreams(ctx, e.js, nil, e.cfg.Streams, natsbus.StreamInbox); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.reg = prometheus.NewRegistry()
	client, err := epayapi.New(e.cfg.EPay, epayapi.NewMetrics(e.reg), log)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := invoiceid.New(e.js, invoiceid.Config{ReserveTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = &Service{
		IDs: ids, Tokens: client, Bus: e.js, Keyring: e.keyring, Terminal: testTerminal, Msgs: mustBuilder(t, testShards),
		PublicBaseURL: testBaseURL, PublicURL: e.cfg.PublicURL, PayformJSURL: testPayform,
		PublishTimeout: e.cfg.PublishTimeout, Now: time.Now, Keys: &kvKeys{js: e.js, keyring: e.keyring},
		BackLinkHosts: e.cfg.BackLinkHosts,
	}
	e.metrics = NewMetrics(e.reg)
	e.handler = NewHandler(e.svc, e.cfg, e.metrics, log, e.reg, nil)
	return e
}

// post sends POST /v1/payments in-process with the merchant key.
func (e *testEnv) post(t *testing.T, body string) *httptest.ResponseRecorder {
	t.Helper()
	return e.do(t, http.MethodPost, "/v1/payments", body, "Bearer "+testAPIKey)
}

func (e *testEnv) do(t *testing.T, method, path, body, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// inboxMessages returns how many messages EPAY_INBOX holds.
func (e *testEnv) inboxMessages(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func mustBuilder(t testing.TB, shards int) *inbox.Builder {
	t.Helper()
	b, err := inbox.NewBuilder(shards)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
