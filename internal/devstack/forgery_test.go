package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// catcher is a transport that keeps the body of each request and answers 200 without
// sending anything: it turns epaytest.Trigger into a builder of genuine callback bodies.
type catcher struct{ bodies [][]byte }

func (c *catcher) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.bodies = append(c.bodies, b)
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(nil)), Header: http.Header{}, Request: r}, nil
}

// genuine returns the body of the callback ePay would send for the payment.
func genuine(t *testing.T, p payment, keys *epay.Keyring, kind string) map[string]any {
	t.Helper()
	c := &catcher{}
	_, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{URL: "http://127.0.0.1:1/epay/postlink",
		InvoiceID: p.InvoiceID, Amount: p.PaymentObject.Amount, Terminal: p.PaymentObject.Terminal, Keys: keys,
		Kind: kind, Client: &http.Client{Transport: c}})
	if err != nil || len(c.bodies) != 1 {
		t.Fatalf("trigger: %v, %d bodies", err, len(c.bodies))
	}
	var body map[string]any
	d := json.NewDecoder(bytes.NewReader(c.bodies[0]))
	d.UseNumber()
	if err := d.Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

// postCallback POSTs body to the ingest's postLink and returns the status.
func postCallback(t *testing.T, ingestURL string, body map[string]any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ingestURL+"/epay/postlink", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// settled waits until the worker applied n messages of the invoice (created plus the
// callbacks that got 200) and returns it.
func settled(t *testing.T, workerURL, invoiceID string, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var inv map[string]any
	for time.Now().Before(deadline) {
		if resp, err := workerGet(workerURL + "/v1/invoices/" + invoiceID); err == nil {
			inv = nil
			json.NewDecoder(resp.Body).Decode(&inv)
			resp.Body.Close()
			if h, _ := inv["history"].([]any); len(h) >= n {
				return inv
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("invoice %s: %v, want %d messages applied within 20s", invoiceID, inv, n)
	return nil
}

// TestForgedCallbacksNeverMakeAnInvoicePaid is the forgery matrix of docs/RELIABILITY.md,
// through the whole stack: each forged callback is refused (401) or ends in review or
// as a duplicate; no invoice becomes paid by it, and the events say exactly that.
func TestForgedCallbacksNeverMakeAnInvoicePaid(t *testing.T) {
	urls := startStack(t)
	keys, err := epay.ParseKeyring(devstack.DevSecretKeys)
	if err != nil {
		t.Fatal(err)
	}
	const otherTerminal = "11111111-2222-3333-4444-555555555555"

	t.Run("secret_hash of another invoice is 401", func(t *testing.T) {
		victim, other := createPayment(t, urls.Initiator), createPayment(t, urls.Initiator)
		body := genuine(t, victim, keys, epaytest.KindSuccess)
		body["secret_hash"] = keys.Sign(victim.PaymentObject.Terminal, other.InvoiceID)
		if got := postCallback(t, urls.Ingest, body); got != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", got)
		}
		assertUntouched(t, urls, victim.InvoiceID)
	})

	t.Run("secret_hash of another terminal is 401", func(t *testing.T) {
		victim := createPayment(t, urls.Initiator)
		body := genuine(t, victim, keys, epaytest.KindSuccess)
		body["secret_hash"] = keys.Sign(otherTerminal, victim.InvoiceID)
		if got := postCallback(t, urls.Ingest, body); got != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", got)
		}
		assertUntouched(t, urls, victim.InvoiceID)
	})

	t.Run("secret_hash of a key the ingest does not have is 401", func(t *testing.T) {
		victim := createPayment(t, urls.Initiator)
		stranger, _ := epay.ParseKeyring("D:a-key-that-is-not-the-merchants")
		body := genuine(t, victim, stranger, epaytest.KindSuccess)
		if got := postCallback(t, urls.Ingest, body); got != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", got)
		}
		assertUntouched(t, urls, victim.InvoiceID)
	})

	t.Run("replay of the real callback with another amount is a duplicate", func(t *testing.T) {
		p := createPayment(t, urls.Initiator)
		body := genuine(t, p, keys, epaytest.KindSuccess)
		if got := postCallback(t, urls.Ingest, body); got != http.StatusOK {
			t.Fatalf("genuine callback: %d", got)
		}
		waitState(t, urls.Worker, p.InvoiceID, "paid")
		body["amount"] = json.Number("1") // same transaction id: the same message to the stack
		if got := postCallback(t, urls.Ingest, body); got != http.StatusOK {
			t.Fatalf("replay: %d, want 200 (already stored)", got)
		}
		inv := settled(t, urls.Worker, p.InvoiceID, 2)
		if inv["state"] != "paid" || len(inv["history"].([]any)) != 2 || fmt.Sprint(inv["amount"]) != p.PaymentObject.Amount.String() {
			t.Fatalf("after the replay: state %v amount %v history %d", inv["state"], inv["amount"], len(inv["history"].([]any)))
		}
		assertEvents(t, urls, p.InvoiceID, "payments.paid")
	})

	t.Run("the real callback with another amount and transaction is review", func(t *testing.T) {
		p := createPayment(t, urls.Initiator)
		body := genuine(t, p, keys, epaytest.KindSuccess)
		body["amount"], body["id"] = json.Number("1"), "forged-transaction-1"
		if got := postCallback(t, urls.Ingest, body); got != http.StatusOK {
			t.Fatalf("status %d: a well-signed callback is stored", got)
		}
		inv := waitState(t, urls.Worker, p.InvoiceID, "review")
		if inv["reviewReason"] == nil {
			t.Errorf("review without a reason: %v", inv)
		}
		assertEvents(t, urls, p.InvoiceID, "payments.review")
	})

	t.Run("a forged lower amount before the real payment, then the real one", func(t *testing.T) {
		p := createPayment(t, urls.Initiator)
		real := genuine(t, p, keys, epaytest.KindSuccess)
		forged := genuine(t, p, keys, epaytest.KindSuccess)
		forged["amount"] = json.Number("1")
		for _, b := range []map[string]any{forged, real} {
			if got := postCallback(t, urls.Ingest, b); got != http.StatusOK {
				t.Fatalf("status %d", got)
			}
		}
		inv := waitState(t, urls.Worker, p.InvoiceID, "paid")
		if inv["transactionId"] != real["id"] {
			t.Fatalf("paid by transaction %v, want the real %v", inv["transactionId"], real["id"])
		}
		assertEvents(t, urls, p.InvoiceID, "payments.review", "payments.paid")
	})

	t.Run("success signed for the terminal it names, not the invoice's, is review", func(t *testing.T) {
		p := createPayment(t, urls.Initiator)
		body := genuine(t, p, keys, epaytest.KindSuccess)
		body["terminal"], body["secret_hash"] = otherTerminal, keys.Sign(otherTerminal, p.InvoiceID)
		if got := postCallback(t, urls.Ingest, body); got != http.StatusOK {
			t.Fatalf("status %d: the hash verifies for the terminal the callback names", got)
		}
		inv := waitState(t, urls.Worker, p.InvoiceID, "review")
		if inv["terminal"] != p.PaymentObject.Terminal {
			t.Fatalf("terminal %v, want the invoice's %s", inv["terminal"], p.PaymentObject.Terminal)
		}
		assertEvents(t, urls, p.InvoiceID, "payments.review")
	})

	t.Run("a late failure replayed after paid changes nothing", func(t *testing.T) {
		p := createPayment(t, urls.Initiator)
		if got := postCallback(t, urls.Ingest, genuine(t, p, keys, epaytest.KindSuccess)); got != http.StatusOK {
			t.Fatalf("status %d", got)
		}
		waitState(t, urls.Worker, p.InvoiceID, "paid")
		if got := postCallback(t, urls.Ingest, genuine(t, p, keys, epaytest.KindFailure)); got != http.StatusOK {
			t.Fatalf("status %d", got)
		}
		if inv := settled(t, urls.Worker, p.InvoiceID, 3); inv["state"] != "paid" {
			t.Fatalf("state %v after a late failure, want paid", inv["state"])
		}
		assertEvents(t, urls, p.InvoiceID, "payments.paid")
	})
}

// assertUntouched: the invoice is still created with only invoice.created applied, and
// no event was published about it.
func assertUntouched(t *testing.T, urls devstack.URLs, invoiceID string) {
	t.Helper()
	inv := waitState(t, urls.Worker, invoiceID, "created")
	if h, _ := inv["history"].([]any); len(h) != 1 {
		t.Fatalf("history %v, want invoice.created only", inv["history"])
	}
	assertEvents(t, urls, invoiceID)
}

// assertEvents checks that the events of an invoice are exactly want, once the worker
// drained its inbox (every message received applied and its events published).
func assertEvents(t *testing.T, urls devstack.URLs, invoiceID string, want ...string) {
	t.Helper()
	drained(t, urls)
	if got := events(t, urls, invoiceID); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
