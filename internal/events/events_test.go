package events_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
)

// A payment event is a CloudEvent 1.0 whose type, subject and id come from the outbox
// event, whose data is the invoice's public view, and whose callback never carries the
// secret_hash (whoever reads it could sign a callback).
func TestNewIsACloudEventWithoutTheSecretHash(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.FixedZone("ALMT", 5*3600))
	e := invoice.Event{ID: "000000000042-3", Type: invoice.EventPaid, InvoiceID: "000000000042", Time: at,
		Invoice: invoice.Invoice{InvoiceID: "000000000042", State: invoice.StatePaid, Amount: 10000, Currency: "KZT", Version: 3, TransactionID: "tx",
			OrderID: "ORD-42", Metadata: map[string]string{"cart": "c-9"}},
		Callback: []byte(`{"invoiceId":"000000000042","secret_hash":"AABCDEFGHIJKLMNOPQRSTUVWX","code":"ok"}`)}
	ce := events.New(e, "epayflow/worker")
	raw, err := json.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"specversion": "1.0", "id": "000000000042-3", "type": "kz.epay.payment.paid",
		"subject": "000000000042", "source": "epayflow/worker", "datacontenttype": "application/json", "time": "2026-11-30T07:00:00Z"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if strings.Contains(string(raw), "AABCDEFGHIJKLMNOPQRSTUVWX") {
		t.Errorf("the event carries the secret_hash: %s", raw)
	}
	data := got["data"].(map[string]any)
	if inv := data["invoice"].(map[string]any); inv["state"] != "paid" || inv["amount"] != float64(100) /* Amount is in tiyn; JSON shows tenge */ || inv["version"] != float64(3) ||
		inv["orderId"] != "ORD-42" || inv["metadata"].(map[string]any)["cart"] != "c-9" {
		t.Errorf("data.invoice = %v", inv)
	}
	if events.Subject(invoice.EventPaid) != "payments.paid" || !strings.HasPrefix(events.Subject(invoice.EventReview), "payments.") {
		t.Errorf("subjects %q %q", events.Subject(invoice.EventPaid), events.Subject(invoice.EventReview))
	}
}
