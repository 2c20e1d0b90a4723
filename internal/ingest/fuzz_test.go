package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// recorder is a publisher that keeps what it is given and acknowledges it, for tests of
// the handler's decisions alone (the NATS side is tested against a real server).
type recorder struct {
	mu   sync.Mutex
	msgs []*nats.Msg
	err  error
}

func (r *recorder) PublishMsg(_ context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	r.msgs = append(r.msgs, &nats.Msg{Subject: msg.Subject, Data: bytes.Clone(msg.Data), Header: msg.Header})
	return &jetstream.PubAck{Stream: natsbus.StreamInbox, Sequence: uint64(len(r.msgs))}, nil
}

func (r *recorder) take() []*nats.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

func newTestHandler(t testing.TB, policy Policy, pub publisher) *handler {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := inbox.NewBuilder(inbox.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	cfg := handlerConfig{Keys: mustKeyring(t, testKeys), Policy: policy, Msgs: msgs, PublishTimeout: time.Second}
	return newHandler(RoutePostlink, cfg, pub, m, testLogger(t))
}

func serve(h http.Handler, body []byte) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, RoutePostlink, bytes.NewReader(body)))
	return w
}

// FuzzIngestBody posts outside input to the handler: it must never panic, never answer
// 200 for a callback whose secret_hash does not verify, and publish exactly the body it
// answered 200 for, and nothing else.
func FuzzIngestBody(f *testing.F) {
	keys := mustKeyring(f, testKeys)
	f.Add(signed(f, "success.json", keys))
	f.Add(signed(f, "failure.json", keys))
	f.Add(sample(f, "success.json"))
	f.Add(callback(keys, "123456789", "tx-1", "ok"))
	f.Add(callback(keys, "123456789", "tx-1", "ok\n"))
	f.Add(withField(signed(f, "success.json", keys), "InvoiceId", `"987654321"`))
	f.Add([]byte(`{"invoiceId":"123456789","id":"x","secret_hash":"AAAAAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	rec := &recorder{}
	h := newTestHandler(f, PolicyRequire, rec)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := serve(h, body)
		published := rec.take()
		switch w.Code {
		case http.StatusOK:
			c, err := epay.DecodeCallback(body)
			if err != nil {
				t.Fatalf("200 for a body that does not decode: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("200 for a callback that does not validate: %v", err)
			}
			if err := keys.Verify(c.Terminal, c.InvoiceID, c.SecretHash); err != nil {
				t.Fatalf("200 without a valid secret_hash: %v", err)
			}
			if len(published) != 1 || !bytes.Equal(published[0].Data, body) {
				t.Fatalf("200 and %d messages published", len(published))
			}
			if r, ok := inbox.ReceiptOf(published[0].Header); !ok || !r.Verified {
				t.Fatalf("receipt %q: want verified", published[0].Header.Get(inbox.HeaderReceipt))
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			if len(published) != 0 {
				t.Fatalf("%d and a message published", w.Code)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestPublishErrorsAre503WithRetryAfter(t *testing.T) {
	keys := mustKeyring(t, testKeys)
	tests := []struct {
		err   error
		cause string
	}{
		{errNATSDown, "nats_down"},
		{nats.ErrConnectionClosed, "nats_down"},
		{context.DeadlineExceeded, "timeout"},
		{nats.ErrTimeout, "timeout"},
		{context.Canceled, "canceled"},
		{jetstream.ErrNoStreamResponse, "no_stream"},
		{jetstream.ErrStreamNotFound, "no_stream"},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}, "refused"},
		{fmt.Errorf("%w: 16 recorded", natsbus.ErrShardsDiffer), "shards_differ"},
		{jetstream.ErrInvalidJSAck, "other"},
	}
	for _, tt := range tests {
		h := newTestHandler(t, PolicyRequire, &recorder{err: tt.err})
		w := serve(h, callback(keys, "123456789", "tx-1", "ok"))
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%v: status %d, want 503", tt.err, w.Code)
		}
		if ra := w.Header().Get("Retry-After"); ra < "1" || ra > "5" || len(ra) != 1 {
			t.Errorf("%v: Retry-After %q", tt.err, ra)
		}
		if got := classify(tt.err).String(); got != tt.cause {
			t.Errorf("%v: cause %q, want %q", tt.err, got, tt.cause)
		}
	}
}

func BenchmarkHandlerDecisions(b *testing.B) {
	rec := &recorder{}
	h := newTestHandler(b, PolicyRequire, rec)
	body := signed(b, "success.json", mustKeyring(b, testKeys))
	b.ReportAllocs()
	for b.Loop() {
		if w := serve(h, body); w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
		rec.take()
	}
}
