package inbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

// StatusBody is the body of an epay.inbox.<shard>.status message: what ePay's status
// API answered about an invoice.
type StatusBody struct {
	InvoiceID string         `json:"invoiceId"`
	Status    invoice.Status `json:"status"`
}

// MinStatusKey is the shortest status key taken.
const MinStatusKey = 16

// StatusSigner signs and checks status messages with the workers' status key. Only a
// worker can make the signature, so a status message that anyone else publishes to the
// inbox never moves an invoice.
//
// It signs with one key and checks with it and the previous ones (a rotation: the
// workers sign with the new key while what the old one signed, in the inbox, the DLQ and
// EPAY_STATE, is still taken).
type StatusSigner struct {
	key      []byte
	previous [][]byte
}

// NewStatusSigner signs with key and also accepts what previous keys signed (each at
// least MinStatusKey bytes).
func NewStatusSigner(key []byte, previous ...[]byte) (StatusSigner, error) {
	for _, k := range append([][]byte{key}, previous...) {
		if len(k) < MinStatusKey {
			return StatusSigner{}, errors.New("a status key is shorter than 16 bytes")
		}
	}
	return StatusSigner{key: key, previous: previous}, nil
}

// signedBy says whether sig is the signature made by sign with any of the keys: the
// signing key's or a previous one's. Every key is compared.
func (s StatusSigner) signedBy(sig string, sign func(StatusSigner) string) bool {
	if len(s.key) == 0 || sig == "" {
		return false
	}
	ok := hmacEqual(sig, sign(s))
	for _, k := range s.previous {
		ok = hmacEqual(sig, sign(StatusSigner{key: k})) || ok
	}
	return ok
}

// Sign is the signature of a status message body on subject: "v1=<base64url>".
func (s StatusSigner) Sign(subject string, body []byte) string {
	return s.sign("epayflow-status-v1", subject, body)
}

// SignState is the signature of an EPAY_STATE record (an invoice's state, as its
// shard's owner wrote it) on its subject, in a domain of its own: a record is adopted as
// an invoice's state only with it, so that a record published by anyone else who may
// write the stream (the worker's NATS password alone) never becomes an invoice's state.
func (s StatusSigner) SignState(subject string, body []byte) string {
	return s.sign("epayflow-state-v1", subject, body)
}

// CheckState says why sig is not SignState's signature of body on subject (nil when it
// is). A signer without a key accepts nothing.
func (s StatusSigner) CheckState(subject string, body []byte, sig string) error {
	return s.check("state record", HeaderStateSignature, sig, func(k StatusSigner) string { return k.SignState(subject, body) })
}

// SignAdvert is the signature of the read API URL a worker advertises in its shard
// leases, for its owner id and the time it wrote the lease, in a domain of its own: the
// other workers forward reads and operations there with their caller's key, so they take
// only a URL a worker signed (the worker's NATS password alone, which may write the
// leases, could otherwise send them, and the keys, anywhere), and only as fresh as a
// lease can be (an old advert put back names an address that may be another's now).
func (s StatusSigner) SignAdvert(owner, url string, signed time.Time) string {
	return s.sign("epayflow-advert-v2", owner, []byte(url+"\n"+strconv.FormatInt(signed.UnixMilli(), 10)))
}

// SignLease is the signature of a worker's lease or membership, the whole value that
// counts (owner, url, the time it was written) and the key it was written under
// ("shard-3", "member.<id>"), in a domain of its own: a live worker's genuine value
// copied under another key (its membership onto every shard) names nothing.
func (s StatusSigner) SignLease(key, owner, url string, signed time.Time) string {
	return s.sign("epayflow-lease-v1", key, []byte(owner+"\n"+url+"\n"+strconv.FormatInt(signed.UnixMilli(), 10)))
}

// CheckLease says whether sig is SignLease's signature. A signer without a key accepts
// nothing.
func (s StatusSigner) CheckLease(key, owner, url string, signed time.Time, sig string) bool {
	return s.signedBy(sig, func(k StatusSigner) string { return k.SignLease(key, owner, url, signed) })
}

// CheckAdvert says whether sig is SignAdvert's signature of url for owner at signed. A
// signer without a key accepts nothing.
func (s StatusSigner) CheckAdvert(owner, url string, signed time.Time, sig string) bool {
	return s.signedBy(sig, func(k StatusSigner) string { return k.SignAdvert(owner, url, signed) })
}

// NatsMsgID is the Nats-Msg-Id of a message the workers sign (a status answer, a
// resolution, an operation step): its content id, ':' and a token of the status key on
// it. JetStream drops a message whose Nats-Msg-Id it has stored within the duplicate
// window, on any subject of the stream, before anyone checks a signature; a content id
// is made of what a callback shows (the invoice, the transaction, ePay's answer), so
// anyone who may publish to the inbox (an ingest, an initiator) could store one first and
// have the workers' genuine message dropped: a payment never confirmed. Nobody without
// the key can know this one. The same message published again has the same id (stored
// once), and the worker's message id is still the content id (the message's body).
func (s StatusSigner) NatsMsgID(id string) string {
	tok := s.sign("epayflow-msgid-v1", "", []byte(id))
	return id + ":" + tok[len("v1="):len("v1=")+msgIDTokenLen]
}

// msgIDTokenLen is the length of NatsMsgID's token: 22 base64url characters, 132 bits.
const msgIDTokenLen = 22

// sign is the HMAC of body on subject in a domain of its own, so a signature made for
// one kind of message is never one of another.
func (s StatusSigner) sign(domain, subject string, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(domain + "\n"))
	m.Write([]byte(subject))
	m.Write([]byte{'\n'})
	m.Write(body)
	return "v1=" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check says why sig is not the signature of body on subject (nil when it is). A
// signer without a key accepts nothing.
func (s StatusSigner) Check(subject string, body []byte, sig string) error {
	return s.check("status message", HeaderStatusSignature, sig, func(k StatusSigner) string { return k.Sign(subject, body) })
}

// check says why sig, the value of header on a message of kind what, is not the one
// sign makes with any of the keys (nil when it is).
func (s StatusSigner) check(what, header, sig string, sign func(StatusSigner) string) error {
	switch {
	case sig == "":
		return fmt.Errorf("%s without a worker signature (%s)", what, header)
	case !s.signedBy(sig, sign):
		return fmt.Errorf("%s with a signature that is not the workers' (another WORKER_STATUS_KEY, or a forgery)", what)
	}
	return nil
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
