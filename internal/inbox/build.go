package inbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
)

// Builder makes inbox messages, each with its subject, Nats-Msg-Id and headers: the
// one way every producer (the ingest, the initiator, the worker's checker) writes to
// the inbox. The subjects of its shard count are made once.
type Builder struct {
	shards   int
	subjects [][4]string // by shard: postlink, invoice, status, operation
}

// NewBuilder builds for a deployment of shards shards (1..MaxShards).
func NewBuilder(shards int) (*Builder, error) {
	if shards < 1 || shards > MaxShards {
		return nil, fmt.Errorf("shards %d: want 1..%d", shards, MaxShards)
	}
	b := &Builder{shards: shards, subjects: make([][4]string, shards)}
	for s := range b.subjects {
		b.subjects[s] = [4]string{Subject(s, KindPostlink), Subject(s, KindInvoice), Subject(s, KindStatus), Subject(s, KindOperation)}
	}
	return b, nil
}

// Shards is the builder's shard count.
func (b *Builder) Shards() int { return b.shards }

// Receipt is what the ingest knows of a callback's HTTP request.
type Receipt struct {
	Route      string    // the path it came in on
	RemoteAddr string    // the sender's address
	RequestID  string    // the ingest's request id
	At         time.Time // when it was received
	// Verified is the ingest's verdict on secret_hash: it picks the message id (an
	// unverified callback never takes the verified one's) and is kept for history.
	// The worker does not trust it.
	Verified bool
}

// Callback is the message of ePay's callback cb (decoded from its body, cb.Raw, which
// is sent verbatim).
func (b *Builder) Callback(cb *epay.Callback, r Receipt) *nats.Msg {
	kind := CallbackFailure
	if cb.Succeeded() {
		kind = CallbackSuccess
	}
	// On the ingest's hot path, so made with few allocations: the message id and the
	// receipt share one string, the four values one array, and the map has room for the
	// header a publish adds (Nats-Expected-Stream) without growing.
	var buf [256]byte
	id := appendCallbackID(buf[:0], cb.InvoiceID, cb.ID, cb.Code, r.Verified)
	both := string(r.AppendHeader(id))
	vals := [...]string{both[:len(id)], cb.InvoiceID, kind, both[len(id):]}
	one := vals[:]
	h := make(nats.Header, len(vals)+1)
	for i, k := range [...]string{nats.MsgIdHdr, HeaderInvoiceID, HeaderKind, HeaderReceipt} {
		h[k] = one[i : i+1 : i+1]
	}
	return &nats.Msg{Subject: b.subjects[Shard(cb.InvoiceID, b.shards)][0], Data: cb.Raw, Header: h}
}

// Status is the message of a status answer, signed with s.
func (b *Builder) Status(body StatusBody, s StatusSigner, at time.Time) (*nats.Msg, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode a status answer: %w", err)
	}
	subject := b.subjects[Shard(body.InvoiceID, b.shards)][2]
	st := body.Status
	return &nats.Msg{
		Subject: subject,
		Data:    data,
		Header: nats.Header{
			nats.MsgIdHdr:         {s.NatsMsgID(StatusMsgID(body.InvoiceID, st.Check, st.ResultCode, st.StatusName, st.TransactionID))},
			HeaderInvoiceID:       {body.InvoiceID},
			HeaderReceivedAt:      {at.UTC().Format(time.RFC3339Nano)},
			HeaderStatusSignature: {s.Sign(subject, data)},
		},
	}, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
