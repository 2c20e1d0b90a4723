package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Headers of a DLQ message, beside the original headers and natsbus.HeaderDLQReason.
const (
	HeaderDLQSubject    = "Epay-Dlq-Subject"    // the inbox subject it came from
	HeaderDLQMsgID      = "Epay-Dlq-Msg-Id"     // its original Nats-Msg-Id
	HeaderDLQStreamSeq  = "Epay-Dlq-Stream-Seq" // its sequence on EPAY_INBOX
	HeaderDLQDeliveries = "Epay-Dlq-Deliveries" // how many times it was delivered
	HeaderDLQAt         = "Epay-Dlq-At"         // when the worker gave up, RFC 3339 UTC
	HeaderCorrelationID = "Epay-Correlation-Id" // the correlation id it carried
)

// poisonTopic is the Watermill topic the poison middleware publishes to; the publisher
// below routes each message to natsbus.DLQSubject of its shard instead.
const poisonTopic = "epay.dlq"

// dlqPublisher is the poison middleware's message.Publisher: it puts a message on
// EPAY_DLQ with its original headers, where it came from and why, and waits for the
// PubAck (on failure the message is nacked and comes back).
type dlqPublisher struct{ js jetstream.JetStream }

func (p dlqPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := p.js.PublishMsg(ctx, dlqMsg(msg))
		cancel()
		if err != nil {
			return fmt.Errorf("publish to the DLQ: %w", err)
		}
	}
	return nil
}

func (dlqPublisher) Close() error { return nil }

func dlqMsg(msg *message.Message) *nats.Msg {
	md := msg.Metadata
	subject := md.Get(mdSubject)
	h := nats.Header{}
	for k, v := range md {
		if !strings.HasPrefix(k, "_epay_") && !isWatermillKey(k) {
			h.Set(k, v)
		}
	}
	h.Set(natsbus.HeaderDLQReason, md.Get(middleware.ReasonForPoisonedKey))
	h.Set(HeaderDLQSubject, subject)
	h.Set(HeaderDLQMsgID, md.Get(mdMsgID))
	h.Set(HeaderDLQStreamSeq, md.Get(mdStreamSeq))
	h.Set(HeaderDLQDeliveries, md.Get(mdDelivered))
	h.Set(HeaderDLQAt, time.Now().UTC().Format(time.RFC3339Nano))
	if id := middleware.MessageCorrelationID(msg); id != "" {
		h.Set(HeaderCorrelationID, id)
	}
	// one DLQ entry per inbox message, even if the worker poisons it twice (crash before ack)
	h.Set(nats.MsgIdHdr, "dlq:"+md.Get(mdStreamSeq))
	shard, _, _ := inbox.ParseSubject(subject) // 0 for a subject that is not the inbox's
	return &nats.Msg{Subject: natsbus.DLQSubject(shard), Header: h, Data: msg.Payload}
}

func isWatermillKey(k string) bool {
	switch k {
	case middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey,
		middleware.PoisonedSubscriberKey, middleware.CorrelationIDMetadataKey, "handler_name":
		return true
	}
	return false
}
