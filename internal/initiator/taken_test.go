package initiator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

const takenBody = `{"kind":"payment","amount":100,"currency":"KZT","description":"Coffee","orderId":"order-coffee-1"}`

// nextID is the invoiceId the sequential allocator gives after id.
func nextID(t *testing.T, id string, n int) string {
	t.Helper()
	v, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(v+uint64(n), 10)
}

// publishFor puts an invoice.created of someone else (another orderId) for id on the
// inbox, signed with keys when keys is set, else unsigned with the bare id as its
// Nats-Msg-Id (what an initiator before the signature used, and what anyone with a NATS
// password can publish).
func (e *testEnv) publishFor(t *testing.T, id string, signed bool) {
	t.Helper()
	c := invoice.Created{InvoiceID: id, Kind: KindPayment, Amount: 100, Currency: "KZT", Terminal: testTerminal,
		OrderID: "order-TV-500000", CreatedAt: time.Now()}
	msg, err := mustBuilder(t, testShards).Created(c, e.keyring, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !signed {
		msg.Header.Del(inbox.HeaderCreatedSignature)
		msg.Header.Set(nats.MsgIdHdr, inbox.CreatedMsgID(id))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(inbox.Stream)); err != nil {
		t.Fatal(err)
	}
}

// A freshly allocated invoiceId whose invoice.created the stream already holds (a
// duplicate PubAck) is not handed out: 503, counted, logged; with an Idempotency-Key the
// key is let go, so the merchant's retry makes a new payment instead of replaying the
// taken id.
func TestFreshInvoiceIDAlreadyOnTheBusIsNotHandedOut(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	status, first, _, raw := postKeyed(t, base, "", takenBody)
	if status != http.StatusCreated {
		t.Fatalf("first: %d %s", status, raw)
	}
	const want = `{"error":"the allocated invoiceId was already taken on the message bus; nothing was created, retry (a new invoiceId is allocated)"}`
	for i, key := range []string{"", "order-coffee-1:attempt-1"} {
		taken := nextID(t, first.InvoiceID, 1+2*i) // the next id this request gets
		e.publishFor(t, taken, true)
		status, c, _, raw := postKeyed(t, base, key, takenBody)
		if status != http.StatusServiceUnavailable || raw != want || c.InvoiceID != "" {
			t.Fatalf("key %q: %d %s, want 503 for the taken invoice %s", key, status, raw, taken)
		}
		if !strings.Contains(e.logs.String(), "level=ERROR") || !strings.Contains(e.logs.String(), "invoice "+taken) {
			t.Fatalf("key %q: the refusal is not logged at error:\n%s", key, e.logs)
		}
		// the retry, with the same key if any, gets a new invoice
		status, c, h, raw := postKeyed(t, base, key, takenBody)
		if status != http.StatusCreated || c.InvoiceID != nextID(t, taken, 1) || h.Get("Idempotent-Replayed") != "" {
			t.Fatalf("key %q: retry %d %s, want 201 with a new invoice %s", key, status, raw, nextID(t, taken, 1))
		}
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "epayflow_initiator_invoice_id_taken_total 2") {
		t.Fatalf("metrics lack epayflow_initiator_invoice_id_taken_total 2")
	}
}

// The reviewer's attack from the initiator's side: an unsigned invoice.created published
// first for the next invoiceId, under the bare id, does not take the genuine message's
// place: the merchant gets its payment (201) and the stream holds both, the genuine one
// signed (the worker refuses the other: internal/worker).
func TestForgedCreatedForTheNextIDDoesNotDropTheGenuineOne(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	_, first, _, _ := postKeyed(t, base, "", takenBody)
	next := nextID(t, first.InvoiceID, 1)
	e.publishFor(t, next, false)
	status, c, _, raw := postKeyed(t, base, "", takenBody)
	if status != http.StatusCreated || c.InvoiceID != next {
		t.Fatalf("%d %s, want 201 for %s", status, raw, next)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	var genuine int
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if m.Header.Get(inbox.HeaderInvoiceID) == next && inbox.CheckCreated(e.keyring, m.Subject, m.Data, m.Header.Get(inbox.HeaderCreatedSignature)) == nil {
			genuine++
			if !strings.Contains(string(m.Data), `"orderId":"order-coffee-1"`) {
				t.Fatalf("the signed message is not the merchant's: %s", m.Data)
			}
		}
	}
	if genuine != 1 {
		t.Fatalf("%d signed invoice.created for %s on the stream, want the merchant's", genuine, next)
	}
}
