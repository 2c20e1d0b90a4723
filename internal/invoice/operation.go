package invoice

import (
	"fmt"
	"slices"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// MsgOperation is the kind of an operation message: a step of a charge, cancel or
// refund that the worker made through ePay's operation API, published to the inbox so
// that it is applied in order, deduplicated and in one transaction like a callback.
const MsgOperation MessageKind = "operation"

// Operation types: what follows a payment (ePay's operation API).
const (
	OpCharge = "charge" // a two-stage payment's hold taken (AUTH -> CHARGE)
	OpCancel = "cancel" // a two-stage payment's hold released (AUTH -> CANCEL)
	OpRefund = "refund" // money paid back, in full or in part (CHARGE only)
)

// Operation phases: each operation is two messages. Started before ePay is called (the
// invoice holds it pending: no other operation starts, and a worker that stops before
// ePay's answer finds it); done with ePay's answer, or with what ePay's status API shows
// when the answer was lost.
const (
	PhaseStarted = "started"
	PhaseDone    = "done"
)

// Operation states.
const (
	OpPending   = "pending"   // started; ePay's answer not recorded yet
	OpSucceeded = "succeeded" // ePay made it
	OpFailed    = "failed"    // ePay refused it, or did not make it
	OpRefused   = "refused"   // refused before ePay was asked (the invoice's rules)
)

// MinRefundKZT is the smallest refund ePay takes in tenge.
const MinRefundKZT epay.Amount = 10_00

// maxOperations bounds an invoice's operations.
const maxOperations = 64

// MaxOperationIDLen bounds an operation id (the merchant's Idempotency-Key).
const MaxOperationIDLen = 128

// OperationStep is the body of an operation message.
type OperationStep struct {
	ID    string `json:"id"` // the operation id: the merchant's Idempotency-Key
	Type  string `json:"type"`
	Phase string `json:"phase"`
	// Amount: started, what is asked (0: the whole amount, for a charge or a refund);
	// done, what was made.
	Amount epay.Amount `json:"amount,omitempty"`
	// Outcome is OpSucceeded or OpFailed (done only); Code and Message say why it
	// failed (ePay's code and message, as sent).
	Outcome string `json:"outcome,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Recovered: the outcome was read from ePay's status API, not from its answer to
	// the operation (the worker stopped in between).
	Recovered bool      `json:"recovered,omitempty"`
	At        time.Time `json:"at"`
	// Before is ePay's view of the payment read just before the operation was sent
	// (started only; zero for one started before it was read).
	Before EPayBefore `json:"before,omitzero"`
}

// EPayBefore is ePay's status of a payment read just before an operation of it was
// sent. A lost answer's outcome is judged against it, not against what the invoice
// recorded: ePay's refunded total counts the refunds made in its web cabinet as well.
type EPayBefore struct {
	Status string `json:"status"` // statusName: AUTH, CHARGE, REFUND…
	// Refunded is what ePay had paid back (payoutAmount), unless NoRefunded: its answer
	// did not tell.
	Refunded   epay.Amount `json:"refunded"`
	NoRefunded bool        `json:"noRefunded,omitempty"`
}

// Operation is one charge, cancel or refund of an invoice.
type Operation struct {
	ID          string      `json:"id"`
	Type        string      `json:"type"`
	Amount      epay.Amount `json:"amount,omitempty"`
	State       string      `json:"state"`
	Code        string      `json:"code,omitempty"`
	Message     string      `json:"message,omitempty"`
	Recovered   bool        `json:"recovered,omitempty"`
	RequestedAt time.Time   `json:"requestedAt"`
	DoneAt      time.Time   `json:"doneAt,omitzero"`
	// EPayBefore is ePay's view of the payment when the operation was sent (zero: not
	// read, an operation started before it was).
	EPayBefore EPayBefore `json:"epayBefore,omitzero"`
}

// OperationMessage makes the message of an operation step.
func OperationMessage(id, invoiceID string, s OperationStep, receivedAt time.Time) Message {
	return Message{ID: id, Kind: MsgOperation, InvoiceID: invoiceID, ReceivedAt: receivedAt, Operation: &s}
}

// ValidOperationID returns "" or what is wrong with an operation id: 1 to 128
// characters of A-Z a-z 0-9 - _ . : (the Idempotency-Key's rule).
func ValidOperationID(k string) string {
	if k == "" || len(k) > MaxOperationIDLen {
		return fmt.Sprintf("must be 1 to %d characters", MaxOperationIDLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return "may hold only A-Z, a-z, 0-9 and - _ . :"
		}
	}
	return ""
}

func (s *OperationStep) validate() error {
	if msg := ValidOperationID(s.ID); msg != "" {
		return fmt.Errorf("%w: operation id %s", ErrInvalid, msg)
	}
	if s.Type != OpCharge && s.Type != OpCancel && s.Type != OpRefund {
		return fmt.Errorf("%w: operation type %q", ErrInvalid, s.Type)
	}
	if s.Amount < 0 || s.Amount > epay.MaxAmount {
		return fmt.Errorf("%w: operation amount %s", ErrInvalid, s.Amount)
	}
	switch s.Phase {
	case PhaseStarted:
		return nil
	case PhaseDone:
		if s.Outcome != OpSucceeded && s.Outcome != OpFailed {
			return fmt.Errorf("%w: operation outcome %q", ErrInvalid, s.Outcome)
		}
		return nil
	}
	return fmt.Errorf("%w: operation phase %q", ErrInvalid, s.Phase)
}

// FindOperation returns the invoice's operation id, if any.
func (inv *Invoice) FindOperation(id string) (Operation, bool) {
	for _, op := range inv.Operations {
		if op.ID == id {
			return op, true
		}
	}
	return Operation{}, false
}

// PendingOperation returns the operation started and not done, if any.
func (inv *Invoice) PendingOperation() (Operation, bool) {
	for _, op := range inv.Operations {
		if op.State == OpPending {
			return op, true
		}
	}
	return Operation{}, false
}

// Refundable is what is left to refund: what was taken (the charge of a two-stage
// payment, else the invoice's amount) less the refunds.
func (inv *Invoice) Refundable() epay.Amount {
	base := inv.Amount
	if inv.Charged > 0 {
		base = inv.Charged
	}
	return max(base-inv.Refunded, 0)
}

// CheckOperation says why an operation of type typ for amount (0: the whole) cannot
// start on the invoice ("" when it can), and the amount it would be made for.
// The rules: the invoice is paid (the money was taken or held) and has a
// transaction, nothing is cancelled, no other operation is pending; a refund is at
// least 10 KZT and at most what is left to refund; a charge or a cancel comes before
// any charge or refund, and a charge is at most the invoice's amount.
func (inv *Invoice) CheckOperation(typ string, amount epay.Amount) (epay.Amount, string) {
	switch {
	case inv.State != StatePaid:
		return 0, "the invoice is " + string(inv.State) + ", not paid"
	case inv.Kind == KindP2P:
		return 0, "a P2P transfer has no charge, cancel or refund"
	case inv.TransactionID == "":
		return 0, "the invoice has no ePay transaction"
	case inv.Cancelled:
		return 0, "the payment was cancelled"
	case len(inv.Operations) >= maxOperations:
		return 0, fmt.Sprintf("the invoice has %d operations, the most it takes", maxOperations)
	}
	if p, ok := inv.PendingOperation(); ok {
		return 0, "operation " + p.ID + " (" + p.Type + ") is still pending"
	}
	switch typ {
	case OpRefund:
		left := inv.Refundable()
		if amount == 0 {
			amount = left
		}
		switch {
		case left == 0:
			return 0, "nothing is left to refund"
		case amount > left:
			return 0, "refund of " + amount.String() + " is more than the " + left.String() + " left to refund"
		case inv.Currency == "KZT" && amount < MinRefundKZT:
			return 0, "refund of " + amount.String() + " KZT is less than ePay's minimum of " + MinRefundKZT.String() + " KZT"
		}
		return amount, ""
	case OpCharge, OpCancel:
		if inv.Charged > 0 || inv.Refunded > 0 {
			return 0, "the payment was charged already"
		}
		if typ == OpCancel {
			return 0, ""
		}
		if amount == 0 {
			amount = inv.Amount
		}
		if amount > inv.Amount {
			return 0, "charge of " + amount.String() + " is more than the " + inv.Amount.String() + " held"
		}
		return amount, ""
	}
	return 0, "unknown operation " + typ
}

// applyOperation applies an operation step (already deduplicated) to a known invoice.
//
//	started, allowed by CheckOperation -> the operation pending (its amount resolved)
//	started, not allowed               -> the operation refused, with why
//	started, the id known already      -> history only
//	done, the operation pending        -> succeeded (+refunded, +charged or +cancelled) or failed
//	done, anything else                -> history only (late or repeated)
func applyOperation(inv Invoice, msg Message, now time.Time) (Invoice, []Event) {
	inv.touch(now)
	s := msg.Operation
	if s.Phase == PhaseStarted {
		if _, known := inv.FindOperation(s.ID); known {
			return inv, nil
		}
		op := Operation{ID: s.ID, Type: s.Type, State: OpPending, RequestedAt: s.At, EPayBefore: s.Before}
		amount, why := inv.CheckOperation(s.Type, s.Amount)
		if why != "" {
			op.State, op.Amount, op.Message, op.DoneAt = OpRefused, s.Amount, why, s.At
		} else if s.Type != OpCancel {
			op.Amount = amount
		}
		if len(inv.Operations) < maxOperations {
			inv.Operations = append(slices.Clone(inv.Operations), op)
		}
		return inv, nil
	}
	i := slices.IndexFunc(inv.Operations, func(o Operation) bool { return o.ID == s.ID })
	if i < 0 || inv.Operations[i].State != OpPending || inv.Operations[i].Type != s.Type {
		return inv, nil
	}
	inv.Operations = slices.Clone(inv.Operations)
	op := &inv.Operations[i]
	op.DoneAt, op.Recovered = s.At, s.Recovered
	if s.Outcome == OpFailed {
		op.State, op.Code, op.Message = OpFailed, s.Code, s.Message
		return inv, nil
	}
	op.State = OpSucceeded
	var t EventType
	switch op.Type {
	case OpRefund:
		inv.Refunded += op.Amount
		t = EventRefunded
	case OpCharge:
		inv.Charged = op.Amount
		t = EventCharged
	case OpCancel:
		inv.Cancelled = true
		t = EventCancelled
	}
	ev := inv.event(t, "", &Payment{}, now)
	done := *op
	ev.Operation = &done
	return inv, []Event{ev}
}
