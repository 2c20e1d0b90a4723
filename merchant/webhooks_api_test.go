package merchant_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/merchant"
)

// A Go receiver registered through the client gets the paid event of a payment from the
// stack's webhooks service, and WebhookVerifier accepts it with the secret the
// registration returned; rotating, reading and deleting the endpoint work as documented.
func TestWebhookEndpointReceivesVerifiedEvents(t *testing.T) {
	stack := localStack()
	c, err := merchant.New(merchant.Config{InitiatorURL: stack.Initiator, APIKey: devstack.DevAPIKey,
		WebhooksURL: stack.Webhooks, WebhooksKey: stack.WebhooksAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var (
		mu       sync.Mutex
		verifier *merchant.WebhookVerifier
		got      = map[string]merchant.Event{} // by event id
		refused  []error
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if verifier == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		ev, _, err := verifier.VerifyRequest(r, 256<<10)
		if err != nil {
			refused = append(refused, err)
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		got[ev.ID] = ev
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	ep, err := c.CreateWebhookEndpoint(ctx, merchant.NewWebhookEndpoint{URL: receiver.URL + "/epay/webhook", EventTypes: []string{merchant.EventPaid}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.ID, "ep_") || !strings.HasPrefix(ep.Secret, "whsec_") || ep.CreatedAt.IsZero() {
		t.Fatalf("created: %+v", ep)
	}
	mu.Lock()
	verifier, err = merchant.NewWebhookVerifier(ep.Secret)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}

	p, err := c.CreatePayment(ctx, merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: "300", Currency: "KZT",
		Description: "Order 3001", OrderID: "ORD-3001"}, "ORD-3001")
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, stack.Sandbox, p.PaymentObject, sandbox.TestCard); err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		ev, ok := got[p.InvoiceID+"-2"]
		mu.Unlock()
		if ok {
			if ev.Type != merchant.EventPaid || ev.Data.Invoice.OrderID != "ORD-3001" || ev.Data.Invoice.State != merchant.StatePaid {
				t.Errorf("delivered: %+v", ev)
			}
			break
		}
		select {
		case <-ctx.Done():
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no verified paid webhook for %s; received %d, refused %v", p.InvoiceID, len(got), refused)
		case <-time.After(50 * time.Millisecond):
		}
	}
	mu.Lock()
	if len(refused) > 0 {
		t.Errorf("the verifier refused deliveries of the service: %v", refused)
	}
	mu.Unlock()

	rotated, err := c.RotateWebhookSecret(ctx, ep.ID)
	if err != nil || rotated.ID != ep.ID || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == ep.Secret {
		t.Errorf("rotate: %+v %v", rotated, err)
	}
	read, err := c.WebhookEndpoint(ctx, ep.ID)
	if err != nil || read.Secret != "" || read.URL != ep.URL || strings.Join(read.EventTypes, ",") != merchant.EventPaid {
		t.Errorf("read: %+v %v, want the endpoint without its secret", read, err)
	}
	if err := c.DeleteWebhookEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WebhookEndpoint(ctx, ep.ID); !errors.Is(err, merchant.ErrNotFound) {
		t.Errorf("read after delete: %v, want ErrNotFound", err)
	}
	if _, err := c.CreateWebhookEndpoint(ctx, merchant.NewWebhookEndpoint{URL: "ftp://shop.example/hook"}); !errors.Is(err, merchant.ErrInvalid) {
		t.Errorf("an ftp URL: %v, want ErrInvalid", err)
	}
	wrong, _ := merchant.New(merchant.Config{WebhooksURL: stack.Webhooks, WebhooksKey: "not-a-key-of-the-webhooks-api"})
	if _, err := wrong.CreateWebhookEndpoint(ctx, merchant.NewWebhookEndpoint{URL: receiver.URL}); !errors.Is(err, merchant.ErrUnauthorized) {
		t.Errorf("a wrong key: %v, want ErrUnauthorized", err)
	}
}
