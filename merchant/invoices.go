package merchant

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The states of an invoice.
const (
	StateCreated   = "created"
	StatePaid      = "paid"
	StateFailed    = "failed"
	StateReview    = "review"    // a human must look (data.reason of the event says why)
	StateUnmatched = "unmatched" // a callback for an invoice epayflow did not create
)

// InvoiceView is an invoice as the read API and every payment event show it
// (worker.yaml, InvoiceView).
type InvoiceView struct {
	InvoiceID string `json:"invoiceId"`
	State     string `json:"state"`
	Kind      string `json:"kind,omitempty"`
	// Amount in major units, as written (json.Number keeps it exact: 100, 12.5).
	Amount      json.Number       `json:"amount"`
	Currency    string            `json:"currency,omitempty"`
	Terminal    string            `json:"terminal,omitempty"`
	Description string            `json:"description,omitempty"`
	AccountID   string            `json:"accountId,omitempty"`
	OrderID     string            `json:"orderId,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// TransactionID is ePay's transaction of the final callback.
	TransactionID string      `json:"transactionId,omitempty"`
	ReasonCode    int         `json:"reasonCode"`
	Reason        *ReasonText `json:"reason,omitempty"`
	EPayReason    string      `json:"epayReason,omitempty"`
	ReviewReason  string      `json:"reviewReason,omitempty"`
	DoublePayment bool        `json:"doublePayment,omitempty"`
	CardMask      string      `json:"cardMask,omitempty"`
	CreatedAt     time.Time   `json:"createdAt,omitzero"`
	UpdatedAt     time.Time   `json:"updatedAt"`
	PaidAt        time.Time   `json:"paidAt,omitzero"`
	Version       int         `json:"version"`
	// Confirmation is "pending" or "not_final" while the worker waits for ePay's final
	// word on a callback (docs/WORKER.md), with the status checks made so far.
	Confirmation string    `json:"confirmation,omitempty"`
	ConfirmSince time.Time `json:"confirmSince,omitzero"`
	StatusChecks int       `json:"statusChecks,omitempty"`
	LastStatus   string    `json:"lastStatus,omitempty"`
	LastStatusAt time.Time `json:"lastStatusAt,omitzero"`
	// Resolution is the last operator decision on an invoice that needed a human.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Refunded is what was paid back in all, Charged what a two-stage payment's charge
	// took, Cancelled whether its hold was released; Operations lists each refund,
	// charge and cancel as recorded, oldest first.
	Refunded   json.Number `json:"refunded,omitempty"`
	Charged    json.Number `json:"charged,omitempty"`
	Cancelled  bool        `json:"cancelled,omitempty"`
	Operations []Operation `json:"operations,omitempty"`
}

// The types and states of an operation.
const (
	OperationRefund = "refund"
	OperationCharge = "charge"
	OperationCancel = "cancel"

	OperationPending   = "pending"   // asked of ePay, its answer not recorded yet
	OperationSucceeded = "succeeded" // ePay made it
	OperationFailed    = "failed"    // ePay refused it (Code, Message), or it was never made (Code "not_made")
	OperationRefused   = "refused"   // refused by the invoice's rules, never sent to ePay
)

// Operation is a refund, charge or cancel of an invoice as recorded (worker.yaml,
// Operation).
type Operation struct {
	// ID is the Idempotency-Key it was asked with.
	ID     string      `json:"id"`
	Type   string      `json:"type"`
	Amount json.Number `json:"amount,omitempty"`
	State  string      `json:"state"`
	// Code and Message are ePay's error, as sent, when it refused the operation.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Recovered: the outcome was read from ePay's status API after a worker stopped
	// before recording ePay's answer.
	Recovered   bool      `json:"recovered,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
	DoneAt      time.Time `json:"doneAt,omitzero"`
}

// Resolution is an operator's decision on an invoice in review or unmatched
// (worker.yaml, Resolution): the decision (StatePaid or StateFailed), who as the operator
// said, why, the name of the key that authorised it, and when.
type Resolution struct {
	Decision string    `json:"decision"`
	By       string    `json:"by"`
	Reason   string    `json:"reason"`
	Operator string    `json:"operator"`
	At       time.Time `json:"at"`
}

// ReasonText is the meaning of a reason code, in English, Russian and Kazakh.
type ReasonText struct {
	En string `json:"en"`
	Ru string `json:"ru"`
	Kk string `json:"kk"`
}

// Invoice is the worker's answer: the invoice and its history (worker.yaml,
// InvoiceWithHistory).
type Invoice struct {
	InvoiceView
	History []HistoryEntry `json:"history"`
}

// HistoryEntry is one message the worker applied to the invoice, oldest first.
type HistoryEntry struct {
	MessageID   string    `json:"messageId"`
	Kind        string    `json:"kind"` // invoice.created, success, failure, status
	ReceivedAt  time.Time `json:"receivedAt"`
	AppliedAt   time.Time `json:"appliedAt"`
	Verified    bool      `json:"verified,omitempty"`
	StateBefore string    `json:"stateBefore,omitempty"`
	StateAfter  string    `json:"stateAfter"`
	Events      []string  `json:"events,omitempty"`
	// Pruned: the worker's retention dropped Body (the entry's states and events stay).
	Pruned bool `json:"pruned,omitempty"`
	// Body is the message as received (secret_hash redacted, personal data masked unless
	// the read key's scope is pii).
	Body json.RawMessage `json:"body,omitempty"`
}

// Invoice reads an invoice and its history from the worker's read API. The errors are
// an *APIError (ErrNotFound for an invoice the worker does not know, ErrInvalid for a
// malformed id, ErrUnauthorized, ErrUnavailable during a shard's handover: retry) or the
// transport's.
func (c *Client) Invoice(ctx context.Context, invoiceID string) (*Invoice, error) {
	if c.cfg.WorkerURL == "" {
		return nil, errNoService("WorkerURL")
	}
	var inv Invoice
	if _, _, err := c.call(ctx, http.MethodGet, c.cfg.WorkerURL+"/v1/invoices/"+url.PathEscape(invoiceID), c.cfg.ReadKey, nil, nil, &inv); err != nil {
		return nil, err
	}
	return &inv, nil
}

func errNoService(field string) error {
	return fmt.Errorf("%w: no %s", ErrConfig, field)
}
