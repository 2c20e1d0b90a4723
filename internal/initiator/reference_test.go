package initiator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

const refBase = `"kind":"payment","amount":100,"currency":"KZT","description":"x"`

func TestOrderIDAndMetadataWithinTheirBoundsAreKept(t *testing.T) {
	many := map[string]string{}
	for i := range MetadataMaxKeys {
		many[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 90) // 20 * (3 + 90) = 1860 bytes
	}
	manyJSON, _ := json.Marshal(many)
	tests := []struct {
		name      string
		extra     string
		orderID   string
		metadata  map[string]string
		absentRef bool
	}{
		{"an order id of every allowed character", `,"orderId":"Order-42_a.b:c/d#7"`, "Order-42_a.b:c/d#7", nil, false},
		{"64 characters", `,"orderId":"` + strings.Repeat("9", 64) + `"`, strings.Repeat("9", 64), nil, false},
		{"empty order id and metadata are absent", `,"orderId":"","metadata":{}`, "", nil, true},
		{"metadata with Cyrillic and HTML as text", `,"metadata":{"customer_ref":"Иванов <b>","cart.id":"c-1"}`, "",
			map[string]string{"customer_ref": "Иванов <b>", "cart.id": "c-1"}, false},
		{"an empty value", `,"metadata":{"note":""}`, "", map[string]string{"note": ""}, false},
		{"500 characters in a value", `,"metadata":{"a":"` + strings.Repeat("я", 500) + `"}`, "", map[string]string{"a": strings.Repeat("я", 500)}, false},
		{"20 keys within 2048 bytes", `,"metadata":` + string(manyJSON), "", many, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePaymentRequest([]byte("{" + refBase + tt.extra + "}"))
			if err != nil {
				t.Fatal(err)
			}
			if p.OrderID != tt.orderID || !maps.Equal(p.Metadata, tt.metadata) || tt.absentRef && p.Metadata != nil {
				t.Fatalf("orderId %q metadata %v, want %q %v", p.OrderID, p.Metadata, tt.orderID, tt.metadata)
			}
		})
	}
}

func TestOrderIDAndMetadataOutsideTheirBoundsAreRefusedByField(t *testing.T) {
	keys := func(n, valueLen int) string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("key%03d", i)] = strings.Repeat("v", valueLen)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct{ name, field, extra, want string }{
		{"orderId a number", "orderId", `,"orderId":42`, "must be a string"},
		{"orderId 65 characters", "orderId", `,"orderId":"` + strings.Repeat("a", 65) + `"`, "1 to 64 characters"},
		{"orderId with a space", "orderId", `,"orderId":"order 42"`, "1 to 64 characters"},
		{"orderId with a newline (log injection)", "orderId", `,"orderId":"42\nlevel=ERROR msg=forged"`, "1 to 64 characters"},
		{"orderId with HTML", "orderId", `,"orderId":"<script>"`, "1 to 64 characters"},
		{"orderId with a quote", "orderId", `,"orderId":"a\"b"`, "1 to 64 characters"},
		{"orderId Cyrillic", "orderId", `,"orderId":"заказ"`, "1 to 64 characters"},
		{"metadata an array", "metadata", `,"metadata":["a"]`, "must be an object of string values"},
		{"metadata null", "metadata", `,"metadata":null`, "must be an object of string values"},
		{"metadata a string", "metadata", `,"metadata":"a=b"`, "must be an object of string values"},
		{"a number value", "metadata", `,"metadata":{"n":1}`, `key "n": values must be strings`},
		{"an object value", "metadata", `,"metadata":{"n":{"deep":"x"}}`, `key "n": values must be strings`},
		{"a null value", "metadata", `,"metadata":{"n":null}`, `key "n": values must be strings`},
		{"an empty key", "metadata", `,"metadata":{"":"x"}`, `key "": keys must be 1 to 40 characters`},
		{"a key of 41 characters", "metadata", `,"metadata":{"` + strings.Repeat("k", 41) + `":"x"}`, "keys must be 1 to 40 characters"},
		{"a key with a space", "metadata", `,"metadata":{"a b":"x"}`, "keys must be 1 to 40 characters"},
		{"a key given twice", "metadata", `,"metadata":{"a":"x","a":"y"}`, `key "a" is given more than once`},
		{"a value of 501 characters", "metadata", `,"metadata":{"a":"` + strings.Repeat("v", 501) + `"}`, "at most 500 characters"},
		{"a newline in a value", "metadata", `,"metadata":{"a":"x\ny"}`, "must not contain control"},
		{"a right-to-left override", "metadata", `,"metadata":{"a":"x\u202Egnp.exe"}`, "must not contain control"},
		{"a line separator", "metadata", `,"metadata":{"a":"x\u2028y"}`, "must not contain control"},
		{"21 keys", "metadata", `,"metadata":` + keys(21, 1), "at most 20 keys (has 21)"},
		{"over 2048 bytes", "metadata", `,"metadata":` + keys(5, 450), "at most 2048 bytes of keys and values (has 2280)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePaymentRequest([]byte("{" + refBase + tt.extra + "}"))
			fields, ok := err.(FieldErrors)
			if !ok || !strings.Contains(fields[tt.field], tt.want) || len(fields) != 1 {
				t.Fatalf("err %v, want only %s: …%s…", err, tt.field, tt.want)
			}
		})
	}
}

// Keyed requests made before orderId and metadata existed are still the same request:
// an Idempotency-Key record written by the previous release replays, not 409s.
func TestFingerprintOfARequestWithoutReferencesIsUnchanged(t *testing.T) {
	p, err := ParsePaymentRequest([]byte(`{"kind":"payment","amount":100,"currency":"KZT","description":"Order 42","email":"a@b.kz","backLink":"https://shop.kz/ok"}`))
	if err != nil {
		t.Fatal(err)
	}
	const before = "cf4c992e66ee0dc35033ec069d36e5d2eda4cef76e06e26ff86e08ce9eb0066b" // the release before orderId
	if got := p.fingerprint(); got != before {
		t.Fatalf("fingerprint %s, want %s", got, before)
	}
}

func TestOrderIDAndMetadataReachInvoiceCreatedAndReplaysKeepThem(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	const body = `{"kind":"payment","amount":100,"currency":"KZT","description":"Order 42",
		"orderId":"ORD-42","metadata":{"cart":"c-9","customer":"Иванов"}}`
	status, first, _, raw := postKeyed(t, base, "order-42", body)
	want := map[string]string{"cart": "c-9", "customer": "Иванов"}
	if status != http.StatusCreated || first.OrderID != "ORD-42" || !maps.Equal(first.Metadata, want) {
		t.Fatalf("first: %d %s", status, raw)
	}
	if strings.Contains(string(mustJSON(t, first.PaymentObject)), "ORD-42") {
		t.Fatalf("orderId leaked into the payment object ePay's form gets: %s", raw)
	}
	// The same request, its metadata's keys in another order: the same answer.
	status, again, _, raw := postKeyed(t, base, "order-42", `{"metadata":{"customer":"Иванов","cart":"c-9"},
		"orderId":"ORD-42","kind":"payment","amount":"100.00","currency":"KZT","description":"Order 42"}`)
	if status != http.StatusOK || again.InvoiceID != first.InvoiceID || again.OrderID != "ORD-42" || !maps.Equal(again.Metadata, want) {
		t.Fatalf("replay: %d %s", status, raw)
	}
	for _, other := range []string{
		strings.Replace(body, "ORD-42", "ORD-43", 1),
		strings.Replace(body, "c-9", "c-10", 1),
		strings.Replace(body, `,"customer":"Иванов"`, ``, 1),
		strings.Replace(body, `"orderId":"ORD-42",`, ``, 1),
	} {
		if status, _, _, raw := postKeyed(t, base, "order-42", other); status != http.StatusConflict {
			t.Fatalf("replay with other references: %d %s, want 409", status, raw)
		}
	}
	// invoice.created (the worker's source of the invoice and its events) carries them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var c invoice.Created
	if err := json.Unmarshal(msg.Data, &c); err != nil || c.InvoiceID != first.InvoiceID || c.OrderID != "ORD-42" || !maps.Equal(c.Metadata, want) {
		t.Fatalf("invoice.created %s (%v)", msg.Data, err)
	}
	// The shop page's route never takes them: only a merchant's backend with its key.
	rec := e.do(t, http.MethodPost, "/shop/payments", `{"kind":"payment","amount":100,"currency":"KZT",
		"description":"Coffee beans, 1 kg","orderId":"X"}`, "")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"orderId":"not accepted on this route"`) {
		t.Fatalf("shop route with orderId: %d %s", rec.Code, rec.Body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A replay of an Idempotency-Key names the terminal the first attempt named, on a
// replica configured otherwise (EPAY_P2P_TERMINAL set on one replica of a rollout, not
// yet on another): the invoice ePay knows, and the worker's record of it, are on that
// terminal; a payment object on another would send ePay's callback to review.
func TestAReplayKeepsTheTerminalOfTheFirstAttempt(t *testing.T) {
	const p2pTerminal = "40a348cb-68a3-45d5-9002-a4836d79c3b5"
	e := startEnv(t, answerWith(200, `{"access_token":"P2P_TOKEN","expires_in":"1200","scope":"transfer","token_type":"Bearer"}`), true)
	e.svc.P2PTerminal = p2pTerminal
	base := e.serve(t)
	const body = `{"kind":"p2p","amount":100,"currency":"KZT","description":"transfer"}`
	status, first, _, raw := postKeyed(t, base, "transfer-1", body)
	if status != http.StatusCreated || first.PaymentObject.Terminal != p2pTerminal {
		t.Fatalf("first: %d %s", status, raw)
	}
	e.svc.P2PTerminal = "" // another replica: no P2P terminal yet
	status, again, _, raw := postKeyed(t, base, "transfer-1", body)
	forms := e.epay.requests()
	if status != http.StatusOK || again.InvoiceID != first.InvoiceID || again.PaymentObject.Terminal != p2pTerminal ||
		forms[len(forms)-1].Get("terminal") != p2pTerminal {
		t.Fatalf("the replay: %d %s, token terminal %q; want invoice %s on %s", status, raw, forms[len(forms)-1].Get("terminal"), first.InvoiceID, p2pTerminal)
	}
	if status, other, _, raw := postKeyed(t, base, "transfer-2", body); status != http.StatusCreated || other.PaymentObject.Terminal != testTerminal {
		t.Fatalf("a new key on this replica: %d %s, want terminal %s", status, raw, testTerminal)
	}
}
