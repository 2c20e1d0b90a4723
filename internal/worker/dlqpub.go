package worker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/dlq"
)

// poisonTopic is the Watermill topic the poison middleware publishes to; the publisher
// below routes each message to the DLQ subject of its shard instead.
const poisonTopic = "epay.dlq"

// dlqPublisher is the poison middleware's message.Publisher: it puts a message on
// EPAY_DLQ as a dlq.Poisoned entry and waits for the PubAck (on failure the message is
// nacked and comes back).
type dlqPublisher struct{ js jetstream.JetStream }

func (p dlqPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := p.js.PublishMsg(ctx, poisoned(msg).Msg())
		cancel()
		if err != nil {
			return fmt.Errorf("publish to the DLQ: %w", err)
		}
	}
	return nil
}

func (dlqPublisher) Close() error { return nil }

// poisoned is the DLQ entry of a message the router gave up on: its NATS headers (the
// metadata but the subscriber's and Watermill's own keys), where it came from and why.
func poisoned(msg *message.Message) dlq.Poisoned {
	md := msg.Metadata
	h := nats.Header{}
	for k, v := range md {
		if !strings.HasPrefix(k, "_epay_") && !isWatermillKey(k) {
			h.Set(k, v)
		}
	}
	seq, _ := strconv.ParseUint(md.Get(mdStreamSeq), 10, 64)
	return dlq.Poisoned{Subject: md.Get(mdSubject), MsgID: md.Get(mdMsgID), StreamSeq: seq, Deliveries: deliveries(msg),
		Reason: md.Get(middleware.ReasonForPoisonedKey), CorrelationID: middleware.MessageCorrelationID(msg),
		Header: h, Data: msg.Payload, At: time.Now()}
}

func isWatermillKey(k string) bool {
	switch k {
	case middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey,
		middleware.PoisonedSubscriberKey, middleware.CorrelationIDMetadataKey, "handler_name":
		return true
	}
	return false
}
