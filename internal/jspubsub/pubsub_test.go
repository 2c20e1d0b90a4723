package jspubsub_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// The suite's stream holds every topic T as the subject "wmtest.T".
const (
	suiteStream  = "WMTEST"
	suitePrefix  = "wmtest."
	suiteAckWait = 3 * time.Second
)

// features are what the Pub/Sub supports, as Watermill's suite names them:
//   - ConsumerGroups: a topic's durable consumer is its group; another durable name
//     (SubscriberConfig.Consumer) reads the same messages again.
//   - ExactlyOnceDelivery: no. The ack is not confirmed and an unacked message is
//     redelivered after AckWait; the worker deduplicates by message id in its store.
//   - Persistent: the messages are in a stream, the position in a durable consumer.
//   - NewSubscriberReceivesOldMessages: no. Subscribers of a topic share its durable
//     consumer: a new one goes on where the others are.
//   - RestartServiceCommand: none, the server runs inside the test process (so
//     TestReconnect is skipped; TestSubscriberSurvivesServerRestart stands for it).
//   - ContextPreserved: no, the publisher's context stays in its process.
func features(ordered bool) tests.Features {
	return tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false,
		// With an order key, the messages of one key are handed out one at a time in
		// stream order; several subscribers of one consumer share its messages, so the
		// order holds for one subscriber only.
		GuaranteedOrder:                     ordered,
		GuaranteedOrderWithSingleSubscriber: ordered,
		Persistent:                          true,
		NewSubscriberReceivesOldMessages:    false,
	}
}

// Watermill's suite with an order key per subject (how the worker runs it: a key per
// invoice), many messages in flight at once.
func TestPubSubOrderedBySubject(t *testing.T) {
	url := startServer(t)
	cfg := jspubsub.SubscriberConfig{AckWait: suiteAckWait, MaxInFlight: 16, OrderKey: func(msg *message.Message) string {
		return msg.Metadata.Get(jspubsub.MetadataSubject)
	}}
	tests.TestPubSub(t, features(true),
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, url, cfg, "") },
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, url, cfg, group)
		})
}

// Watermill's suite without an order key: many messages in flight, in no order.
func TestPubSubUnordered(t *testing.T) {
	url := startServer(t)
	cfg := jspubsub.SubscriberConfig{AckWait: suiteAckWait, MaxInFlight: 16}
	tests.TestPubSub(t, features(false),
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, url, cfg, "") },
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, url, cfg, group)
		})
}

// startServer starts an embedded JetStream server with the suite's stream.
func startServer(t *testing.T) string {
	t.Helper()
	ns := natstest.Start(t)
	js := connect(t, ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: suiteStream, Subjects: []string{suitePrefix + ">"}}); err != nil {
		t.Fatal(err)
	}
	return ns.URL()
}

// connect is a connection of its own, closed when the test ends.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	return natstest.JetStream(t, url)
}

// newPubSub is one instance of the Pub/Sub, on a connection of its own: topic T is the
// subject "wmtest.T", read through the durable consumer T, or <group>_T in a group.
func newPubSub(t *testing.T, url string, cfg jspubsub.SubscriberConfig, group string) (*jspubsub.Publisher, *jspubsub.Subscriber) {
	t.Helper()
	js := connect(t, url)
	pub, err := jspubsub.NewPublisher(js, jspubsub.PublisherConfig{Subject: func(topic string) (string, error) {
		return suitePrefix + topic, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream = suiteStream
	cfg.Consumer = func(topic string) (jspubsub.Consumer, error) {
		durable := topic
		if group != "" {
			durable = group + "_" + topic
		}
		return jspubsub.Consumer{Durable: durable, Filter: suitePrefix + topic}, nil
	}
	sub, err := jspubsub.NewSubscriber(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pub, sub
}
