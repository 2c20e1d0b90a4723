package merchant

import (
	"context"
	"encoding/json"
	"net/http"
)

// PaymentRequest is the body of POST /v1/payments (initiator.yaml, PaymentRequest).
type PaymentRequest struct {
	Kind string `json:"kind"` // "payment" (KindPayment) or "p2p"
	// Amount in major units as a decimal string ("100", "12.50"): exact, unlike a float.
	Amount      string `json:"amount"`
	Currency    string `json:"currency"` // KZT, USD, EUR or RUB
	Description string `json:"description"`
	AccountID   string `json:"accountId,omitempty"`
	Name        string `json:"name,omitempty"`
	Email       string `json:"email,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Language    string `json:"language,omitempty"`
	CardSave    bool   `json:"cardSave,omitempty"`
	// BackLink and FailureBackLink are where the buyer's browser returns; empty for the
	// initiator's own return pages.
	BackLink        string `json:"backLink,omitempty"`
	FailureBackLink string `json:"failureBackLink,omitempty"`
	// OrderID and Metadata are the merchant's references, kept on the invoice and
	// carried in every event of it (docs/API.md has their rules).
	OrderID  string            `json:"orderId,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Kinds of payment.
const (
	KindPayment = "payment"
	KindP2P     = "p2p"
)

// Payment is the initiator's answer (initiator.yaml, PaymentCreated).
type Payment struct {
	InvoiceID string `json:"invoiceId"`
	// PaymentObject is what halyk.pay (or halyk.p2p) takes in the buyer's browser, as the
	// initiator wrote it: hand it to the page unchanged.
	PaymentObject json.RawMessage   `json:"paymentObject"`
	PayformJSURL  string            `json:"payformJsUrl"` // the script that defines halyk.pay
	OrderID       string            `json:"orderId,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// Replayed is true when the Idempotency-Key had made this invoice before (200
	// Idempotent-Replayed: the same invoice, a fresh token).
	Replayed bool `json:"-"`
}

// CreatePayment starts a payment. idempotencyKey (1 to 128 of A-Z a-z 0-9 . _ : -; use
// your order id) makes a retry safe: the same key and request answer the same invoice,
// the same key with another request is ErrConflict; "" sends none. The errors are an
// *APIError (ErrInvalid with the fields, ErrUnauthorized, ErrConflict, ErrUnavailable
// when ePay or NATS did not answer: retry with the same key) or the transport's.
func (c *Client) CreatePayment(ctx context.Context, req PaymentRequest, idempotencyKey string) (*Payment, error) {
	if c.cfg.InitiatorURL == "" {
		return nil, errNoService("InitiatorURL")
	}
	hdr := http.Header{}
	if idempotencyKey != "" {
		hdr.Set("Idempotency-Key", idempotencyKey)
	}
	var p Payment
	h, _, err := c.call(ctx, http.MethodPost, c.cfg.InitiatorURL+"/v1/payments", c.cfg.APIKey, req, hdr, &p)
	if err != nil {
		return nil, err
	}
	p.Replayed = h.Get("Idempotent-Replayed") == "true"
	return &p, nil
}
