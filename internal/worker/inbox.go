package worker

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// The subscriber's metadata the worker reads, under the names its code uses.
const (
	mdSubject   = jspubsub.MetadataSubject
	mdStreamSeq = jspubsub.MetadataStreamSeq
	mdDelivered = jspubsub.MetadataDelivered
	mdMsgID     = jspubsub.MetadataMsgID
)

// deliveries is how many times msg was delivered, this time included.
func deliveries(msg *message.Message) uint64 { return jspubsub.Deliveries(msg) }

// newInboxSubscriber reads the inbox's shards: a topic is inbox.ShardFilter(shard),
// read through the shard's durable consumer, up to -max-in-flight messages at once, those
// of one invoice (orderKey) one at a time in stream order.
func newInboxSubscriber(js jetstream.JetStream, cfg Config, orderKey func(*message.Message) string, m *Metrics, log *slog.Logger) (*jspubsub.Subscriber, error) {
	return jspubsub.NewSubscriber(js, inboxSubscriberConfig(cfg, orderKey, m, log))
}

// inboxSubscriberConfig is the configuration of the inbox's subscriber; m (nil: none)
// counts its takeovers.
func inboxSubscriberConfig(cfg Config, orderKey func(*message.Message) string, m *Metrics, log *slog.Logger) jspubsub.SubscriberConfig {
	var onTakeover func(string)
	if m != nil {
		onTakeover = func(reason string) { m.Takeovers.WithLabelValues(reason).Inc() }
	}
	return jspubsub.SubscriberConfig{
		Stream:      natsbus.StreamInbox,
		Consumer:    inboxConsumer,
		AckWait:     cfg.AckWait,
		MaxInFlight: cfg.MaxInFlight,
		// the memory of a worker that owns many shards (one alone owns them all)
		MaxInFlightTotal: cfg.MaxInFlightTotal,
		NakDelay:         nakDelay,
		OrderKey:         orderKey,
		RetryInTurn:      true, // a message that failed for a moment is applied before the next of its invoice
		// one owner per shard (the leases): a worker starting or taking a shard gets what
		// a crashed one left unacked at once, in stream order, before newer messages
		Takeover:   true,
		OnTakeover: onTakeover,
		// the ingest's request id follows the callback into the worker's logs
		Correlation: func(h nats.Header) string { return inbox.RequestID(h) },
		Logger:      log,
	}
}

// inboxConsumer is the durable consumer of the shard a topic names.
func inboxConsumer(topic string) (jspubsub.Consumer, error) {
	shard, err := shardOfTopic(topic)
	if err != nil {
		return jspubsub.Consumer{}, err
	}
	return jspubsub.Consumer{Durable: consumerName(shard), Filter: inbox.ShardFilter(shard),
		Description: "epayflow worker, shard " + strconv.Itoa(shard)}, nil
}

// consumerName is the durable name of a shard's consumer.
func consumerName(shard int) string { return natsbus.ShardConsumerPrefix + strconv.Itoa(shard) }

// shardOfTopic reads the shard from a topic "epay.inbox.<shard>.>".
func shardOfTopic(topic string) (int, error) {
	shard, ok := inbox.ParseShardFilter(topic)
	if !ok {
		return 0, fmt.Errorf("topic %q is not a shard filter", topic)
	}
	return shard, nil
}
