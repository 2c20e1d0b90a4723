package merchant_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/merchant"
)

// A paid payment refunded through the client: in part, the same refund again (the
// first answer), too much (ErrRefused, nothing recorded), the rest; a cancel of a
// one-stage payment refused; the refunded event decoded with its operation.
func TestClientRefundsAPayment(t *testing.T) {
	c := newClient(t, devstack.DevAPIKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := c.CreatePayment(ctx, merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: "100", Currency: "KZT", Description: "Order 2001", OrderID: "ORD-2001"}, "ORD-2001")
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, p.InvoiceID, merchant.StateCreated)
	if r, err := c.Refund(ctx, p.InvoiceID, "30", "early"); !errors.Is(err, merchant.ErrRefused) || r != nil {
		t.Fatalf("refund of an unpaid invoice: %+v %v, want ErrRefused and no operation", r, err)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, localStack().Sandbox, p.PaymentObject, sandbox.TestCard); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, p.InvoiceID, merchant.StatePaid)

	r, err := c.Refund(ctx, p.InvoiceID, "30", "refund-1")
	if err != nil || r.Operation.ID != "refund-1" || r.Operation.Type != merchant.OperationRefund || r.Operation.State != merchant.OperationSucceeded ||
		r.Operation.Amount.String() != "30" || r.Invoice.Refunded.String() != "30" || r.Invoice.InvoiceID != p.InvoiceID {
		t.Fatalf("refund of 30: %+v %v", r, err)
	}
	if again, err := c.Refund(ctx, p.InvoiceID, "30", "refund-1"); err != nil || again.Operation != r.Operation {
		t.Fatalf("the same refund again: %+v %v, want the first answer %+v", again, err, r.Operation)
	}
	if _, err := c.Refund(ctx, p.InvoiceID, "31", "refund-1"); !errors.Is(err, merchant.ErrConflict) {
		t.Fatalf("the key again with another amount: %v, want ErrConflict", err)
	}
	if _, err := c.Refund(ctx, p.InvoiceID, "70.50", "refund-2"); !errors.Is(err, merchant.ErrRefused) {
		t.Fatalf("more than is left: %v, want ErrRefused", err)
	}
	if _, err := c.Cancel(ctx, p.InvoiceID, "cancel-1"); !errors.Is(err, merchant.ErrRefused) {
		t.Fatalf("cancel of a charged payment: %v, want ErrRefused", err)
	}
	rest, err := c.Refund(ctx, p.InvoiceID, "", "refund-3")
	if err != nil || rest.Operation.Amount.String() != "70" || rest.Invoice.Refunded.String() != "100" {
		t.Fatalf("refund of the rest: %+v %v", rest, err)
	}
	inv := waitState(t, c, p.InvoiceID, merchant.StatePaid)
	ids := []string{}
	for _, o := range inv.Operations {
		ids = append(ids, o.ID+" "+o.State)
	}
	if !slices.Contains(ids, "refund-1 succeeded") || !slices.Contains(ids, "refund-3 succeeded") || inv.Refunded.String() != "100" {
		t.Errorf("the invoice's operations: %v, refunded %s", ids, inv.Refunded)
	}
	ev := readEvent(t, p.InvoiceID, merchant.EventRefunded)
	if ev.Data.Operation == nil || ev.Data.Operation.ID != "refund-1" || ev.Data.Operation.Amount.String() != "30" || ev.Data.Invoice.OrderID != "ORD-2001" {
		t.Errorf("the first refunded event: %+v", ev.Data)
	}
}

// An unmatched invoice (a signed callback for an invoice epayflow did not make) is found
// by ListInvoices, resolved failed by an operator key (not by a read key), and resolving
// it again the other way is ErrConflict.
func TestClientListsAndResolvesAnUnmatchedInvoice(t *testing.T) {
	stack := localStack()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys, err := epay.ParseKeyring(devstack.DevSecretKeys)
	if err != nil {
		t.Fatal(err)
	}
	const id = "100000777001"
	res, err := epaytest.Trigger(ctx, epaytest.TriggerOptions{URL: stack.Ingest + "/epay/postlink", InvoiceID: id, Amount: 50000, Keys: keys})
	if err != nil || res.Unexpected() != 0 {
		t.Fatalf("trigger: %v %+v", err, res)
	}
	reader := newClient(t, devstack.DevAPIKey)
	waitState(t, reader, id, merchant.StateUnmatched)

	var found *merchant.InvoiceView
	page := &merchant.InvoicePage{HasMore: true}
	for n := 0; page.HasMore && found == nil && n < 100; n++ {
		if page, err = reader.ListInvoices(ctx, merchant.ListOptions{States: []string{merchant.StateUnmatched, merchant.StateReview}, Limit: 50, Cursor: page.NextCursor}); err != nil {
			t.Fatal(err)
		}
		for i := range page.Invoices {
			if page.Invoices[i].InvoiceID == id {
				found = &page.Invoices[i]
			}
		}
	}
	if found == nil || found.State != merchant.StateUnmatched {
		t.Fatalf("ListInvoices(unmatched) did not find %s: %+v", id, found)
	}
	if p, err := reader.ListInvoices(ctx, merchant.ListOptions{States: []string{"settled"}}); !errors.Is(err, merchant.ErrInvalid) {
		t.Errorf("an unknown state: %+v %v, want ErrInvalid", p, err)
	}

	decide := merchant.ResolveRequest{Decision: merchant.StateFailed, By: "ops@example.kz", Reason: "no such order"}
	if _, err := reader.Resolve(ctx, id, decide); !errors.Is(err, merchant.ErrForbidden) {
		t.Fatalf("resolve with a key of scope operate: %v, want ErrForbidden", err)
	}
	op, err := merchant.New(merchant.Config{WorkerURL: stack.Worker, ReadKey: stack.WorkerOperatorKey})
	if err != nil {
		t.Fatal(err)
	}
	r, err := op.Resolve(ctx, id, decide)
	if err != nil || (!r.Accepted && (r.Invoice.State != merchant.StateFailed || r.Invoice.Resolution == nil || r.Invoice.Resolution.By != decide.By)) {
		t.Fatalf("resolve: %+v %v", r, err)
	}
	inv := waitState(t, reader, id, merchant.StateFailed)
	if inv.Resolution == nil || inv.Resolution.Decision != merchant.StateFailed || inv.Resolution.Operator != "devstack-operator" {
		t.Errorf("resolved invoice: %+v", inv.Resolution)
	}
	if _, err := op.Resolve(ctx, id, merchant.ResolveRequest{Decision: merchant.StatePaid, By: "x", Reason: "y"}); !errors.Is(err, merchant.ErrConflict) {
		t.Errorf("the other decision: %v, want ErrConflict", err)
	}
	ev := readEvent(t, id, merchant.EventFailed)
	if ev.Data.Resolution == nil || ev.Data.Resolution.Reason != decide.Reason {
		t.Errorf("the failed event: %+v", ev.Data)
	}
}
