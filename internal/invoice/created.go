package invoice

import (
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// Invoice kinds: a card payment, or a P2P transfer (ePay answers for each with its own
// status API).
const (
	KindPayment = "payment"
	KindP2P     = "p2p"
)

// Created is the invoice.created message: the initiator publishes it, as JSON, to
// epay.inbox.<shard>.invoice with Nats-Msg-Id = InvoiceID before it hands the payment
// object to the page. It is what a callback is checked against.
type Created struct {
	InvoiceID   string      `json:"invoiceId"`
	Kind        string      `json:"kind"` // KindPayment or KindP2P
	Amount      epay.Amount `json:"amount"`
	Currency    string      `json:"currency"`
	Terminal    string      `json:"terminal"`
	Description string      `json:"description,omitempty"`
	AccountID   string      `json:"accountId,omitempty"`
	// OrderID and Metadata are the merchant's references (POST /v1/payments' orderId
	// and metadata, validated there), kept on the invoice and carried in its events.
	OrderID   string            `json:"orderId,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}
