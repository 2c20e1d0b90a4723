package invoice

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// MessageKind says what a Message carries.
type MessageKind string

// Message kinds.
const (
	MsgCreated MessageKind = "invoice.created"
	MsgSuccess MessageKind = "success"
	MsgFailure MessageKind = "failure"
)

// Message is one input of the state machine.
type Message struct {
	// ID identifies the message for deduplication (the inbox's Nats-Msg-Id).
	ID         string      `json:"id"`
	Kind       MessageKind `json:"kind"`
	InvoiceID  string      `json:"invoiceId"`
	ReceivedAt time.Time   `json:"receivedAt"`
	// StoredAt is when the inbox stream stored the message: JetStream's time, which no
	// publisher sets (zero when unknown). A claim's wait for ePay's final answer starts
	// here, not at ReceivedAt, which is the publisher's word: a receipt dated back would
	// otherwise send a claim to review at its first answer.
	StoredAt   time.Time      `json:"storedAt,omitzero"`
	Created    *Created       `json:"created,omitempty"`    // MsgCreated
	Payment    *Payment       `json:"callback,omitempty"`   // MsgSuccess, MsgFailure
	Status     *Status        `json:"status,omitempty"`     // MsgStatus
	Resolution *Resolution    `json:"resolution,omitempty"` // MsgResolve
	Operation  *OperationStep `json:"operation,omitempty"`  // MsgOperation
}

// Payment is what the state machine needs of a callback, plus the body verbatim.
type Payment struct {
	TransactionID string      `json:"transactionId"`
	Amount        epay.Amount `json:"amount"`
	Bonus         epay.Amount `json:"bonus,omitempty"`     // the callback's amountBonus: paid with Halyk's bonuses
	AccountID     string      `json:"accountId,omitempty"` // the callback's accountId: ePay's echo of the payment object's
	Currency      string      `json:"currency"`
	Terminal      string      `json:"terminal"`
	CardMask      string      `json:"cardMask,omitempty"`
	ReasonCode    int         `json:"reasonCode"`
	Reason        string      `json:"reason,omitempty"`
	DateTime      string      `json:"dateTime,omitempty"`
	Verified      bool        `json:"verified"` // secret_hash verified by the ingest
	// Confirm: a success may make the invoice paid only once ePay's status API agrees
	// (the worker's confirmation is on, or the callback is unverified and the worker can
	// ask). Until then the invoice records it as awaiting confirmation.
	Confirm bool            `json:"confirm,omitempty"`
	Raw     json.RawMessage `json:"raw"`
}

// waitFrom is when a claim made by the message starts waiting for ePay's final answer:
// StoredAt, or ReceivedAt for a message without it (made outside the inbox).
func (m Message) waitFrom() time.Time {
	if !m.StoredAt.IsZero() {
		return m.StoredAt
	}
	return m.ReceivedAt
}

// CreatedMessage makes the message of an invoice.created.
func CreatedMessage(id string, c Created, receivedAt time.Time) Message {
	return Message{ID: id, Kind: MsgCreated, InvoiceID: c.InvoiceID, ReceivedAt: receivedAt, Created: &c}
}

// CallbackMessage makes the message of a callback. verified is the ingest's verdict on
// secret_hash. The callback's code decides success or failure.
func CallbackMessage(id string, cb *epay.Callback, verified bool, receivedAt time.Time) Message {
	kind := MsgFailure
	if cb.Succeeded() {
		kind = MsgSuccess
	}
	return Message{ID: id, Kind: kind, InvoiceID: cb.InvoiceID, ReceivedAt: receivedAt, Payment: &Payment{
		TransactionID: cb.ID, Amount: cb.Amount, Bonus: cb.AmountBonus, AccountID: cb.AccountID, Currency: cb.Currency, Terminal: cb.Terminal,
		CardMask: cb.CardMask, ReasonCode: cb.ReasonCode, Reason: cb.Reason, DateTime: cb.DateTime,
		Verified: verified, Raw: json.RawMessage(cb.Raw),
	}}
}

// Validate reports why a message can never be applied; the error wraps ErrInvalid.
func (m Message) Validate() error {
	if m.ID == "" {
		return fmt.Errorf("%w: no message id", ErrInvalid)
	}
	if err := epay.ValidateInvoiceID(m.InvoiceID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch m.Kind {
	case MsgCreated:
		if m.Created == nil {
			return fmt.Errorf("%w: invoice.created without its body", ErrInvalid)
		}
		return m.Created.validate()
	case MsgStatus:
		if m.Status == nil {
			return fmt.Errorf("%w: status without its body", ErrInvalid)
		}
		return m.Status.validate()
	case MsgResolve:
		if m.Resolution == nil {
			return fmt.Errorf("%w: resolution without its body", ErrInvalid)
		}
		return m.Resolution.Validate()
	case MsgOperation:
		if m.Operation == nil {
			return fmt.Errorf("%w: operation without its body", ErrInvalid)
		}
		return m.Operation.validate()
	case MsgSuccess, MsgFailure:
		if m.Payment == nil {
			return fmt.Errorf("%w: callback without its body", ErrInvalid)
		}
		if err := epay.ValidateTransactionID(m.Payment.TransactionID); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, m.Kind)
	}
}

func (c *Created) validate() error {
	if c.Amount <= 0 || c.Amount > epay.MaxAmount {
		return fmt.Errorf("%w: invoice amount %s", ErrInvalid, c.Amount)
	}
	if _, err := epay.NormalizeCurrency(c.Currency); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Terminal == "" {
		return fmt.Errorf("%w: invoice without a terminal", ErrInvalid)
	}
	return nil
}
