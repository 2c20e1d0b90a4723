package jspubsub

import (
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the Subscriber adds to each message, beside the NATS headers (kept under
// their own names). They all start with MetadataPrefix, which keeps them apart from
// headers; the Publisher does not publish them.
const (
	MetadataPrefix = "_epay_"
	// MetadataSubject is the subject the message was published on.
	MetadataSubject = MetadataPrefix + "subject"
	// MetadataStreamSeq is its sequence in the stream, in decimal.
	MetadataStreamSeq = MetadataPrefix + "stream_seq"
	// MetadataStreamTime is when the stream stored it (the server's clock, from the
	// delivery's metadata, not a header a publisher sets), RFC 3339 with nanoseconds, UTC.
	MetadataStreamTime = MetadataPrefix + "stream_time"
	// MetadataDelivered is how many times it was delivered, this time included.
	MetadataDelivered = MetadataPrefix + "num_delivered"
	// MetadataMsgID is its Nats-Msg-Id header ("" without one).
	MetadataMsgID = MetadataPrefix + "msg_id"
	// metadataInTurn, set by NackInTurn, asks for this nack to be retried in turn.
	metadataInTurn = MetadataPrefix + "in_turn"
)

// NackInTurn nacks msg so that it comes again in its order key's turn, before the next
// message of its key (as RetryInTurn does for every nack), after NakDelay's delay. For a
// subscriber whose other nacks go back to the server (long delays that must not hold a
// slot): a handler that failed before it could record anything about msg uses it, so that
// the next message of its key cannot overtake it meanwhile.
func NackInTurn(msg *message.Message) {
	msg.Metadata.Set(metadataInTurn, "1")
	msg.Nack()
}

// HeaderUUID carries a message's Watermill UUID: the Publisher sets it, the Subscriber
// reads it (the name Watermill's own NATS marshaler uses).
const HeaderUUID = "_watermill_message_uuid"

// Deliveries is how many times msg was delivered, this time included (MetadataDelivered;
// 0 for a message that did not come from a Subscriber).
func Deliveries(msg *message.Message) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(MetadataDelivered), 10, 64)
	return n
}

// toWatermill copies a JetStream message into a Watermill one: headers as metadata
// under their names (first value), plus subject, stream sequence, stored time and
// delivery count.
// Its UUID is the HeaderUUID header, else its Nats-Msg-Id (unique in a stream that
// deduplicates), else "<stream>:<sequence>"; correlation, if set, reads its
// correlation id.
func toWatermill(jm jetstream.Msg, stream string, correlation func(nats.Header) string) *message.Message {
	h := jm.Headers()
	uuid := h.Get(HeaderUUID)
	if uuid == "" {
		uuid = h.Get(nats.MsgIdHdr)
	}
	md := make(message.Metadata, len(h)+6)
	for k, v := range h {
		// a header named like the subscriber's metadata is not taken for it
		if len(v) > 0 && k != HeaderUUID && k != nats.MsgIdHdr && !strings.HasPrefix(k, MetadataPrefix) {
			md.Set(k, v[0])
		}
	}
	md.Set(MetadataSubject, jm.Subject())
	md.Set(MetadataMsgID, h.Get(nats.MsgIdHdr))
	if meta, err := jm.Metadata(); err == nil {
		md.Set(MetadataStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
		md.Set(MetadataDelivered, strconv.FormatUint(meta.NumDelivered, 10))
		md.Set(MetadataStreamTime, meta.Timestamp.UTC().Format(time.RFC3339Nano))
		if uuid == "" {
			uuid = stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
	}
	if correlation != nil {
		if id := correlation(h); id != "" {
			md.Set(middleware.CorrelationIDMetadataKey, id)
		}
	}
	msg := message.NewMessage(uuid, jm.Data())
	msg.Metadata = md
	return msg
}
