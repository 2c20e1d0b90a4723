package merchant_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/merchant"
)

// paidEvent is docs/EVENTS.md's example, with a merchant's references.
const paidEvent = `{"specversion":"1.0","id":"191111111-2","source":"epayflow/worker","type":"kz.epay.payment.paid",
"time":"2024-07-29T05:50:57.1234Z","subject":"191111111","datacontenttype":"application/json",
"data":{"invoice":{"invoiceId":"191111111","state":"paid","kind":"payment","amount":100,"currency":"KZT",
"transactionId":"1d1a11f1-1111-111c-1113b-e8340ce51111","reasonCode":0,"reason":{"en":"Success","ru":"успех","kk":"сәтті өтті"},
"orderId":"ORD-42","metadata":{"cart":"c-9"},"updatedAt":"2024-07-29T05:50:57.1234Z","version":2},
"callback":{"invoiceId":"191111111","code":"ok","secret_hash":"[redacted]"}}}`

func TestDecodeEvent(t *testing.T) {
	ev, err := merchant.DecodeEvent([]byte(paidEvent))
	if err != nil {
		t.Fatal(err)
	}
	inv := ev.Data.Invoice
	if ev.ID != "191111111-2" || ev.Type != merchant.EventPaid || ev.Subject != "191111111" || ev.Time.IsZero() ||
		inv.State != merchant.StatePaid || inv.Amount.String() != "100" || inv.OrderID != "ORD-42" || inv.Metadata["cart"] != "c-9" ||
		inv.Reason.Ru != "успех" || !strings.Contains(string(ev.Data.Callback), `"code":"ok"`) {
		t.Errorf("decoded: %+v", ev)
	}
	for name, body := range map[string]string{
		"not JSON":            `not json`,
		"no id nor source":    `{"specversion":"1.0","type":"kz.epay.payment.paid","data":{"invoice":{"state":"paid"}}}`,
		"another type":        strings.Replace(paidEvent, "kz.epay.payment.paid", "com.example.order.paid", 1),
		"another invoice":     strings.Replace(paidEvent, `"subject":"191111111"`, `"subject":"222222222"`, 1),
		"data not an invoice": strings.Replace(paidEvent, `"invoice":{`, `"invoice":7,"x":{`, 1),
	} {
		if _, err := merchant.DecodeEvent([]byte(body)); !errors.Is(err, merchant.ErrNotPaymentEvent) {
			t.Errorf("%s: %v, want ErrNotPaymentEvent", name, err)
		}
	}
}

// jsonNames are the JSON keys of a struct type (embedded structs flattened, "-" left out).
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "":
			out = append(out, jsonNames(f.Type)...)
		case name == "":
			out = append(out, f.Name)
		default:
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// The client's types read every field the documents name, and only those: a field the
// services add to a closed schema fails here until the client has it too.
func TestTypesAreTheContractsSchemas(t *testing.T) {
	ini, wrk, hooks := contracttest.OpenAPI(t, "initiator"), contracttest.OpenAPI(t, "worker"), contracttest.OpenAPI(t, "webhooks")
	for _, c := range []struct {
		doc    *contracttest.Doc
		schema string
		typ    any
	}{
		{ini, "PaymentRequest", merchant.PaymentRequest{}},
		{ini, "PaymentCreated", merchant.Payment{}},
		{ini, "Error", merchant.APIError{}},
		{wrk, "InvoiceView", merchant.InvoiceView{}},
		{wrk, "InvoiceWithHistory", merchant.Invoice{}},
		{wrk, "HistoryEntry", merchant.HistoryEntry{}},
		{wrk, "ReasonText", merchant.ReasonText{}},
		{wrk, "Resolution", merchant.Resolution{}},
		{hooks, "NewEndpoint", merchant.NewWebhookEndpoint{}},
		{hooks, "Created", merchant.WebhookEndpoint{}},
	} {
		s := c.doc.T.Components.Schemas[c.schema].Value
		var want []string
		for k := range s.Properties {
			want = append(want, k)
		}
		slices.Sort(want)
		if got := jsonNames(reflect.TypeOf(c.typ)); !slices.Equal(got, want) {
			t.Errorf("%s %s has %v, %T reads %v", c.doc.Name, c.schema, want, c.typ, got)
		}
	}
	ev := contracttest.AsyncAPIDoc(t)
	props := ev["components"].(map[string]any)["schemas"].(map[string]any)["Data"].(map[string]any)["properties"].(map[string]any)
	var want []string
	for k := range props {
		want = append(want, k)
	}
	slices.Sort(want)
	if got := jsonNames(reflect.TypeOf(merchant.EventData{})); !slices.Equal(got, want) {
		t.Errorf("asyncapi Data has %v, merchant.EventData reads %v", want, got)
	}
}
