package merchant

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Why an event read from PAYMENT_EVENTS does not verify.
var (
	ErrEventUnsigned  = errors.New("event: no webhook-id, webhook-timestamp or webhook-signature header")
	ErrEventSignature = errors.New("event: no signature matches the workers' public keys")
	ErrEventKey       = errors.New("event: public key is not whpk_<base64 of 32 bytes>")
	// ErrEventSubject: a genuine event read from another subject than its type's.
	ErrEventSubject = errors.New("event: read from another subject than its type's")
)

// HeaderGetter is how EventVerifier reads a message's headers: pass a NATS message's
// nats.Header as it is (msg.Headers()). Do not convert it to an http.Header: that Get
// looks for canonical names ("Webhook-Id"), the NATS headers are lowercase
// ("webhook-id"), and every event would be refused as unsigned.
type HeaderGetter interface{ Get(key string) string }

// EventVerifier checks that an event read from PAYMENT_EVENTS (NATS) was made by the
// workers: each carries Standard Webhooks' headers with its asymmetric scheme,
// webhook-signature "v1a,<base64>", the Ed25519 signature of "id.timestamp.body" by the
// workers' events key (WORKER_EVENTS_KEY). Anyone NATS lets publish to payments.> could
// otherwise make a "paid" event. Verify before acting on an event; then check its amount
// against your order as well.
//
// The timestamp is not held to a tolerance (a subscriber reads events long after they
// were made); a copy of a genuine event is that event, with its id, which you
// deduplicate by.
type EventVerifier struct{ keys []ed25519.PublicKey }

// NewEventVerifier takes the workers' public keys ("whpk_..."; two while the events key
// rotates), or returns an error wrapping ErrEventKey.
func NewEventVerifier(publicKeys ...string) (*EventVerifier, error) {
	v := &EventVerifier{}
	for i, k := range publicKeys {
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(k, "whpk_"))
		if !strings.HasPrefix(k, "whpk_") || err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: key %d", ErrEventKey, i+1)
		}
		v.keys = append(v.keys, ed25519.PublicKey(b))
	}
	if len(v.keys) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrEventKey)
	}
	return v, nil
}

// Verify checks an event message's headers against its body as it came, and returns
// its id. Errors wrap ErrEventUnsigned or ErrEventSignature.
func (v *EventVerifier) Verify(h HeaderGetter, body []byte) (string, error) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if _, err := strconv.ParseInt(ts, 10, 64); id == "" || sigs == "" || err != nil {
		return "", ErrEventUnsigned
	}
	msg := []byte(id + "." + ts + ".")
	msg = append(msg, body...)
	for s := range strings.SplitSeq(sigs, " ") {
		version, sig, ok := strings.Cut(s, ",")
		raw, err := base64.StdEncoding.DecodeString(sig)
		if !ok || version != "v1a" || err != nil || len(raw) != ed25519.SignatureSize {
			continue
		}
		for _, k := range v.keys {
			if ed25519.Verify(k, msg, raw) {
				return id, nil
			}
		}
	}
	return "", ErrEventSignature
}

// VerifyEvent verifies an event message and decodes it (DecodeEvent); its id must be
// the one the signature covers.
func (v *EventVerifier) VerifyEvent(h HeaderGetter, body []byte) (Event, error) {
	id, err := v.Verify(h, body)
	if err != nil {
		return Event{}, err
	}
	ev, err := DecodeEvent(body)
	if err == nil && ev.ID != id {
		return Event{}, fmt.Errorf("%w: signed for id %q, the event is %q", ErrEventSignature, id, ev.ID)
	}
	return ev, err
}

// VerifyMessage is VerifyEvent for a message read from NATS subject, which must be its
// type's: kz.epay.payment.paid on payments.paid, and so on. Use it, not VerifyEvent, when
// you consume PAYMENT_EVENTS. The signature covers the event's id, time and body, not
// the subject: whoever may publish to payments.> could put a genuine review or refunded
// event on payments.paid, where a consumer that filters on the subject and trusts it
// would take it for a payment. Errors: as VerifyEvent, or wrapping ErrEventSubject.
func (v *EventVerifier) VerifyMessage(subject string, h HeaderGetter, body []byte) (Event, error) {
	ev, err := v.VerifyEvent(h, body)
	if err != nil {
		return Event{}, err
	}
	if want := "payments." + strings.TrimPrefix(ev.Type, EventTypePrefix); subject != want || !strings.HasPrefix(ev.Type, EventTypePrefix) {
		return Event{}, fmt.Errorf("%w: event %s of type %s read from %q", ErrEventSubject, ev.ID, ev.Type, subject)
	}
	return ev, nil
}
