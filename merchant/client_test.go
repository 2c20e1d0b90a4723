package merchant_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/merchant"
)

func newClient(t *testing.T, apiKey string) *merchant.Client {
	t.Helper()
	stack := localStack()
	c, err := merchant.New(merchant.Config{InitiatorURL: stack.Initiator, APIKey: apiKey, WorkerURL: stack.Worker, ReadKey: stack.WorkerReadKey})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitState polls the read API until the invoice is in state, within 30 s.
func waitState(t *testing.T, c *merchant.Client, id, state string) *merchant.Invoice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		inv, err := c.Invoice(ctx, id)
		if err == nil && inv.State == state {
			return inv
		}
		select {
		case <-ctx.Done():
			t.Fatalf("invoice %s never %s: %v %+v", id, state, err, inv)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A payment's life through the client against the running stack: created with its
// references, replayed by its Idempotency-Key, read from the worker, paid in the
// sandbox, and its paid event decoded from PAYMENT_EVENTS with the references in it.
func TestClientCreatesPaysAndReadsAPayment(t *testing.T) {
	c := newClient(t, devstack.DevAPIKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: "100.50", Currency: "KZT", Description: "Order 1001",
		Email: "a@example.kz", OrderID: "ORD-1001", Metadata: map[string]string{"cart": "c-7"}}
	p, err := c.CreatePayment(ctx, req, "ORD-1001")
	if err != nil {
		t.Fatal(err)
	}
	if p.InvoiceID == "" || len(p.PaymentObject) == 0 || p.PayformJSURL == "" || p.OrderID != "ORD-1001" || p.Metadata["cart"] != "c-7" || p.Replayed {
		t.Fatalf("created: %+v", p)
	}
	again, err := c.CreatePayment(ctx, req, "ORD-1001")
	if err != nil || again.InvoiceID != p.InvoiceID || !again.Replayed {
		t.Fatalf("replay: %+v %v, want invoice %s replayed", again, err, p.InvoiceID)
	}

	inv := waitState(t, c, p.InvoiceID, merchant.StateCreated)
	if inv.Amount.String() != "100.5" || inv.OrderID != "ORD-1001" || inv.Metadata["cart"] != "c-7" || len(inv.History) != 1 || inv.History[0].Kind != "invoice.created" {
		t.Fatalf("invoice: %+v", inv)
	}

	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, localStack().Sandbox, p.PaymentObject, sandbox.TestCard); err != nil {
		t.Fatal(err)
	}
	paid := waitState(t, c, p.InvoiceID, merchant.StatePaid)
	if paid.TransactionID == "" || paid.PaidAt.IsZero() || paid.Reason == nil || paid.Reason.En == "" || paid.Version < 2 {
		t.Errorf("paid invoice: %+v", paid)
	}

	ev := readEvent(t, p.InvoiceID, merchant.EventPaid)
	if ev.ID != p.InvoiceID+"-2" || ev.Subject != p.InvoiceID || ev.Data.Invoice.State != merchant.StatePaid ||
		ev.Data.Invoice.OrderID != "ORD-1001" || ev.Data.Invoice.Metadata["cart"] != "c-7" || ev.Data.Invoice.TransactionID != paid.TransactionID || len(ev.Data.Callback) == 0 {
		t.Errorf("paid event: %+v", ev)
	}
}

// readEvent reads PAYMENT_EVENTS as the subscriber user until it finds the event of
// type typ for invoice id, decoded by DecodeEvent.
func readEvent(t *testing.T, id, typ string) merchant.Event {
	t.Helper()
	stack := localStack()
	sub := stack.NATSUsers[natsbus.RoleSubscriber]
	nc, err := nats.Connect(stack.NATS, nats.UserInfo(sub.User, sub.Password), nats.CustomInboxPrefix(natsbus.RoleSubscriber.InboxPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The subscriber user may create consumers, not delete them (an ordered consumer
	// deletes its own): a durable one per invoice.
	cons, err := js.CreateOrUpdateConsumer(ctx, natsbus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "merchant-test-" + id, FilterSubject: "payments.>", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			continue
		}
		ev, err := merchant.DecodeEvent(msg.Data())
		if err != nil {
			t.Fatalf("a message of PAYMENT_EVENTS: %v\n%s", err, msg.Data())
		}
		if ev.Subject == id && ev.Type == typ {
			return ev
		}
	}
	t.Fatalf("no %s event of invoice %s on PAYMENT_EVENTS", typ, id)
	return merchant.Event{}
}

// Each refusal of the services is an *APIError with the API's body, and matches its
// kind with errors.Is.
func TestClientErrorsAreTypedWithTheAPIsBody(t *testing.T) {
	c := newClient(t, devstack.DevAPIKey)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok := merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: "100", Currency: "KZT", Description: "Order 7", OrderID: "ORD-7"}

	_, err := c.CreatePayment(ctx, merchant.PaymentRequest{Kind: "payment", Amount: "-1", Currency: "KZT", Description: "x", OrderID: "ORD 7"}, "")
	var apiErr *merchant.APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, merchant.ErrInvalid) || apiErr.Status != 400 || apiErr.Fields["amount"] == "" || apiErr.Fields["orderId"] == "" {
		t.Errorf("invalid request: %v (%+v)", err, apiErr)
	}

	if _, err := newClient(t, "not-a-key-of-the-initiator").CreatePayment(ctx, ok, ""); !errors.Is(err, merchant.ErrUnauthorized) {
		t.Errorf("wrong key: %v, want ErrUnauthorized", err)
	}

	if _, err := c.CreatePayment(ctx, ok, "ORD-7"); err != nil {
		t.Fatal(err)
	}
	other := ok
	other.Amount = "200"
	if _, err := c.CreatePayment(ctx, other, "ORD-7"); !errors.Is(err, merchant.ErrConflict) || errors.Is(err, merchant.ErrInvalid) {
		t.Errorf("same key, another request: %v, want ErrConflict only", err)
	}

	if _, err := c.Invoice(ctx, "199999999999"); !errors.Is(err, merchant.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Message == "" {
		t.Errorf("unknown invoice: %v, want ErrNotFound with the API's message", err)
	}
	if _, err := c.Invoice(ctx, "12ab"); !errors.Is(err, merchant.ErrInvalid) {
		t.Errorf("malformed id: %v, want ErrInvalid", err)
	}
	bad, _ := merchant.New(merchant.Config{WorkerURL: localStack().Worker, ReadKey: "not-a-read-key-of-the-worker"})
	if _, err := bad.Invoice(ctx, "100000000001"); !errors.Is(err, merchant.ErrUnauthorized) {
		t.Errorf("wrong read key: %v, want ErrUnauthorized", err)
	}
	if _, err := bad.CreatePayment(ctx, ok, ""); !errors.Is(err, merchant.ErrConfig) {
		t.Errorf("a client without the initiator: %v, want ErrConfig", err)
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, cfg := range []merchant.Config{
		{},
		{InitiatorURL: "localhost:8080", APIKey: "k"},
		{InitiatorURL: "http://localhost:8080"},
		{WorkerURL: "http://localhost:8082"},
		{InitiatorURL: "http://localhost:8080", APIKey: "k", WorkerURL: "ftp://x", ReadKey: "r"},
	} {
		if _, err := merchant.New(cfg); !errors.Is(err, merchant.ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}
