package inbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/invoice"
)

// HeaderResolveSignature carries the HMAC of a resolution, made with the workers'
// status key in a domain of its own: "v1=<base64url>" (StatusSigner.SignResolution).
const HeaderResolveSignature = "Epay-Resolve-Sig"

// ResolveBody is the body of an epay.inbox.<shard>.resolve message: an operator's
// decision on an invoice, as the worker's resolve API took it.
type ResolveBody struct {
	InvoiceID  string             `json:"invoiceId"`
	Resolution invoice.Resolution `json:"resolution"`
}

// ResolveMsgID is the id of a resolution: the invoice, the resolution's number and the
// decision. The same decision asked twice on the same look at the invoice is stored
// and applied once; another decision is another message (applied as history only once
// the first decided the invoice).
func ResolveMsgID(invoiceID string, number int, d invoice.Decision) string {
	return "rs:" + invoiceID + ":" + strconv.Itoa(number) + ":" + string(d)
}

// SignResolution is the signature of a resolution's body on subject: the status key,
// another domain, so that no status signature is a resolution's and no resolution's
// a status's.
func (s StatusSigner) SignResolution(subject string, body []byte) string {
	return s.sign("epayflow-resolve-v1", subject, body)
}

// CheckResolution says why sig is not the signature of a resolution's body on subject
// (nil when it is). A signer without a key accepts nothing.
func (s StatusSigner) CheckResolution(subject string, body []byte, sig string) error {
	return s.check("resolution", HeaderResolveSignature, sig, func(k StatusSigner) string { return k.SignResolution(subject, body) })
}

// Resolve is the message of a resolution, signed with s.
func (b *Builder) Resolve(body ResolveBody, s StatusSigner, at time.Time) (*nats.Msg, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode a resolution: %w", err)
	}
	subject := SubjectOf(body.InvoiceID, b.shards, KindResolve)
	r := body.Resolution
	return &nats.Msg{
		Subject: subject,
		Data:    data,
		Header: nats.Header{
			nats.MsgIdHdr:          {s.NatsMsgID(ResolveMsgID(body.InvoiceID, r.Number, r.Decision))},
			HeaderInvoiceID:        {body.InvoiceID},
			HeaderReceivedAt:       {at.UTC().Format(time.RFC3339Nano)},
			HeaderResolveSignature: {s.SignResolution(subject, data)},
		},
	}, nil
}

// decodeResolve checks a resolution's signature, then decodes it.
func (d Decoder) decodeResolve(subject string, h Header, body []byte, received time.Time) (invoice.Message, error) {
	if err := d.Signer.CheckResolution(subject, body, h.Get(HeaderResolveSignature)); err != nil {
		return invoice.Message{}, invalid("%v", err)
	}
	var b ResolveBody
	if err := json.Unmarshal(body, &b); err != nil {
		return invoice.Message{}, invalid("resolution is not valid JSON: %v", err)
	}
	r := b.Resolution
	return invoice.ResolveMessage(ResolveMsgID(b.InvoiceID, r.Number, r.Decision), b.InvoiceID, r, received), nil
}
