package merchant

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

// ErrNotPaymentEvent is wrapped by DecodeEvent's errors.
var ErrNotPaymentEvent = errors.New("not a payment event")

// The CloudEvents types of payment events (docs/EVENTS.md): EventTypePrefix and the
// NATS subject's last token (payments.paid is kz.epay.payment.paid).
const (
	EventTypePrefix = "kz.epay.payment."
	EventPaid       = EventTypePrefix + "paid"
	EventFailed     = EventTypePrefix + "failed"
	EventReview     = EventTypePrefix + "review"
	// A refund, charge or cancel ePay made (data.operation says which).
	EventRefunded  = EventTypePrefix + "refunded"
	EventCharged   = EventTypePrefix + "charged"
	EventCancelled = EventTypePrefix + "cancelled"
)

// Event is a payment event: a CloudEvent whose data is the invoice as it became.
type Event struct {
	// ID is "<invoiceId>-<version>", the same for every delivery of the event (and the
	// webhook-id of a webhook): deduplicate by it.
	ID      string
	Source  string
	Type    string // EventPaid, EventFailed, EventReview, ...
	Subject string // the invoiceId
	Time    time.Time
	Data    EventData
}

// EventData is a payment event's data (payment-events.yaml, Data).
type EventData struct {
	Invoice InvoiceView `json:"invoice"`
	// Reason says why a review was raised (review events only).
	Reason string `json:"reason,omitempty"`
	// Resolution is the operator's decision that made this event (a paid or failed
	// event of an invoice resolved by hand); nil on every other event.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Operation is the refund, charge or cancel that made a payments.refunded, .charged
	// or .cancelled event; nil on every other event.
	Operation *Operation `json:"operation,omitempty"`
	// Callback is ePay's callback that caused the event, as sent but for its
	// secret_hash ("[redacted]").
	Callback json.RawMessage `json:"callback,omitempty"`
}

// DecodeEvent reads a payment event from its structured-mode CloudEvents JSON: a
// message of PAYMENT_EVENTS or a webhook's body (check the webhook's signature first:
// WebhookVerifier). The envelope is read and validated by the official CloudEvents Go
// SDK. It fails, wrapping ErrNotPaymentEvent, on what is not valid JSON, not a valid
// CloudEvent, not of a kz.epay.payment.* type, or without its invoice.
func DecodeEvent(body []byte) (Event, error) {
	var ce cloudevents.Event
	if err := json.Unmarshal(body, &ce); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotPaymentEvent, err)
	}
	if err := ce.Validate(); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotPaymentEvent, err)
	}
	if !strings.HasPrefix(ce.Type(), EventTypePrefix) {
		return Event{}, fmt.Errorf("%w: type %q", ErrNotPaymentEvent, ce.Type())
	}
	ev := Event{ID: ce.ID(), Source: ce.Source(), Type: ce.Type(), Subject: ce.Subject(), Time: ce.Time()}
	if err := ce.DataAs(&ev.Data); err != nil {
		return Event{}, fmt.Errorf("%w: event %s: data: %v", ErrNotPaymentEvent, ev.ID, err)
	}
	if inv := ev.Data.Invoice; inv.InvoiceID == "" || inv.InvoiceID != ev.Subject || inv.State == "" {
		return Event{}, fmt.Errorf("%w: event %s: no invoice, or not the subject's (%q)", ErrNotPaymentEvent, ev.ID, ev.Subject)
	}
	return ev, nil
}
