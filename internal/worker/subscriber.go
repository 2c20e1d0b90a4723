package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Metadata keys the subscriber adds to each Watermill message, beside the NATS headers
// (kept under their own names). The "_epay_" prefix keeps them apart from headers.
const (
	mdSubject   = "_epay_subject"
	mdStreamSeq = "_epay_stream_seq"
	mdDelivered = "_epay_num_delivered"
	mdMsgID     = "_epay_msg_id"
)

// consumerSettings tune the durable pull consumer of each shard.
type consumerSettings struct {
	AckWait     time.Duration // server redelivers an unacked message after this
	MaxInFlight int           // unacked messages per shard handed to the router at once
	NakDelay    func(delivered uint64) time.Duration
	// OrderKey names what msg is about (the invoice id): messages with the same key are
	// handed to the router one after the other, in stream order; "" orders nothing.
	OrderKey func(msg *message.Message) string
}

// subscriber is a Watermill message.Subscriber over one durable JetStream pull consumer
// per shard. Unlike watermill-nats' jetstream subscriber it hands the router up to
// MaxInFlight messages of a shard at once (so concurrent handlers fill one bbolt
// transaction) but those of one invoice one at a time, in stream order, acks a message
// only when its handler acked it (after the commit), never drains a connection it does
// not own, and cannot panic on an odd header.
type subscriber struct {
	js       jetstream.JetStream
	set      consumerSettings
	log      *slog.Logger
	closing  chan struct{}
	closeMu  sync.Mutex
	closed   bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	consumer map[int]jetstream.Consumer
}

func newSubscriber(js jetstream.JetStream, set consumerSettings, log *slog.Logger) *subscriber {
	return &subscriber{js: js, set: set, log: log, closing: make(chan struct{}), consumer: map[int]jetstream.Consumer{}}
}

// consumerName is the durable name of a shard's consumer.
func consumerName(shard int) string { return "worker-shard-" + strconv.Itoa(shard) }

// shardOfTopic reads the shard from a topic "epay.inbox.<shard>.>".
func shardOfTopic(topic string) (int, error) {
	parts := strings.Split(topic, ".")
	if len(parts) != 4 || topic != inbox.ShardFilter(atoi(parts[2])) {
		return 0, fmt.Errorf("topic %q is not a shard filter", topic)
	}
	return atoi(parts[2]), nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// ensureConsumer creates or updates the durable consumer of a shard.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, shard int, set consumerSettings) (jetstream.Consumer, error) {
	return js.CreateOrUpdateConsumer(ctx, natsbus.StreamInbox, jetstream.ConsumerConfig{
		Durable:       consumerName(shard),
		Description:   "epayflow worker, shard " + strconv.Itoa(shard),
		FilterSubject: inbox.ShardFilter(shard),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       set.AckWait,
		MaxDeliver:    -1, // the worker gives up itself, into the DLQ, never silently
		MaxAckPending: max(1000, 4*set.MaxInFlight),
	})
}

// Subscribe consumes the shard named by topic (inbox.ShardFilter(shard)).
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	shard, err := shardOfTopic(topic)
	if err != nil {
		return nil, err
	}
	cons, err := ensureConsumer(ctx, s.js, shard, s.set)
	if err != nil {
		return nil, fmt.Errorf("consumer of shard %d: %w", shard, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(s.set.MaxInFlight), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return nil, fmt.Errorf("consume shard %d: %w", shard, err)
	}
	s.mu.Lock()
	s.consumer[shard] = cons
	s.mu.Unlock()
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pump(ctx, shard, it, out)
	}()
	return out, nil
}

// pump moves messages from the iterator to the router, at most MaxInFlight unacked.
// Each message gets a goroutine that waits until the message before it with the same
// order key has been handled, so one slow invoice never holds up the others.
func (s *subscriber) pump(ctx context.Context, shard int, it jetstream.MessagesContext, out chan<- *message.Message) {
	var handing sync.WaitGroup
	defer close(out)
	defer handing.Wait() // nobody may send on out once it is closed
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // first: the goroutines still waiting for their turn nak and return
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		it.Drain() // Next returns what is buffered, then ErrMsgIteratorClosed
		cancel()
	}()
	slots := make(chan struct{}, s.set.MaxInFlight)
	turns := newTurns(2 * s.set.MaxInFlight)
	for {
		jm, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return
		}
		if err != nil {
			s.log.Warn("inbox consumer", "shard", shard, "err", err)
			continue
		}
		if ctx.Err() != nil {
			jm.Nak() // fetched but not handed out: let another run have it now
			continue
		}
		msg := toWatermill(jm)
		msg.SetContext(ctx)
		// A message waiting for its turn holds a slot: memory stays bounded, and a burst
		// for one invoice is applied serially, as its order demands.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			jm.Nak()
			continue
		}
		var key string
		if s.set.OrderKey != nil {
			key = s.set.OrderKey(msg)
		}
		prev, done := turns.take(key)
		s.wg.Add(1)
		handing.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			handed := handOut(ctx, jm, msg, prev, out)
			handing.Done()
			if !handed {
				done()
				return
			}
			s.settle(jm, msg, done)
		}()
	}
}

// handOut gives msg to the router once prev (the previous message of its key) is done.
// On shutdown it naks msg instead, so that the next run gets it at once.
func handOut(ctx context.Context, jm jetstream.Msg, msg *message.Message, prev <-chan struct{}, out chan<- *message.Message) bool {
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		jm.Nak()
		return false
	}
	select {
	case out <- msg:
		return true
	case <-ctx.Done():
		jm.Nak()
		return false
	}
}

// turns chains the messages of each key: a message's turn comes when the one taken
// before it with the same key is done. Only the pump touches it; the goroutines only
// close channels, so it needs no lock.
type turns struct {
	last  map[string]chan struct{} // per key, the done of its latest message
	limit int
}

func newTurns(limit int) *turns {
	return &turns{last: make(map[string]chan struct{}), limit: limit}
}

// take returns what the next message of key waits for (nil: nothing) and the func that
// ends its turn, to be called exactly once.
func (t *turns) take(key string) (prev <-chan struct{}, done func()) {
	if key == "" {
		return nil, func() {}
	}
	if len(t.last) >= t.limit {
		t.sweep()
	}
	ch := make(chan struct{})
	prev, t.last[key] = t.last[key], ch
	return prev, func() { close(ch) }
}

// sweep forgets the keys whose latest message is done. An open channel belongs to a
// message that holds a slot, so at most MaxInFlight keys survive: with limit at twice
// that, the map stays bounded and the sweeps cost O(1) a message.
func (t *turns) sweep() {
	for k, ch := range t.last {
		select {
		case <-ch:
			delete(t.last, k)
		default:
		}
	}
}

// settle acks the JetStream message once the router acked it (the handler committed),
// naks it with a delay once the router nacked it, and leaves it to the server's AckWait
// otherwise. It calls done as soon as the handler is over (the commit is what the next
// message of the invoice must follow), or once AckWait passed, when the server
// redelivers msg anyway and its successors must not wait forever.
//
// The ack is a plain one, not waiting for the server's confirmation: the commit already
// made the message a duplicate (its id is in its invoice's applied ids), so an ack that gets
// lost only costs a redelivery that is deduplicated. Close flushes the acks still
// buffered in the connection before it returns.
func (s *subscriber) settle(jm jetstream.Msg, msg *message.Message, done func()) {
	timer := time.NewTimer(s.set.AckWait)
	defer timer.Stop()
	select {
	case <-msg.Acked():
		done()
		if err := jm.Ack(); err != nil {
			// the commit is durable: a redelivery will be a duplicate
			s.log.Warn("ack failed; the message will be redelivered and deduplicated", "msg_id", msg.UUID, "err", err)
		}
	case <-msg.Nacked():
		done()
		delay := s.set.NakDelay(deliveries(msg))
		if err := jm.NakWithDelay(delay); err != nil {
			s.log.Warn("nak failed", "msg_id", msg.UUID, "err", err)
		}
	case <-timer.C:
		done()
		s.log.Warn("handler took longer than the ack wait", "msg_id", msg.UUID)
	}
}

// toWatermill copies a JetStream message into a Watermill one: headers as metadata
// under their names (first value), plus subject, stream sequence and delivery count.
func toWatermill(jm jetstream.Msg) *message.Message {
	h := jm.Headers()
	uuid := h.Get(nats.MsgIdHdr) // unique in the stream: the inbox deduplicates by it
	md := make(message.Metadata, len(h)+5)
	for k, v := range h {
		if len(v) > 0 && k != nats.MsgIdHdr {
			md.Set(k, v[0])
		}
	}
	md.Set(mdSubject, jm.Subject())
	md.Set(mdMsgID, h.Get(nats.MsgIdHdr))
	if meta, err := jm.Metadata(); err == nil {
		md.Set(mdStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
		md.Set(mdDelivered, strconv.FormatUint(meta.NumDelivered, 10))
		if uuid == "" {
			uuid = natsbus.StreamInbox + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
		}
	}
	if id := h.Get(inbox.HeaderRequestID); id != "" {
		md.Set(middleware.CorrelationIDMetadataKey, id)
	}
	msg := message.NewMessage(uuid, jm.Data())
	msg.Metadata = md
	return msg
}

func deliveries(msg *message.Message) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(mdDelivered), 10, 64)
	return n
}

// consumers returns the consumers subscribed so far, by shard.
func (s *subscriber) consumers() map[int]jetstream.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]jetstream.Consumer, len(s.consumer))
	for k, v := range s.consumer {
		out[k] = v
	}
	return out
}

// Close stops every shard and waits (bounded) for the messages in flight to settle.
func (s *subscriber) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.closeMu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.set.AckWait + 5*time.Second):
		return errors.New("inbox subscriber: messages still in flight at close")
	}
	// The acks and naks are buffered in the connection: make sure nats-server has them
	// before the caller drains it (or the process exits), so that the next run is not
	// handed them again. A failed flush (or none, NATS being away) costs only
	// redeliveries, deduplicated.
	if nc := s.js.Conn(); nc.IsConnected() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			s.log.Warn("flush of the last acks failed; their messages will be redelivered and deduplicated", "err", err)
		}
	}
	return nil
}
