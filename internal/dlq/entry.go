package dlq

import (
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Headers of a DLQ entry, beside the original headers of the message.
const (
	HeaderReason        = "Epay-Dlq-Reason"     // why the worker gave up
	HeaderSubject       = "Epay-Dlq-Subject"    // the inbox subject it came from
	HeaderMsgID         = "Epay-Dlq-Msg-Id"     // its original Nats-Msg-Id
	HeaderStreamSeq     = "Epay-Dlq-Stream-Seq" // its sequence on EPAY_INBOX
	HeaderDeliveries    = "Epay-Dlq-Deliveries" // how many times it was delivered
	HeaderAt            = "Epay-Dlq-At"         // when the worker gave up, RFC 3339 UTC
	HeaderCorrelationID = "Epay-Correlation-Id" // the correlation id it carried
)

// Poisoned is an inbox message the worker gives up on, with why.
type Poisoned struct {
	Subject       string      // the inbox subject it came from
	MsgID         string      // its Nats-Msg-Id
	StreamSeq     uint64      // its sequence on EPAY_INBOX
	Deliveries    uint64      // how many times it was delivered
	Reason        string      // why the worker gave up
	CorrelationID string      // "" when none
	Header        nats.Header // its original headers (JetStream's own Nats-* are not copied)
	Data          []byte      // its body, verbatim
	At            time.Time   // when the worker gave up
}

// Msg is the DLQ entry of p: on epay.dlq.<shard> of the shard of its subject (0 for a
// subject that is not the inbox's), with its original headers and the DLQ headers. Its
// Nats-Msg-Id is "dlq:<stream seq>": one entry per inbox message, even if the worker
// poisons it twice (a crash before the ack).
func (p Poisoned) Msg() *nats.Msg {
	h := nats.Header{}
	for k, v := range p.Header {
		if !isJetStreamHeader(k) && !isDLQHeader(k) {
			h[k] = v
		}
	}
	h.Set(HeaderReason, p.Reason)
	h.Set(HeaderSubject, p.Subject)
	h.Set(HeaderMsgID, p.MsgID)
	h.Set(HeaderStreamSeq, strconv.FormatUint(p.StreamSeq, 10))
	h.Set(HeaderDeliveries, strconv.FormatUint(p.Deliveries, 10))
	h.Set(HeaderAt, p.At.UTC().Format(time.RFC3339Nano))
	if p.CorrelationID != "" {
		h.Set(HeaderCorrelationID, p.CorrelationID)
	}
	h.Set(nats.MsgIdHdr, "dlq:"+strconv.FormatUint(p.StreamSeq, 10))
	shard, _, _ := inbox.ParseSubject(p.Subject)
	return &nats.Msg{Subject: natsbus.DLQSubject(shard), Header: h, Data: p.Data}
}

// isJetStreamHeader says whether k is one of JetStream's own headers (Nats-Msg-Id,
// Nats-Expected-Stream, Nats-Expected-Last-Subject-Sequence, Nats-Rollup, Nats-TTL, ...).
// A stored message keeps the ones its sender set, and each is an order to the server
// that takes the message: copied onto a DLQ entry, Nats-Expected-Stream: EPAY_INBOX
// (which the ingest sets on every callback) made nats-server refuse the entry (10060,
// "expected stream does not match"), so a poisoned callback never reached the DLQ.
// Replay sets the ones it needs itself.
func isJetStreamHeader(k string) bool {
	return strings.HasPrefix(textproto.CanonicalMIMEHeaderKey(k), "Nats-")
}
