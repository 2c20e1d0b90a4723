package invoice

import (
	"errors"
	"strconv"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

func opStep(id, typ, phase string, amount epay.Amount, outcome string) Message {
	s := OperationStep{ID: id, Type: typ, Phase: phase, Amount: amount, Outcome: outcome, At: t0}
	return OperationMessage("op:"+testInvoice+":"+id+":"+phase, testInvoice, s, t0)
}

func started(id, typ string, amount epay.Amount) Message {
	return opStep(id, typ, PhaseStarted, amount, "")
}
func done(id, typ string, amount epay.Amount) Message {
	return opStep(id, typ, PhaseDone, amount, OpSucceeded)
}

// applyOp applies msgs to the invoice paid with 100.00 KZT and returns it and the
// events of the last message.
func applyOp(t *testing.T, msgs ...Message) (Invoice, []Event) {
	t.Helper()
	cur, _ := base(t, "paid")
	var events []Event
	for _, m := range msgs {
		next, ev, err := Apply(cur, m, t0)
		if err != nil {
			t.Fatalf("apply %s: %v", m.ID, err)
		}
		cur, events = &next, ev
	}
	return *cur, events
}

// refusedRefunds are n refunds under ePay's minimum, each kept as a refused operation.
func refusedRefunds(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = started("small"+strconv.Itoa(i), OpRefund, 999)
	}
	return msgs
}

func TestRefundsInPartsThenInFullUpToWhatWasPaid(t *testing.T) {
	inv, ev := applyOp(t, started("r1", OpRefund, 3000), done("r1", OpRefund, 3000))
	if inv.Refunded != 3000 || len(ev) != 1 || ev[0].Type != EventRefunded || ev[0].Operation == nil || ev[0].Operation.Amount != 3000 ||
		ev[0].Invoice.Refunded != 3000 || inv.State != StatePaid {
		t.Fatalf("after 30: refunded %s, events %+v", inv.Refunded, ev)
	}
	// the rest, with no amount: all that is left
	inv, ev = applyOp(t, started("r1", OpRefund, 3000), done("r1", OpRefund, 3000), started("r2", OpRefund, 0), done("r2", OpRefund, 7000))
	if op, _ := inv.FindOperation("r2"); op.Amount != 7000 || op.State != OpSucceeded || inv.Refunded != 10000 || len(ev) != 1 || ev[0].Invoice.Refunded != 10000 {
		t.Fatalf("the rest: %+v refunded %s events %d", op, inv.Refunded, len(ev))
	}
	if _, why := inv.CheckOperation(OpRefund, 0); why != "nothing is left to refund" {
		t.Fatalf("a third refund: %q", why)
	}
	// one operation short of the most an invoice takes, a refund is still allowed; at
	// the most, none (and no more is recorded)
	inv, _ = applyOp(t, refusedRefunds(maxOperations-1)...)
	if amount, why := inv.CheckOperation(OpRefund, 1000); why != "" || amount != 1000 {
		t.Fatalf("a refund after %d operations: %s %q, want allowed", len(inv.Operations), amount, why)
	}
	inv, _ = applyOp(t, refusedRefunds(maxOperations+1)...)
	if _, why := inv.CheckOperation(OpRefund, 1000); why != "the invoice has 64 operations, the most it takes" || len(inv.Operations) != maxOperations {
		t.Fatalf("a refund after %d operations: %q, want refused at the most", len(inv.Operations), why)
	}
}

func TestOperationsTheInvoiceCannotTakeAreRefusedWithoutAnEvent(t *testing.T) {
	tests := []struct {
		name  string
		state string
		msgs  []Message
		typ   string
		amt   epay.Amount
		why   string
	}{
		{"over-refund", "paid", nil, OpRefund, 10001, "refund of 100.01 is more than the 100 left to refund"},
		{"over-refund after a refund", "paid", []Message{started("r1", OpRefund, 6000), done("r1", OpRefund, 6000)}, OpRefund, 4001,
			"refund of 40.01 is more than the 40 left to refund"},
		{"under ePay's minimum", "paid", nil, OpRefund, 999, "refund of 9.99 KZT is less than ePay's minimum of 10 KZT"},
		{"unpaid invoice", "created", nil, OpRefund, 1000, "the invoice is created, not paid"},
		{"failed invoice", "failed", nil, OpRefund, 0, "the invoice is failed, not paid"},
		{"another pending", "paid", []Message{started("r1", OpRefund, 1000)}, OpRefund, 1000, "operation r1 (refund) is still pending"},
		{"charge after a refund", "paid", []Message{started("r1", OpRefund, 1000), done("r1", OpRefund, 1000)}, OpCharge, 0, "the payment was charged already"},
		{"charge above the hold", "paid", nil, OpCharge, 10001, "charge of 100.01 is more than the 100 held"},
		{"P2P transfer", "p2p", nil, OpRefund, 0, "a P2P transfer has no charge, cancel or refund"},
		{"refund after a cancel", "paid", []Message{started("c1", OpCancel, 0), done("c1", OpCancel, 0)}, OpRefund, 0, "the payment was cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := tt.state
			if state == "p2p" {
				state = "paid"
			}
			cur, _ := base(t, state)
			if tt.state == "p2p" {
				cur.Kind = KindP2P
			}
			cur = mustApply(t, cur, tt.msgs...)
			before := cur.Refunded
			next, ev, err := Apply(cur, started("x", tt.typ, tt.amt), t0)
			if err != nil {
				t.Fatal(err)
			}
			op, ok := next.FindOperation("x")
			if !ok || op.State != OpRefused || op.Message != tt.why || len(ev) != 0 || next.Refunded != before {
				t.Fatalf("operation %+v (found %v), events %d, refunded %s; want refused %q", op, ok, len(ev), next.Refunded, tt.why)
			}
			// its done step changes nothing: it was never sent to ePay
			after, ev, err := Apply(&next, done("x", tt.typ, tt.amt), t0)
			if err != nil || len(ev) != 0 || after.Refunded != before {
				t.Fatalf("done of a refused operation: err %v, events %d, refunded %s", err, len(ev), after.Refunded)
			}
		})
	}
}

func TestTwoStagePaymentIsChargedOrCancelled(t *testing.T) {
	inv, ev := applyOp(t, started("c1", OpCharge, 6000), done("c1", OpCharge, 6000))
	if inv.Charged != 6000 || len(ev) != 1 || ev[0].Type != EventCharged || inv.Refundable() != 6000 {
		t.Fatalf("charged %s, refundable %s, events %+v", inv.Charged, inv.Refundable(), ev)
	}
	if _, why := inv.CheckOperation(OpRefund, 6001); why != "refund of 60.01 is more than the 60 left to refund" {
		t.Fatalf("refund above the charge: %q", why)
	}
	inv, ev = applyOp(t, started("x1", OpCancel, 0), done("x1", OpCancel, 0))
	if !inv.Cancelled || len(ev) != 1 || ev[0].Type != EventCancelled || ev[0].Operation.Type != OpCancel {
		t.Fatalf("cancelled %v, events %+v", inv.Cancelled, ev)
	}
}

func TestFailedOperationIsRecordedWithEPaysCodeAndFreesTheInvoice(t *testing.T) {
	failed := opStep("r1", OpRefund, PhaseDone, 0, OpFailed)
	failed.Operation.Code, failed.Operation.Message = "100", "wrong status"
	inv, ev := applyOp(t, started("r1", OpRefund, 2000), failed)
	op, _ := inv.FindOperation("r1")
	if op.State != OpFailed || op.Code != "100" || inv.Refunded != 0 || len(ev) != 0 {
		t.Fatalf("operation %+v refunded %s events %d", op, inv.Refunded, len(ev))
	}
	if _, why := inv.CheckOperation(OpRefund, 2000); why != "" {
		t.Fatalf("after a failed refund another is refused: %q", why)
	}
}

func TestOperationStepsAreAppliedOnce(t *testing.T) {
	cur, _ := base(t, "paid")
	cur = mustApply(t, cur, started("r1", OpRefund, 2000), done("r1", OpRefund, 2000))
	if _, _, err := Apply(cur, done("r1", OpRefund, 2000), t0); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("the same done twice: %v, want ErrDuplicate", err)
	}
	// a done with another message id (published again after a restart) changes nothing
	again := done("r1", OpRefund, 2000)
	again.ID += ":again"
	next, ev, err := Apply(cur, again, t0)
	if err != nil || len(ev) != 0 || next.Refunded != 2000 {
		t.Fatalf("a second done: err %v events %d refunded %s, want refunded once", err, len(ev), next.Refunded)
	}
	// the same operation id started again is history only
	restart := started("r1", OpRefund, 2000)
	restart.ID += ":again"
	next, _, _ = Apply(&next, restart, t0)
	if len(next.Operations) != 1 {
		t.Fatalf("operations %+v, want one", next.Operations)
	}
}

func TestOperationMessagesAreValidated(t *testing.T) {
	bad := []Message{
		opStep("", OpRefund, PhaseStarted, 0, ""),
		opStep("a b", OpRefund, PhaseStarted, 0, ""),
		opStep("r1", "void", PhaseStarted, 0, ""),
		opStep("r1", OpRefund, "maybe", 0, ""),
		opStep("r1", OpRefund, PhaseDone, 0, "perhaps"),
		opStep("r1", OpRefund, PhaseStarted, -1, ""),
		{ID: "x", Kind: MsgOperation, InvoiceID: testInvoice},
	}
	cur, _ := base(t, "paid")
	for _, m := range bad {
		if _, _, err := Apply(cur, m, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", m.Operation, err)
		}
	}
	if _, _, err := Apply(nil, started("r1", OpRefund, 1000), t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("an operation of an unknown invoice: %v, want ErrInvalid", err)
	}
}
