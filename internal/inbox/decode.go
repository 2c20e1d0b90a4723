package inbox

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/invoice"
)

// ErrInvalid is wrapped by every decoding error: the message can never be applied
// (the worker puts it in the DLQ).
var ErrInvalid = errors.New("invalid inbox message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Decoder turns inbox messages into state-machine messages. It trusts no header about
// trust: it verifies each callback's secret_hash with Keys (nil: no callback verifies),
// takes an invoice.created only with the initiator's signature made with Keys
// (SignCreated), and a status message only with Signer's signature.
type Decoder struct {
	Shards int
	Keys   *epay.Keyring
	Signer StatusSigner
	// AcceptUnsignedCreated, when set, is asked about an invoice.created that carries no
	// signature at all (never one with a wrong signature): true takes it as the
	// initiators before the signature published it. The worker's transition setting
	// (WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE) answers from the time the stream stored the
	// message. Nil: every unsigned invoice.created is invalid.
	AcceptUnsignedCreated func(h Header) bool
}

// Decoded is a decoded inbox message.
type Decoded struct {
	invoice.Message
	Shard int    // the shard it arrived on
	Kind  string // KindPostlink, KindInvoice, KindStatus or KindOperation
	// ReasonCode is a failure callback's reason code (0 otherwise).
	ReasonCode int
}

// Verified says whether a callback's secret_hash verified.
func (d Decoded) Verified() bool { return d.Payment != nil && d.Payment.Verified }

// Decode decodes the message on subject with headers h and body. The message id comes
// from the content, never from Nats-Msg-Id. The message is validated here, once: what
// Decode returns is valid for invoice.Apply.
func (d Decoder) Decode(subject string, h Header, body []byte) (Decoded, error) {
	shard, kind, ok := ParseSubject(subject)
	if !ok {
		return Decoded{}, invalid("unknown inbox subject %q", subject)
	}
	out := Decoded{Shard: shard, Kind: kind}
	received := ReceivedAt(h)
	switch kind {
	case KindInvoice:
		m, err := d.decodeCreated(subject, h, body, received)
		if err != nil {
			return out, err
		}
		out.Message = m
	case KindPostlink:
		cb, err := epay.DecodeCallback(body)
		if err != nil {
			return out, invalid("callback: %v", err)
		}
		if err := cb.Validate(); err != nil {
			return out, invalid("callback: %v", err)
		}
		verified := d.Keys != nil && d.Keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash) == nil
		out.Message = invoice.CallbackMessage(callbackID(cb.InvoiceID, cb.ID, cb.Code, verified), cb, verified, received)
		out.ReasonCode = cb.ReasonCode
	case KindStatus:
		if err := d.Signer.Check(subject, body, h.Get(HeaderStatusSignature)); err != nil {
			return out, invalid("%v", err)
		}
		var b StatusBody
		if err := json.Unmarshal(body, &b); err != nil {
			return out, invalid("status is not valid JSON: %v", err)
		}
		s := b.Status
		out.Message = invoice.StatusMessage(StatusMsgID(b.InvoiceID, s.Check, s.ResultCode, s.StatusName, s.TransactionID), b.InvoiceID, s, received)
	case KindResolve:
		m, err := d.decodeResolve(subject, h, body, received)
		if err != nil {
			return out, err
		}
		out.Message = m
	case KindOperation:
		m, err := d.decodeOperation(subject, h, body, received)
		if err != nil {
			return out, err
		}
		out.Message = m
	}
	if err := out.Message.Validate(); err != nil {
		return out, invalid("%v", err)
	}
	if want := Shard(out.InvoiceID, d.Shards); shard != want {
		return out, invalid("invoice %s belongs to shard %d, arrived on shard %d (EPAY_SHARDS differs between services?)", out.InvoiceID, want, shard)
	}
	if id := h.Get(HeaderInvoiceID); id != "" && id != out.InvoiceID {
		return out, invalid("header %s says invoice %q, the body %q", HeaderInvoiceID, id, out.InvoiceID)
	}
	return out, nil
}

// OrderKey is what a consumer orders the message by: its invoice id, from
// HeaderInvoiceID. A message without the header (published by an older version) is
// decoded for it; one that does not decode orders nothing ("") and is refused when it
// is handled.
func (d Decoder) OrderKey(subject string, h Header, body []byte) string {
	if id := h.Get(HeaderInvoiceID); id != "" {
		return id
	}
	m, err := d.Decode(subject, h, body)
	if err != nil {
		return ""
	}
	return m.InvoiceID
}
