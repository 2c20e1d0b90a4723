package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// contractCall sends one request to a running service and validates the answer against
// doc (a failure is a test error); wantValid says whether the document must allow the
// request itself (a request the service refuses must be one the document refuses too).
func contractCall(t *testing.T, doc *contracttest.Doc, wantValid bool, method, target, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, raw, reqErr := doc.Call(t, &http.Client{Timeout: 10 * time.Second}, req, []byte(body))
	if wantValid && reqErr != nil {
		t.Errorf("%s: the document refuses %s %s %s: %v", doc.Name, method, req.URL.Path, body, reqErr)
	}
	if !wantValid && reqErr == nil {
		t.Errorf("%s: the document allows %s %s %s, which the service answered %d", doc.Name, method, req.URL.Path, body, resp.StatusCode)
	}
	return resp.StatusCode, resp.Header, raw
}

// sample is one of ePay's documented callbacks (internal/epay/testdata), made about
// invoice id of the stack, signed with the stack's key.
func sample(t *testing.T, name, id string, amount epay.Amount, terminal string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "epay", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var cb map[string]any
	if err := json.Unmarshal(raw, &cb); err != nil {
		t.Fatal(err)
	}
	keys, err := epay.ParseKeyring(devstack.DevSecretKeys)
	if err != nil {
		t.Fatal(err)
	}
	cb["invoiceId"], cb["amount"], cb["terminal"], cb["secret_hash"] = id, json.Number(amount.String()), terminal, keys.Sign(terminal, id)
	out, _ := json.Marshal(cb)
	return string(out)
}

// The running initiator, ingest and worker answer only what their OpenAPI documents say,
// for every route and every answer a payment's life and its mistakes produce, and every
// event they publish is what the AsyncAPI document says; a merchant reads the events
// with the CloudEvents SDK and finds its orderId and metadata in each.
func TestEveryAnswerAndEventOfPaymentsIsWhatTheContractsSay(t *testing.T) {
	urls := startStack(t)
	ini, ing, wrk := contracttest.OpenAPI(t, "initiator"), contracttest.OpenAPI(t, "ingest"), contracttest.OpenAPI(t, "worker")
	key := []string{"Authorization", "Bearer " + devstack.DevAPIKey, "Content-Type", "application/json"}
	keyed := func(k string) []string { return append([]string{"Idempotency-Key", k}, key...) }

	// The initiator: three payments (to be paid, failed and reviewed), with references.
	const body = `{"kind":"payment","amount":100,"currency":"KZT","description":"Order 42","email":"a@example.kz",
		"orderId":"ORD-42","metadata":{"cart":"c-9","customer":"Иванов <b>"}}`
	type answer struct {
		InvoiceID     string `json:"invoiceId"`
		PaymentObject struct {
			BackLink string `json:"backLink"`
			Terminal string `json:"terminal"`
		} `json:"paymentObject"`
		Raw json.RawMessage `json:"-"`
	}
	var created []answer
	for _, k := range []string{"pay-1", "pay-2", "pay-3"} {
		status, _, raw := contractCall(t, ini, true, http.MethodPost, urls.Initiator+"/v1/payments", body, keyed(k)...)
		var c answer
		var obj struct {
			PaymentObject json.RawMessage `json:"paymentObject"`
		}
		json.Unmarshal(raw, &obj)
		c.Raw = obj.PaymentObject
		if err := json.Unmarshal(raw, &c); status != http.StatusCreated || err != nil {
			t.Fatalf("POST /v1/payments: %d %s", status, raw)
		}
		created = append(created, c)
	}
	if status, h, raw := contractCall(t, ini, true, http.MethodPost, urls.Initiator+"/v1/payments", body, keyed("pay-1")...); status != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || !bytes.Contains(raw, []byte(`"orderId":"ORD-42"`)) {
		t.Errorf("replay: %d %s", status, raw)
	}
	if status, _, _ := contractCall(t, ini, true, http.MethodPost, urls.Initiator+"/v1/payments", strings.Replace(body, "c-9", "c-10", 1), keyed("pay-1")...); status != http.StatusConflict {
		t.Errorf("replay with other metadata: %d, want 409", status)
	}
	for _, bad := range []string{
		strings.Replace(body, `"ORD-42"`, `"ORD 42\n"`, 1),
		strings.Replace(body, `"c-9"`, `9`, 1),
		strings.Replace(body, `"kind":"payment"`, `"kind":"payment","orderid":"x"`, 1),
		`{"kind":"payment","amount":-1,"currency":"KZT","description":"x"}`,
	} {
		if status, _, _ := contractCall(t, ini, false, http.MethodPost, urls.Initiator+"/v1/payments", bad, key...); status != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", bad, status)
		}
	}
	if status, _, _ := contractCall(t, ini, false, http.MethodPost, urls.Initiator+"/v1/payments", body, "Content-Type", "application/json"); status != http.StatusUnauthorized {
		t.Errorf("POST without a key: %d, want 401", status)
	}
	ok := created[0]
	back, _ := url.Parse(ok.PaymentObject.BackLink)
	token := back.Query().Get("token")
	waitState(t, urls.Worker, ok.InvoiceID, "created") // the initiator reads the worker
	contractCall(t, ini, true, http.MethodGet, urls.Initiator+"/v1/invoices/"+ok.InvoiceID+"?token="+token, "")
	contractCall(t, ini, true, http.MethodGet, urls.Initiator+"/v1/invoices/"+ok.InvoiceID, "", key...)
	contractCall(t, ini, true, http.MethodGet, urls.Initiator+"/v1/invoices/"+ok.InvoiceID+"?token=AWRONGTOKENWRONGTOKENWRONG", "")
	contractCall(t, ini, false, http.MethodGet, urls.Initiator+"/v1/invoices/12ab", "", key...)
	contractCall(t, ini, true, http.MethodGet, urls.Initiator+"/livez", "")
	contractCall(t, ini, true, http.MethodGet, urls.Initiator+"/readyz", "")
	ini.Covered(t, "createPayment 201", "createPayment 200", "createPayment 400", "createPayment 401", "createPayment 409",
		"getInvoice 200", "getInvoice 400", "getInvoice 404", "livez 200", "readyz 200")

	// The ingest: ePay's own samples, as ePay would post them, and what it must refuse.
	term := ok.PaymentObject.Terminal
	ctype := []string{"Content-Type", "application/json"}
	paid, failed, review := created[0].InvoiceID, created[1].InvoiceID, created[2].InvoiceID
	for _, c := range []struct {
		route, body string
		valid       bool
		want        int
	}{
		{"/epay/postlink", sample(t, "success.json", paid, 10000, term), true, 200},
		{"/epay/postlink", sample(t, "success.json", paid, 10000, term), true, 200}, // ePay's retry
		{"/epay/failure-postlink", sample(t, "failure.json", failed, 10000, term), true, 200},
		{"/epay/postlink", sample(t, "success.json", review, 9950, term), true, 200}, // another amount: review
		{"/epay/postlink", strings.Replace(sample(t, "success.json", paid, 10000, term), `"secret_hash":"`, `"secret_hash":"X`, 1), true, 401},
		{"/epay/postlink", `{"invoiceId":"191111111"`, false, 400},
	} {
		if status, h, raw := contractCall(t, ing, c.valid, http.MethodPost, urls.Ingest+c.route, c.body, ctype...); status != c.want || h.Get("X-Request-Id") == "" {
			t.Errorf("POST %s: %d %s, want %d", c.route, status, raw, c.want)
		}
	}
	contractCall(t, ing, true, http.MethodGet, urls.Ingest+"/livez", "")
	contractCall(t, ing, true, http.MethodGet, urls.Ingest+"/readyz", "")
	ing.Covered(t, "postLink 200", "postLink 400", "postLink 401", "failurePostLink 200", "livez 200", "readyz 200")

	// The worker's read API, once each invoice reached its state.
	read := []string{"Authorization", "Bearer " + urls.WorkerReadKey}
	// ePay's failure sample names a transaction the sandbox's status API does not know,
	// so the worker waits for a final word on it: the buyer's locked card gives one.
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, urls.Sandbox, created[1].Raw, sandbox.Card{Number: "4003032704547597", Expiry: "01/27", CVC: "123", Holder: "T"}); err != nil {
		t.Fatal(err)
	}
	for id, state := range map[string]string{paid: "paid", failed: "failed", review: "review"} {
		waitState(t, urls.Worker, id, state)
		_, _, raw := contractCall(t, wrk, true, http.MethodGet, urls.Worker+"/v1/invoices/"+id, "", read...)
		if !bytes.Contains(raw, []byte(`"orderId":"ORD-42","metadata":{"cart":"c-9","customer":"Иванов \u003cb\u003e"}`)) {
			t.Errorf("read API of %s lacks the references (HTML escaped): %s", id, raw)
		}
	}
	contractCall(t, wrk, true, http.MethodGet, urls.Worker+"/v1/invoices/199999999999", "", read...)
	contractCall(t, wrk, false, http.MethodGet, urls.Worker+"/v1/invoices/"+paid, "")
	contractCall(t, wrk, false, http.MethodGet, urls.Worker+"/v1/invoices/12ab", "", read...)
	contractCall(t, wrk, true, http.MethodGet, urls.Worker+"/livez", "")
	contractCall(t, wrk, true, http.MethodGet, urls.Worker+"/readyz", "")
	wrk.Covered(t, "getInvoice 200", "getInvoice 400", "getInvoice 401", "getInvoice 404", "livez 200", "readyz 200")

	// Every event on PAYMENT_EVENTS, headers and body, against the AsyncAPI document.
	ev := contracttest.AsyncAPI(t)
	types := map[string]string{}
	for _, id := range []string{paid, failed, review} {
		waitEvents(t, urls, id, 1)
		for _, m := range eventMsgs(t, urls, id) {
			if err := ev.Validate(m.Subject, http.Header(m.Header), m.Data); err != nil {
				t.Errorf("event %s: %v\n%s", m.Header.Get("Nats-Msg-Id"), err, m.Data)
			}
			types[id] = m.Subject
		}
	}
	if types[paid] != "payments.paid" || types[failed] != "payments.failed" || types[review] != "payments.review" {
		t.Errorf("events %v", types)
	}
	readAsMerchant(t, urls, map[string]string{paid: "kz.epay.payment.paid", failed: "kz.epay.payment.failed", review: "kz.epay.payment.review"})
}

// readAsMerchant reads PAYMENT_EVENTS as a merchant's system would: the NATS user
// subscriber, a durable consumer, each message a CloudEvent decoded and validated by the
// official CloudEvents SDK, its data read into the merchant's own type, then acked.
func readAsMerchant(t *testing.T, urls devstack.URLs, want map[string]string) {
	t.Helper()
	nc := connectAs(t, urls, natsbus.RoleSubscriber)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, natsbus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "merchant-contract-test", FilterSubject: "payments.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for len(got) < len(want) && ctx.Err() == nil {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			var e cloudevents.Event
			if err := json.Unmarshal(msg.Data(), &e); err != nil {
				t.Fatalf("not a CloudEvent for the SDK: %v\n%s", err, msg.Data())
			}
			if err := e.Validate(); err != nil {
				t.Errorf("event %s: %v", e.ID(), err)
			}
			var data struct {
				Invoice struct {
					InvoiceID string            `json:"invoiceId"`
					OrderID   string            `json:"orderId"`
					Metadata  map[string]string `json:"metadata"`
				} `json:"invoice"`
			}
			if err := e.DataAs(&data); err != nil {
				t.Fatalf("event %s data: %v", e.ID(), err)
			}
			inv := data.Invoice
			if e.SpecVersion() != "1.0" || e.Subject() != inv.InvoiceID || !strings.HasPrefix(e.ID(), inv.InvoiceID+"-") ||
				e.DataContentType() != "application/json" || e.Time().IsZero() {
				t.Errorf("event %s: envelope %s", e.ID(), e)
			}
			if inv.OrderID != "ORD-42" || inv.Metadata["cart"] != "c-9" || inv.Metadata["customer"] != "Иванов <b>" {
				t.Errorf("event %s: references %q %v", e.ID(), inv.OrderID, inv.Metadata)
			}
			if _, ours := want[inv.InvoiceID]; ours {
				got[inv.InvoiceID] = e.Type()
			}
			if err := msg.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id, typ := range want {
		if got[id] != typ {
			t.Errorf("invoice %s: the merchant read %q, want %q (all: %v)", id, got[id], typ, got)
		}
	}
}
