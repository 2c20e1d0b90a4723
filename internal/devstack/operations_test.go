package devstack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// A merchant refunds a payment a customer made on the sandbox's card form, through the
// initiator: in part, the same refund again (one refund), too much (refused), the rest;
// each answer is what the OpenAPI documents say, the invoice's events are paid then
// refunded twice, each as the AsyncAPI document says, and ePay's status shows the whole
// amount refunded, once.
func TestMerchantRefundsABrowserPaymentThroughTheAPIOnce(t *testing.T) {
	urls := startStack(t)
	ini, wrk := contracttest.OpenAPI(t, "initiator"), contracttest.OpenAPI(t, "worker")
	key := []string{"Authorization", "Bearer " + devstack.DevAPIKey, "Content-Type", "application/json"}
	op := func(k string) []string { return append([]string{"Idempotency-Key", k}, key...) }

	status, _, raw := contractCall(t, ini, true, http.MethodPost, urls.Initiator+"/v1/payments",
		`{"kind":"payment","amount":100,"currency":"KZT","description":"Order 7","orderId":"ORD-7"}`, op("pay-7")...)
	var created struct {
		InvoiceID     string          `json:"invoiceId"`
		PaymentObject json.RawMessage `json:"paymentObject"`
	}
	if err := json.Unmarshal(raw, &created); status != http.StatusCreated || err != nil {
		t.Fatalf("POST /v1/payments: %d %s", status, raw)
	}
	id := created.InvoiceID
	refund := urls.Initiator + "/v1/invoices/" + id + "/refund"
	waitState(t, urls.Worker, id, "created")
	// before the customer paid: refused, nothing asked of ePay
	if status, _, raw := contractCall(t, ini, true, http.MethodPost, refund, `{"amount":30}`, op("early")...); status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(raw), "not paid") {
		t.Fatalf("refund of an unpaid invoice: %d %s", status, raw)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, urls.Sandbox, created.PaymentObject, sandbox.Card{Number: "4405639704015096", Expiry: "01/27", CVC: "321", Holder: "T"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, urls.Worker, id, "paid")

	type answer struct {
		Operation struct {
			ID, Type, State string
			Amount          float64
		}
		Invoice struct {
			Refunded float64
		}
	}
	call := func(body, k string, want int) answer {
		t.Helper()
		status, _, raw := contractCall(t, ini, true, http.MethodPost, refund, body, op(k)...)
		var a answer
		json.Unmarshal(raw, &a)
		if status != want {
			t.Fatalf("refund %s %s: %d %s, want %d", k, body, status, raw, want)
		}
		return a
	}
	if a := call(`{"amount":30}`, "refund-1", 200); a.Operation.State != "succeeded" || a.Operation.Amount != 30 || a.Invoice.Refunded != 30 {
		t.Fatalf("refund of 30: %+v", a)
	}
	if a := call(`{"amount":30}`, "refund-1", 200); a.Invoice.Refunded != 30 {
		t.Fatalf("the same refund again: %+v, want the first answer", a)
	}
	call(`{"amount":31}`, "refund-1", 409)
	call(`{"amount":70.5}`, "refund-2", 422)
	call(`{"amount":5}`, "refund-3", 422)
	if a := call("", "refund-4", 200); a.Operation.Amount != 70 || a.Invoice.Refunded != 100 {
		t.Fatalf("refund of the rest: %+v", a)
	}
	contractCall(t, ini, false, http.MethodPost, refund, `{"amount":10}`, key...) // no Idempotency-Key: 400
	contractCall(t, ini, true, http.MethodPost, urls.Initiator+"/v1/invoices/"+id+"/cancel", "", op("cancel-1")...)
	ini.Covered(t, "refundInvoice 200", "refundInvoice 400", "refundInvoice 409", "refundInvoice 422", "cancelInvoice 422")

	// the worker's own route, as the initiator calls it (the same answer again)
	read := []string{"Authorization", "Bearer " + urls.WorkerReadKey, "Idempotency-Key", "refund-1", "Content-Type", "application/json"}
	contractCall(t, wrk, true, http.MethodPost, urls.Worker+"/v1/invoices/"+id+"/refund", `{"amount":30}`, read...)
	contractCall(t, wrk, true, http.MethodGet, urls.Worker+"/v1/invoices/"+id, "", "Authorization", "Bearer "+urls.WorkerReadKey)
	wrk.Covered(t, "refundInvoice 200", "getInvoice 200")

	// ePay's side: the whole amount refunded, once (two refunds: 30 and 70)
	var f epayapi.Flags
	f.Env, f.APIURL, f.TokenURL, f.Timeout = epay.EnvSandbox, urls.Sandbox, urls.Sandbox+"/oauth2/token", 5*time.Second
	ec, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	client, err := epayapi.New(ec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := client.PaymentStatus(ctx, id)
	if err != nil || st.Transaction == nil || st.Transaction.Refunded() != 10000 || st.Transaction.StatusName != epayapi.StatusRefund {
		t.Fatalf("ePay's status after the refunds: %+v %v", st, err)
	}

	got := waitEvents(t, urls, id, 3)
	if strings.Join(got, ",") != "payments.paid,payments.refunded,payments.refunded" {
		t.Fatalf("events %v", got)
	}
	ev := contracttest.AsyncAPI(t)
	for _, m := range eventMsgs(t, urls, id) {
		if err := ev.Validate(m.Subject, http.Header(m.Header), m.Data); err != nil {
			t.Errorf("event %s: %v\n%s", m.Header.Get("Nats-Msg-Id"), err, m.Data)
		}
	}
}
