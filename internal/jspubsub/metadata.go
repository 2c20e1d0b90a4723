package jspubsub

import (
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
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
	// MetadataDelivered is how many times it was delivered, this time included.
	MetadataDelivered = MetadataPrefix + "num_delivered"
	// MetadataMsgID is its Nats-Msg-Id header ("" without one).
	MetadataMsgID = MetadataPrefix + "msg_id"
)

// Deliveries is how many times msg was delivered, this time included (MetadataDelivered;
// 0 for a message that did not come from a Subscriber).
func Deliveries(msg *message.Message) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(MetadataDelivered), 10, 64)
	return n
}

// toWatermill copies a JetStream message into a Watermill one: headers as metadata
// under their names (first value), plus subject, stream sequence and delivery count.
// Its UUID is the natsbus.HeaderWatermillUUID header, or "<stream>:<sequence>" for a
// message published without one; natsbus.HeaderRequestID, the ingest's request id, is
// its correlation id.
func toWatermill(jm jetstream.Msg, stream string) *message.Message {
	h := jm.Headers()
	uuid := h.Get(natsbus.HeaderWatermillUUID)
	md := make(message.Metadata, len(h)+5)
	for k, v := range h {
		if len(v) > 0 && k != natsbus.HeaderWatermillUUID && k != nats.MsgIdHdr {
			md.Set(k, v[0])
		}
	}
	md.Set(MetadataSubject, jm.Subject())
	md.Set(MetadataMsgID, h.Get(nats.MsgIdHdr))
	if meta, err := jm.Metadata(); err == nil {
		md.Set(MetadataStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
		md.Set(MetadataDelivered, strconv.FormatUint(meta.NumDelivered, 10))
		if uuid == "" {
			uuid = stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
	}
	if id := h.Get(natsbus.HeaderRequestID); id != "" {
		md.Set(middleware.CorrelationIDMetadataKey, id)
	}
	msg := message.NewMessage(uuid, jm.Data())
	msg.Metadata = md
	return msg
}
