package merchant_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/merchant"
)

// A shop's backend starts a payment for its order and hands the payment object to its
// checkout page. The examples run against the local stack (make run) that the tests
// start: initiatorURL, workerURL and readKey are its addresses and its read key.
func ExampleClient_CreatePayment() {
	client, err := merchant.New(merchant.Config{InitiatorURL: initiatorURL(), APIKey: "dev-merchant-key"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	req := merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: "2500", Currency: "KZT",
		Description: "Order 5001", OrderID: "ORD-5001", Metadata: map[string]string{"cart": "c-5001"}}
	// The order id as the Idempotency-Key: a retry after a timeout answers the same invoice.
	p, err := client.CreatePayment(ctx, req, "ORD-5001")
	if err != nil {
		panic(err)
	}
	again, err := client.CreatePayment(ctx, req, "ORD-5001")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.OrderID, p.Replayed, again.InvoiceID == p.InvoiceID, again.Replayed)

	req.Amount = "3000" // the same key with another request is refused
	_, err = client.CreatePayment(ctx, req, "ORD-5001")
	var apiErr *merchant.APIError
	fmt.Println(errors.Is(err, merchant.ErrConflict), errors.As(err, &apiErr) && apiErr.Status == 409)
	// Output:
	// ORD-5001 false true true
	// true true
}

// A reconciliation job reads an invoice and its history from the worker.
func ExampleClient_Invoice() {
	client, err := merchant.New(merchant.Config{InitiatorURL: initiatorURL(), APIKey: "dev-merchant-key", WorkerURL: workerURL(), ReadKey: readKey()})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := client.CreatePayment(ctx, merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: "99.90",
		Currency: "KZT", Description: "Order 5002", OrderID: "ORD-5002"}, "ORD-5002")
	if err != nil {
		panic(err)
	}
	var inv *merchant.Invoice
	for inv == nil { // the worker applies invoice.created within moments of the answer
		inv, err = client.Invoice(ctx, p.InvoiceID)
		if errors.Is(err, merchant.ErrNotFound) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			panic(err)
		}
	}
	fmt.Println(inv.State, inv.Amount, inv.Currency, inv.OrderID, inv.History[0].Kind)

	_, err = client.Invoice(ctx, "199999999999")
	fmt.Println(errors.Is(err, merchant.ErrNotFound))
	// Output:
	// created 99.9 KZT ORD-5002 invoice.created
	// true
}

// The signature published with the Standard Webhooks specification's reference library.
func ExampleWebhookVerifier_Verify() {
	v, err := merchant.NewWebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	v.Now = func() time.Time { return time.Unix(1614265330, 0) } // the example's own clock
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	id, err := v.Verify(h, []byte(`{"test": 2432232314}`))
	fmt.Println(id, err)
	_, err = v.Verify(h, []byte(`{"test": 2432232315}`))
	fmt.Println(err)
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek <nil>
	// webhook: no signature matches
}

// A webhook endpoint: verify, deduplicate by webhook-id, answer 2xx at once.
func ExampleWebhookVerifier_VerifyRequest() {
	// Both secrets while a rotated one is rolled out.
	v, err := merchant.NewWebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhlLW5ldy1zZWNyZXQtb2YtdGhlLWVuZHBvaW50")
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{} // a real shop keeps these in its database
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _, err := v.VerifyRequest(r, 256<<10)
		if err != nil {
			http.Error(w, "refused", http.StatusBadRequest)
			return
		}
		mu.Lock()
		dup := seen[ev.ID]
		seen[ev.ID] = true
		mu.Unlock()
		if !dup {
			fmt.Println("order", ev.Data.Invoice.OrderID, "is", ev.Data.Invoice.State)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	// A delivery as the webhooks service sends it (signed here by the reference library),
	// twice, and a forged one.
	deliver := func(secret string) int {
		wh, _ := standardwebhooks.NewWebhook(secret)
		now := time.Now()
		sig, _ := wh.Sign("191111111-2", now, []byte(paidEvent))
		r := httptest.NewRequest(http.MethodPost, "/epay/webhook", bytes.NewReader([]byte(paidEvent)))
		r.Header.Set("webhook-id", "191111111-2")
		r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		r.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w.Code
	}
	fmt.Println(deliver("whsec_dGhlLW5ldy1zZWNyZXQtb2YtdGhlLWVuZHBvaW50"))
	fmt.Println(deliver("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	fmt.Println(deliver("whsec_Zm9yZ2VkLWJ5LXNvbWVib2R5LWVsc2U="))
	// Output:
	// order ORD-42 is paid
	// 204
	// 204
	// 400
}

// A payment event, from PAYMENT_EVENTS or a webhook's body.
func ExampleDecodeEvent() {
	ev, err := merchant.DecodeEvent([]byte(paidEvent))
	if err != nil {
		panic(err)
	}
	inv := ev.Data.Invoice
	fmt.Println(ev.ID, ev.Type, inv.InvoiceID, inv.State, inv.Amount, inv.Currency, inv.OrderID, inv.Reason.En)
	// Output: 191111111-2 kz.epay.payment.paid 191111111 paid 100 KZT ORD-42 Success
}
