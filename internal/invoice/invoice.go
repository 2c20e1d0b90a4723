package invoice

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// State is where an invoice stands.
type State string

// The states of docs/DESIGN.md.
const (
	// StateCreated: invoice.created seen, no deciding callback yet.
	StateCreated State = "created"
	// StatePaid: a verified success callback matched amount, currency and terminal.
	StatePaid State = "paid"
	// StateFailed: a failure callback; a later matching success still makes it paid.
	StateFailed State = "failed"
	// StateReview: a success callback that a human must look at (mismatch or unverified).
	StateReview State = "review"
	// StateUnmatched: callbacks for an invoice whose invoice.created has not arrived.
	StateUnmatched State = "unmatched"
)

// States lists every state, in a stable order (metrics iterate it).
var States = []State{StateCreated, StatePaid, StateFailed, StateReview, StateUnmatched}

// Errors returned by Apply.
var (
	// ErrDuplicate: the message was applied before; nothing changes.
	ErrDuplicate = errors.New("message already applied")
	// ErrInvalid: the message can never be applied (it goes to the dead-letter queue).
	ErrInvalid = errors.New("message cannot be applied")
	// ErrOverLimit: a callback past the invoice's bound of messages (MaxMessagesForCallbacks,
	// MaxMessagesForUnverified). It is not applied and not sent to the DLQ: a flood of them
	// would fill the DLQ, whose refusals stop the shard; its copy stays in EPAY_INBOX.
	ErrOverLimit = errors.New("the invoice takes no more callbacks")
)

// Invoice is the worker's view of one invoice.
type Invoice struct {
	InvoiceID   string      `json:"invoiceId"`
	State       State       `json:"state"`
	Kind        string      `json:"kind,omitempty"`
	Amount      epay.Amount `json:"amount"`
	Currency    string      `json:"currency,omitempty"`
	Terminal    string      `json:"terminal,omitempty"`
	Description string      `json:"description,omitempty"`
	AccountID   string      `json:"accountId,omitempty"`
	// OrderID and Metadata are the merchant's references, from invoice.created.
	OrderID       string            `json:"orderId,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	TransactionID string            `json:"transactionId,omitempty"`
	ReasonCode    int               `json:"reasonCode"`
	Reason        string            `json:"reason,omitempty"`       // ePay's reason text, as sent
	ReviewReason  string            `json:"reviewReason,omitempty"` // why a human must look
	CardMask      string            `json:"cardMask,omitempty"`
	// DoublePayment is set when a second verified success with another transaction id
	// arrives for a paid invoice: money may have been taken twice.
	DoublePayment bool `json:"doublePayment,omitempty"`
	// OtherTransactions are the transactions of verified success callbacks besides
	// TransactionID (a second one seen while a claim waited, or one after paid): each is a
	// double payment, flagged once (at most maxOtherTransactions are kept).
	OtherTransactions []string  `json:"otherTransactionIds,omitempty"`
	CreatedAt         time.Time `json:"createdAt,omitzero"` // from invoice.created; zero while unmatched
	UpdatedAt         time.Time `json:"updatedAt"`
	PaidAt            time.Time `json:"paidAt,omitzero"`
	// Version counts the messages applied; event ids are InvoiceID-Version.
	Version int64 `json:"version"`
	// Applied holds the ids of every message applied, so Apply is idempotent on its own.
	Applied []string `json:"applied,omitempty"`
	// Pending holds the callbacks of an unmatched invoice, in arrival order.
	Pending []Message `json:"pending,omitempty"`

	// Confirmation is "pending" while a success callback waits for ePay's status API
	// (confirmation on); the invoice keeps its state until the answer. ConfirmClaim is
	// that callback, ConfirmSince when the inbox stored it (Message.StoredAt).
	Confirmation string    `json:"confirmation,omitempty"`
	ConfirmClaim *Payment  `json:"confirmClaim,omitempty"`
	ConfirmSince time.Time `json:"confirmSince,omitzero"`
	// StatusChecks counts the status answers applied; LastStatus is the last one
	// ("100 CHARGE", "102"), LastStatusAt when it was applied.
	StatusChecks int       `json:"statusChecks,omitempty"`
	LastStatus   string    `json:"lastStatus,omitempty"`
	LastStatusAt time.Time `json:"lastStatusAt,omitzero"`

	// Resolution is the last operator decision applied (MsgResolve); the invoice may
	// move on after it as any paid or failed invoice does.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Operations are the charges, cancels and refunds asked of ePay, in order
	// (operation.go). Refunded is what was paid back, Charged what a two-stage
	// payment's charge took, Cancelled whether its hold was released.
	Operations []Operation `json:"operations,omitempty"`
	Refunded   epay.Amount `json:"refunded,omitempty"`
	Charged    epay.Amount `json:"charged,omitempty"`
	Cancelled  bool        `json:"cancelled,omitempty"`
}

// EventType is the type of a payment event: the last token of payments.<type>.
type EventType string

// Event types.
const (
	EventPaid   EventType = "paid"
	EventFailed EventType = "failed"
	EventReview EventType = "review"
	// EventRefunded, EventCharged, EventCancelled: an operation ePay made (operation.go).
	EventRefunded  EventType = "refunded"
	EventCharged   EventType = "charged"
	EventCancelled EventType = "cancelled"
)

// EventTypes are every event type, in the order of the constants above.
var EventTypes = []EventType{EventPaid, EventFailed, EventReview, EventRefunded, EventCharged, EventCancelled}

// Event is a payment event, written to the outbox in the transaction that made it.
type Event struct {
	// ID is InvoiceID + "-" + Version: re-applying a message can never make a new id.
	ID        string    `json:"id"`
	Type      EventType `json:"type"`
	InvoiceID string    `json:"invoiceId"`
	Time      time.Time `json:"time"`
	// Reason says why a review event was raised (what mismatched, unverified, double payment).
	Reason string `json:"reason,omitempty"`
	// Invoice is the invoice after the change, without Applied and Pending.
	Invoice Invoice `json:"invoice"`
	// Callback is the callback body that caused the event, verbatim.
	Callback json.RawMessage `json:"callback,omitempty"`
	// Resolution is the operator decision that caused the event (nil for any other).
	Resolution *Resolution `json:"resolution,omitempty"`
	// Operation is the operation a refunded, charged or cancelled event tells.
	Operation *Operation `json:"operation,omitempty"`
}
