package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/sandbox/browsertest"
	"github.com/epayflow/epayflow/merchant"
)

// receiver is a merchant's webhook endpoint: it keeps every request it is sent.
type receiver struct {
	mu   sync.Mutex
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, received{r.Header.Clone(), body})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// registerEndpoint registers url with the stack's webhooks API for every event type and
// returns the endpoint's signing secret.
func registerEndpoint(t *testing.T, urls devstack.URLs, url string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"url": url})
	req, _ := http.NewRequest(http.MethodPost, urls.Webhooks+"/v1/webhooks/endpoints", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+urls.WebhooksAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("register endpoint: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ep struct{ Secret string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &ep) != nil || ep.Secret == "" {
		t.Fatalf("register endpoint: %d %s", resp.StatusCode, raw)
	}
	return ep.Secret
}

// webhooksDrained waits until the webhooks service's consumer on PAYMENT_EVENTS has
// nothing pending and nothing unacked: every event is handled (delivered, here).
func webhooksDrained(t *testing.T, urls devstack.URLs) {
	t.Helper()
	nc := connectAs(t, urls, natsbus.RoleAdmin)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := js.Consumer(ctx, natsbus.StreamEvents, "webhooks")
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(ctx)
		}
		cancel()
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhooks consumer not drained within 30s: %+v %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserPaymentReachesAWebhookEndpointSigned: make run's webhooks service delivers
// every event of a browser payment, and of its refund, to a merchant's endpoint
// registered through its API:
// exactly the events PAYMENT_EVENTS holds for the invoice, each once, each signed as
// Standard Webhooks says (checked by the specification's own Go library), with the
// event id as webhook-id, and nothing more once its consumer has drained.
func TestBrowserPaymentReachesAWebhookEndpointSigned(t *testing.T) {
	urls := startStack(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	secret := registerEndpoint(t, urls, srv.URL+"/epay/webhook")

	ctx, b := browsertest.Start(t, 2*time.Minute)
	payInBrowser(t, ctx, b, urls.Initiator+"/", "4405639704015096", "01/27", "321")
	_, _, invoiceID := returnPage(t, ctx, b, "paid")
	waitState(t, urls.Worker, invoiceID, "paid")
	// The merchant refunds it in full through the initiator, as a shop's backend would.
	client, err := merchant.New(merchant.Config{InitiatorURL: urls.Initiator, APIKey: devstack.DevAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r, err := client.Refund(rctx, invoiceID, "", "refund-"+invoiceID); err != nil || r.Operation.State != merchant.OperationSucceeded {
		t.Fatalf("refund: %+v %v", r, err)
	}
	drained(t, urls)
	// The expectation, read from the stream as a merchant's subscriber would: the ids of
	// the invoice's events (a paid card payment refunded has exactly two, payments.paid and
	// payments.refunded).
	var want []string
	for _, m := range eventMsgs(t, urls, invoiceID) {
		var ev struct{ ID, Type string }
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
	}
	if got := events(t, urls, invoiceID); !slices.Equal(got, []string{"payments.paid", "payments.refunded"}) {
		t.Fatalf("events = %v, want exactly [payments.paid payments.refunded]", got)
	}

	deadline := time.Now().Add(30 * time.Second)
	for len(rc.got()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	webhooksDrained(t, urls)
	var types []string
	for _, r := range rc.got() {
		var ev struct{ Type string }
		json.Unmarshal(r.body, &ev)
		types = append(types, ev.Type)
	}
	if !slices.Equal(types, []string{merchant.EventPaid, merchant.EventRefunded}) {
		t.Errorf("the endpoint received %v, want the paid event, then the refunded one", types)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rc.got() {
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("webhook %s: signature refused by the Standard Webhooks library: %v", r.header.Get("webhook-id"), err)
		}
		var ev struct{ ID, Subject string }
		if err := json.Unmarshal(r.body, &ev); err != nil || ev.ID != r.header.Get("webhook-id") || ev.Subject != invoiceID {
			t.Errorf("webhook %s: body %s (%v), want the CloudEvent of invoice %s with that id", r.header.Get("webhook-id"), r.body, err, invoiceID)
		}
		ids = append(ids, r.header.Get("webhook-id"))
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("the endpoint received webhook-ids %v, want exactly %v (the invoice's events), each once", ids, want)
	}
}
