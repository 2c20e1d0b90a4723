package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jspubsub"
)

// ErrPoison marks a message that can never be applied: it goes to the DLQ with the reason.
var ErrPoison = errors.New("poison message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoison, fmt.Sprintf(format, args...))
}

// confirmPolicy says which callbacks wait for ePay's status API.
type confirmPolicy struct {
	all        bool // WORKER_CONFIRM_PAYMENTS on
	unverified bool // an ePay client is configured: unverified callbacks are confirmed
}

func (p confirmPolicy) confirm(verified bool) bool { return p.all || !verified && p.unverified }

// confirmFailure says whether a failure callback waits for ePay's status API instead of
// making the invoice failed: with an ePay client, an unverified failure, one whose reason
// code ePay does not call final (not final, or not in ePay's table at all), and one with
// reason code 0 ("success" in ePay's table), null or missing, which says nothing of the
// failure (a captured failurePostLink body carried "reasonCode": 0). Without a client
// only the codes ePay calls not final wait (invoice.Apply).
func (p confirmPolicy) confirmFailure(verified bool, reasonCode int) bool {
	return p.unverified && (!verified || reasonCode == 0 || epay.ReasonFinality(reasonCode) != epay.Final)
}

// decoder is the inbox's decoder (which verifies callbacks, invoice.created and status
// signatures itself) with the worker's confirmation policy applied to callbacks.
type decoder struct {
	inbox  inbox.Decoder
	policy confirmPolicy
	// signatures counts invoice.created by the state of their signature (nil: not
	// counted); log (nil: none) tells of each unsigned one the transition let through.
	signatures *prometheus.CounterVec
	log        *slog.Logger
}

// Results of epayflow_worker_created_signatures_total.
const (
	SignatureValid           = "valid"
	SignatureInvalid         = "invalid"          // a forgery or a changed message: to the DLQ
	SignatureMissingRefused  = "missing_refused"  // unsigned: to the DLQ
	SignatureMissingAccepted = "missing_accepted" // unsigned, stored before WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE
)

// acceptUnsignedBefore is the inbox decoder's AcceptUnsignedCreated for the transition
// setting: an unsigned invoice.created the stream stored before cutoff (the server's
// time, in the subscriber's metadata; no publisher sets it). Nil for a zero cutoff.
func acceptUnsignedBefore(cutoff time.Time) func(inbox.Header) bool {
	if cutoff.IsZero() {
		return nil
	}
	return func(h inbox.Header) bool {
		at := storedAt(h)
		return !at.IsZero() && at.Before(cutoff)
	}
}

// decode turns an inbox message into a state-machine message; every error wraps ErrPoison.
func (d decoder) decode(msg *message.Message) (inbox.Decoded, error) {
	m, err := d.inbox.Decode(msg.Metadata.Get(mdSubject), msg.Metadata, msg.Payload)
	if m.Kind == inbox.KindInvoice {
		d.countSignature(msg, m, err)
	}
	if err != nil {
		return m, poison("%v", err)
	}
	m.Message.StoredAt = storedAt(msg.Metadata)
	if p := m.Payment; p != nil {
		if m.Message.Kind == invoice.MsgSuccess {
			p.Confirm = d.policy.confirm(p.Verified)
		} else {
			p.Confirm = d.policy.confirmFailure(p.Verified, p.ReasonCode)
		}
	}
	return m, nil
}

// storedAt is when the inbox stream stored msg: the server's time, in the subscriber's
// metadata (no publisher sets it); zero when it is not there.
func storedAt(h inbox.Header) time.Time {
	at, err := time.Parse(time.RFC3339Nano, h.Get(jspubsub.MetadataStreamTime))
	if err != nil {
		return time.Time{}
	}
	return at.UTC()
}

// countSignature counts an invoice.created by its signature, and logs one the
// transition let through unsigned.
func (d decoder) countSignature(msg *message.Message, m inbox.Decoded, err error) {
	result := SignatureValid
	switch {
	case errors.Is(err, inbox.ErrUnsignedCreated):
		result = SignatureMissingRefused
	case errors.Is(err, inbox.ErrCreatedSignature):
		result = SignatureInvalid
	case msg.Metadata.Get(inbox.HeaderCreatedSignature) != "":
	case err == nil:
		result = SignatureMissingAccepted
		if d.log != nil {
			d.log.Warn("invoice.created without a signature applied: stored before WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE",
				"invoice_id", m.InvoiceID, "stream_seq", msg.Metadata.Get(mdStreamSeq), "stored_at", msg.Metadata.Get(jspubsub.MetadataStreamTime))
		}
	default:
		return // unsigned and not valid for another reason: the DLQ's reason says which
	}
	if d.signatures != nil {
		d.signatures.WithLabelValues(result).Inc()
	}
}

// orderKey is the subscriber's OrderKey: the invoice id from its header, so that the
// messages of one invoice are applied in stream order (failure then success is failed
// then paid, the other way round only paid) without decoding the body.
func (d decoder) orderKey(msg *message.Message) string {
	return d.inbox.OrderKey(msg.Metadata.Get(mdSubject), msg.Metadata, msg.Payload)
}

// kindOf is the kind of the message's inbox subject, for metrics: postlink, invoice,
// status, or "unknown".
func kindOf(msg *message.Message) string {
	if _, kind, ok := inbox.ParseSubject(msg.Metadata.Get(mdSubject)); ok {
		return kind
	}
	return "unknown"
}
