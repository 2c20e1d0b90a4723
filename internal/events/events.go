// Package events is the public contract of PAYMENT_EVENTS, what merchants' systems
// subscribe to: the stream, its subjects ("payments.<type>"), and each event as a
// CloudEvent 1.0 in structured JSON mode whose data is the invoice's public view.
// It imports only the domain.
package events

import (
	"encoding/json"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/invoice"
)

// Stream is the JetStream stream of payment events.
const Stream = "PAYMENT_EVENTS"

// Subjects is the stream's subject filter.
const Subjects = "payments.>"

// Subject is "payments.<type>", such as payments.paid.
func Subject(t invoice.EventType) string { return "payments." + string(t) }

// TypePrefix prefixes the CloudEvents type: kz.epay.payment.paid and so on.
const TypePrefix = "kz.epay.payment."

// Types are the CloudEvents types of every event (invoice.EventTypes), in its order.
var Types = func() []string {
	out := make([]string, len(invoice.EventTypes))
	for i, t := range invoice.EventTypes {
		out[i] = TypePrefix + string(t)
	}
	return out
}()

// CloudEvent is a payment event as published on PAYMENT_EVENTS: CloudEvents 1.0,
// structured JSON mode.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject"`
	DataContentType string    `json:"datacontenttype"`
	Data            Data      `json:"data"`
}

// Data is the data of a payment event.
type Data struct {
	Invoice View `json:"invoice"`
	// Reason says why a review event was raised (mismatch, unverified, double payment).
	Reason string `json:"reason,omitempty"`
	// Callback is ePay's callback that caused the event, verbatim but for its
	// secret_hash, which is redacted: anyone who reads it could sign a callback.
	Callback json.RawMessage `json:"callback,omitempty"`
	// Resolution is the operator's decision that made this event (a paid or failed
	// event of an invoice an operator resolved); absent on every other event.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Operation is the charge, cancel or refund a charged, cancelled or refunded
	// event tells (its amount; data.invoice.refunded is the total refunded).
	Operation *invoice.Operation `json:"operation,omitempty"`
}

// Resolution is an operator's decision on an invoice that needed a human (review or
// unmatched): what, who (as the operator said, and the name of the key that
// authorised it), why and when.
type Resolution struct {
	Decision invoice.Decision `json:"decision"`
	By       string           `json:"by"`
	Reason   string           `json:"reason"`
	Operator string           `json:"operator"`
	At       time.Time        `json:"at"`
}

// NewResolution shows a resolution; nil for none.
func NewResolution(r *invoice.Resolution) *Resolution {
	if r == nil {
		return nil
	}
	return &Resolution{Decision: r.Decision, By: r.By, Reason: r.Reason, Operator: r.Operator, At: r.At.UTC()}
}

// View is an invoice as the read API and the events show it.
type View struct {
	InvoiceID   string        `json:"invoiceId"`
	State       invoice.State `json:"state"`
	Kind        string        `json:"kind,omitempty"`
	Amount      epay.Amount   `json:"amount"`
	Currency    string        `json:"currency,omitempty"`
	Terminal    string        `json:"terminal,omitempty"`
	Description string        `json:"description,omitempty"`
	AccountID   string        `json:"accountId,omitempty"`
	// OrderID and Metadata are the merchant's references given to POST /v1/payments.
	OrderID       string            `json:"orderId,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	TransactionID string            `json:"transactionId,omitempty"`
	ReasonCode    int               `json:"reasonCode"`
	Reason        *epay.ReasonText  `json:"reason,omitempty"`     // from ePay's reason table
	EpayReason    string            `json:"epayReason,omitempty"` // ePay's text, as sent
	ReviewReason  string            `json:"reviewReason,omitempty"`
	DoublePayment bool              `json:"doublePayment,omitempty"`
	CardMask      string            `json:"cardMask,omitempty"`
	CreatedAt     time.Time         `json:"createdAt,omitzero"`
	UpdatedAt     time.Time         `json:"updatedAt"`
	PaidAt        time.Time         `json:"paidAt,omitzero"`
	Version       int64             `json:"version"`
	// Confirmation is "pending" while a success callback waits for ePay's status API,
	// "not_final" while a failure ePay calls not final (454, ...) waits for its final answer.
	Confirmation string    `json:"confirmation,omitempty"`
	ConfirmSince time.Time `json:"confirmSince,omitzero"`
	// StatusChecks counts ePay status answers applied; LastStatus is the last ("100 CHARGE").
	StatusChecks int       `json:"statusChecks,omitempty"`
	LastStatus   string    `json:"lastStatus,omitempty"`
	LastStatusAt time.Time `json:"lastStatusAt,omitzero"`
	// Resolution is the last operator decision on the invoice; the invoice may have
	// moved on since, as any paid or failed invoice does.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Refunded is what was paid back, Charged what a two-stage payment's charge took,
	// Cancelled whether its hold was released; Operations every charge, cancel and
	// refund asked, in order.
	Refunded   epay.Amount         `json:"refunded,omitempty"`
	Charged    epay.Amount         `json:"charged,omitempty"`
	Cancelled  bool                `json:"cancelled,omitempty"`
	Operations []invoice.Operation `json:"operations,omitempty"`
}

// NewView shows an invoice. The reason text is set once a callback decided something.
func NewView(inv invoice.Invoice) View {
	v := View{InvoiceID: inv.InvoiceID, State: inv.State, Kind: inv.Kind, Amount: inv.Amount, Currency: inv.Currency,
		Terminal: inv.Terminal, Description: inv.Description, AccountID: inv.AccountID, TransactionID: inv.TransactionID,
		OrderID: inv.OrderID, Metadata: inv.Metadata,
		ReasonCode: inv.ReasonCode, EpayReason: inv.Reason, ReviewReason: inv.ReviewReason, DoublePayment: inv.DoublePayment,
		CardMask: inv.CardMask, CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt, PaidAt: inv.PaidAt, Version: inv.Version,
		Confirmation: inv.Confirmation, ConfirmSince: inv.ConfirmSince, StatusChecks: inv.StatusChecks,
		LastStatus: inv.LastStatus, LastStatusAt: inv.LastStatusAt, Resolution: NewResolution(inv.Resolution),
		Refunded: inv.Refunded, Charged: inv.Charged, Cancelled: inv.Cancelled, Operations: inv.Operations}
	if inv.TransactionID != "" {
		r, _ := epay.Reason(inv.ReasonCode)
		v.Reason = &r
	}
	return v
}

// New wraps an outbox event.
func New(e invoice.Event, source string) CloudEvent {
	return CloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: source, Type: TypePrefix + string(e.Type), Time: e.Time.UTC(),
		Subject: e.InvoiceID, DataContentType: "application/json",
		Data: Data{Invoice: NewView(e.Invoice), Reason: e.Reason, Callback: epay.RedactSecretHash(e.Callback),
			Resolution: NewResolution(e.Resolution), Operation: e.Operation},
	}
}
