package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/invoice"
)

// HeaderCreatedSignature carries the initiator's HMAC of an invoice.created message:
// "v1=" and a token of the merchant's keyring (EPAY_SECRET_KEYS, which the initiator and
// the worker both hold; Keyring.Token: a key id and 24 base32 characters) over the
// SHA-256 of the subject and the exact body (SignCreated).
const HeaderCreatedSignature = "Epay-Created-Sig"

// The purposes (Keyring.Token) of the keyring's tokens on invoice.created. Each is an
// HMAC input no secret_hash has (Token's input holds no ':'), and each purpose is its own
// domain, so a created signature is never a return page's token, nor its Nats-Msg-Id's
// token, nor the other way round.
const (
	createdSigPurpose   = "epayflow-invoice-created-v1"
	createdMsgIDPurpose = "epayflow-invoice-created-msgid-v1"
)

// ErrUnsignedCreated is wrapped (beside ErrInvalid) by the decoding error of an
// invoice.created without HeaderCreatedSignature: one an initiator older than the
// signature published, or anyone else's.
var ErrUnsignedCreated = errors.New("invoice.created without the initiator's signature (" + HeaderCreatedSignature + ")")

// ErrCreatedSignature is wrapped (beside ErrInvalid) by the decoding error of an
// invoice.created whose signature is not the keyring's over its subject and body: a
// forgery, or a message changed after it was signed.
var ErrCreatedSignature = errors.New("invoice.created with a signature that is not the initiator's (not made with EPAY_SECRET_KEYS over this subject and body)")

// createdDigest is what a created signature covers: the SHA-256 of the subject (shard and
// kind), a newline and the body as published, in hex (no ':', as Token wants).
func createdDigest(subject string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// SignCreated is the signature of an invoice.created body on subject with the keyring's
// signing (first) key: "v1=<key id><24 base32>". The body names the invoice, its amount,
// currency, terminal, orderId and metadata, so all of them are bound, byte for byte.
func SignCreated(keys *epay.Keyring, subject string, body []byte) string {
	return "v1=" + keys.Token(createdSigPurpose, createdDigest(subject, body))
}

// CheckCreated says why sig is not a signature of body on subject by one of the keys
// (nil when it is): any key of the keyring verifies, so a message signed before a
// rotation still applies while its key is listed. A nil keyring accepts nothing.
func CheckCreated(keys *epay.Keyring, subject string, body []byte, sig string) error {
	if sig == "" {
		return ErrUnsignedCreated
	}
	tok, ok := strings.CutPrefix(sig, "v1=")
	if !ok || keys == nil || keys.VerifyToken(createdSigPurpose, createdDigest(subject, body), tok) != nil {
		return ErrCreatedSignature
	}
	return nil
}

// CreatedNatsMsgID is the Nats-Msg-Id of invoice.created: the invoiceId, ':' and a token
// of the keyring on it. The same invoice published again (a retry, an Idempotency-Key's
// replay) has the same id and is stored once; but nobody without EPAY_SECRET_KEYS can
// know it before the initiator publishes, so a message forged for an upcoming invoiceId
// never takes its place and makes JetStream drop the genuine one as a duplicate (as
// UnverifiedCallbackMsgID does for callbacks). The worker's message id is still
// CreatedMsgID, from the content.
func CreatedNatsMsgID(keys *epay.Keyring, invoiceID string) string {
	return CreatedMsgID(invoiceID) + ":" + keys.Token(createdMsgIDPurpose, invoiceID)
}

// Created is the message of invoice.created, signed with keys (the initiator's
// EPAY_SECRET_KEYS), under CreatedNatsMsgID.
func (b *Builder) Created(c invoice.Created, keys *epay.Keyring, at time.Time) (*nats.Msg, error) {
	if keys == nil {
		return nil, errors.New("invoice.created: no keyring to sign it with")
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode invoice.created: %w", err)
	}
	subject := b.subjects[Shard(c.InvoiceID, b.shards)][1]
	return &nats.Msg{
		Subject: subject,
		Data:    body,
		Header: nats.Header{
			nats.MsgIdHdr:          {CreatedNatsMsgID(keys, c.InvoiceID)},
			HeaderInvoiceID:        {c.InvoiceID},
			HeaderReceivedAt:       {at.UTC().Format(time.RFC3339Nano)},
			HeaderCreatedSignature: {SignCreated(keys, subject, body)},
		},
	}, nil
}

// decodeCreated checks an invoice.created's signature, then decodes it. An unsigned one
// is taken only when AcceptUnsignedCreated says so (the transition from initiators that
// did not sign); one with a wrong signature never.
func (d Decoder) decodeCreated(subject string, h Header, body []byte, received time.Time) (invoice.Message, error) {
	sig := h.Get(HeaderCreatedSignature)
	switch err := CheckCreated(d.Keys, subject, body, sig); {
	case errors.Is(err, ErrUnsignedCreated):
		if d.AcceptUnsignedCreated == nil || !d.AcceptUnsignedCreated(h) {
			return invoice.Message{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	case err != nil:
		return invoice.Message{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var c invoice.Created
	if err := json.Unmarshal(body, &c); err != nil {
		return invoice.Message{}, invalid("invoice.created is not valid JSON: %v", err)
	}
	return invoice.CreatedMessage(CreatedMsgID(c.InvoiceID), c, received), nil
}
