package jspubsub

import (
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Consumer is the durable JetStream consumer a topic is read through.
type Consumer struct {
	// Durable is the consumer's durable name. Subscribers of one topic in any process
	// share it, and so its messages: it is the topic's consumer group.
	Durable string
	// Filter is the subject filter of the consumer, within the stream.
	Filter string
	// Description is shown by the nats CLI; optional.
	Description string
	// From, when not 0, is the stream sequence a consumer that does not exist is made to
	// deliver from, instead of the stream's first message: where its readers had got to
	// (a consumer deleted under them would otherwise give them the whole stream again).
	// A consumer that exists keeps the deliver policy it was made with. Without Takeover
	// only (a takeover makes its consumer again from the ack floor it read).
	From uint64
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Stream is the JetStream stream the consumers read. Required.
	Stream string
	// Consumer maps a topic to its durable consumer; an error refuses the topic
	// (Subscribe returns it, wrapped). Required.
	Consumer func(topic string) (Consumer, error)
	// AckWait is how long the server waits for a message's ack before it redelivers the
	// message. A message whose handler takes longer stops holding up its order key.
	// Default 30s.
	AckWait time.Duration
	// MaxInFlight bounds the messages of one subscription handed out and not yet
	// settled, including those waiting for their order key's turn. Default 1.
	MaxInFlight int
	// MaxInFlightTotal bounds the messages handed out and not yet settled over every
	// subscription of the subscriber at once, counted as MaxInFlight is: what bounds a
	// process's memory (a goroutine, its stack and the message for each), however many
	// subscriptions it holds. 0: no bound besides each subscription's MaxInFlight.
	MaxInFlightTotal int
	// MaxAckPending bounds the messages the consumer has handed out and not had acked,
	// those nacked with a delay included: past it the server hands out nothing more.
	// Default max(1000, 4*MaxInFlight).
	MaxAckPending int
	// NakDelay is the redelivery delay of a message nacked after its delivered-th
	// delivery. Nil: redeliver at once.
	NakDelay func(delivered uint64) time.Duration
	// OrderKey names what a message is about: messages with the same key are handed out
	// one after the other, in stream order, each once the previous one was acked or
	// nacked (or its AckWait passed). "" orders nothing; nil orders nothing at all.
	// It runs on the subscriber's goroutine, once per delivery, and may replace the
	// message's context with one derived from it (to carry what it decoded).
	OrderKey func(msg *message.Message) string
	// RetryInTurn keeps an order key's stream order through a nack: a nacked message with
	// a key is delivered again by the subscriber itself after NakDelay's delay (its
	// delivery count one up, the server told it is in progress meanwhile) before the next
	// message of its key, instead of being naked to the server, which would redeliver it
	// after them. A handler that takes longer than AckWait keeps its turn too (the server
	// told it is in progress) for as long as it works. It holds its slot while it waits:
	// for short delays (the worker's), not for a schedule of hours.
	RetryInTurn bool
	// Takeover says that a subscriber is the only reader of its consumers (the worker:
	// one owner per shard, on a lease). Subscribe then takes over what a reader before it
	// left unacked (it crashed, or its lease was lost): instead of waiting out AckWait,
	// behind newer messages, those messages come again at once and in stream order, from
	// the consumer's ack floor on. Messages acked past the floor come again too: the
	// handler must be idempotent. A running subscription does the same when its
	// deliveries skip a consumer sequence (see OnGap): the skipped delivery never
	// arrived and would come only after AckWait, behind newer messages of its key; it
	// hands out nothing more of that Consume and takes the consumer over again. Never set
	// it where two processes read one consumer.
	Takeover bool
	// OnTakeover, when set, is called each time Takeover makes a consumer again from its
	// ack floor, with why: TakeoverStart (a subscription starts on a consumer holding
	// messages delivered and not acked) or TakeoverLostDelivery (a running one saw a
	// delivery skipped); TakeoverResumed when a running one whose consumer was deleted
	// and made again under it took it over as it read it again.
	OnTakeover func(reason string)
	// OnGap, when set, is called on the subscriber's goroutine, before the message is
	// handed out, when a subscription's deliveries skip a consumer sequence: a delivery
	// the server made never arrived (lost on a NATS cluster's route in a partition, or
	// taken by another reader). The server redelivers it after AckWait, behind the
	// messages delivered since. streamSeq is the highest stream sequence of a first
	// delivery seen before the gap (0: none): the missing first deliveries are newer.
	// For a consumer only this subscriber reads (the webhooks' one replica).
	OnGap func(streamSeq uint64)
	// PullHeartbeat is the idle heartbeat of the subscriber's pull requests (each
	// expires after ten of them). A subscription that has seen neither a message nor a
	// heartbeat for two of them issues a new pull request: that bounds how long it can sit
	// with messages waiting on the server and no pull request there (bench/NOTES.md,
	// "Drain stalls": nats.go's defaults, a 30 s expiry and 15 s heartbeats, let a
	// subscription wait 30 s). nats.go takes 500ms to 30s. Default 500ms: such a wait
	// ends after about a second.
	PullHeartbeat time.Duration
	// RemakeAfter is how long a Takeover subscription whose consumer was deleted under it
	// waits for another reader's takeover to make it again before it makes the consumer
	// itself (ensure; from the stream's first message of its filter, whose messages the
	// handler has applied already take as duplicates). An operator's `nats consumer rm`
	// otherwise left the shard owned and unread for good. Default 2 minutes.
	RemakeAfter time.Duration
	// Correlation reads a message's correlation id (Watermill's
	// middleware.CorrelationID) from its headers; nil, or "", for none.
	Correlation func(nats.Header) string
	// Logger gets the subscriber's warnings. Default: none.
	Logger *slog.Logger
}

// Validate reports the first problem with the config.
func (c *SubscriberConfig) Validate() error {
	switch {
	case c.Stream == "":
		return errors.New("jspubsub: Stream is required")
	case c.Consumer == nil:
		return errors.New("jspubsub: Consumer is required")
	case c.AckWait < 0:
		return errors.New("jspubsub: AckWait must not be negative")
	case c.MaxInFlight < 0:
		return errors.New("jspubsub: MaxInFlight must not be negative")
	case c.MaxInFlightTotal < 0:
		return errors.New("jspubsub: MaxInFlightTotal must not be negative")
	case c.RemakeAfter < 0:
		return errors.New("jspubsub: RemakeAfter must not be negative")
	case c.PullHeartbeat < 0 || c.PullHeartbeat > 0 && (c.PullHeartbeat < 500*time.Millisecond || c.PullHeartbeat > 30*time.Second):
		return errors.New("jspubsub: PullHeartbeat must be 500ms to 30s")
	}
	return nil
}

func (c *SubscriberConfig) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = max(1000, 4*c.MaxInFlight)
	}
	if c.PullHeartbeat == 0 {
		c.PullHeartbeat = 500 * time.Millisecond
	}
	if c.RemakeAfter == 0 {
		c.RemakeAfter = 2 * time.Minute
	}
	if c.NakDelay == nil {
		c.NakDelay = func(uint64) time.Duration { return 0 }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Subject maps a topic to the subject its messages are published on; an error
	// refuses the topic. Nil: the topic is the subject.
	Subject func(topic string) (string, error)
	// Timeout bounds the wait for each message's PubAck. Default 10s.
	Timeout time.Duration
}

// Validate reports the first problem with the config.
func (c *PublisherConfig) Validate() error {
	if c.Timeout < 0 {
		return errors.New("jspubsub: Timeout must not be negative")
	}
	return nil
}

func (c *PublisherConfig) setDefaults() {
	if c.Subject == nil {
		c.Subject = func(topic string) (string, error) { return topic, nil }
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}
