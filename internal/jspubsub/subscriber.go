package jspubsub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed is returned by Subscribe and Publish once Close was called.
var ErrClosed = errors.New("jspubsub: closed")

// Subscriber is a Watermill message.Subscriber over durable JetStream pull consumers,
// one per topic (SubscriberConfig.Consumer). It acks a message once the router acked it,
// naks it with SubscriberConfig.NakDelay once the router nacked it, and leaves it to the
// server's AckWait otherwise. Each message's context ends once it is settled, or when
// its subscription ends.
type Subscriber struct {
	js       jetstream.JetStream
	cfg      SubscriberConfig
	closing  chan struct{}
	closeMu  sync.Mutex
	closed   bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	consumer map[string]jetstream.Consumer
	pumps    map[string]*pump              // the subscription of each consumer
	prepared map[string]jetstream.Consumer // made by Prepare, for the next Subscribe of its topic
	// takingOver holds the start sequence of each durable a takeover deleted and has
	// not made again yet
	takingOver map[string]uint64
	// slots holds a token for each message handed out and not settled over every
	// subscription (MaxInFlightTotal); nil: no such bound.
	slots chan struct{}
}

// NewSubscriber returns a Subscriber on js. It does not own js's connection: Close
// leaves it open.
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig) (*Subscriber, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Subscriber{js: js, cfg: cfg, closing: make(chan struct{}), consumer: map[string]jetstream.Consumer{},
		pumps: map[string]*pump{}, prepared: map[string]jetstream.Consumer{}, takingOver: map[string]uint64{}}
	if cfg.MaxInFlightTotal > 0 {
		s.slots = make(chan struct{}, cfg.MaxInFlightTotal)
	}
	return s, nil
}

// The reasons OnTakeover is given.
const (
	TakeoverStart        = "start"         // a subscription starts on a consumer holding unacked messages
	TakeoverLostDelivery = "lost_delivery" // a running subscription saw a delivery skipped
	TakeoverResumed      = "resumed"       // a running subscription's consumer was deleted and made again under it
	TakeoverRemade       = "remade"        // a running subscription's consumer was deleted, and nobody made it again within RemakeAfter
)

// ensure creates or updates the durable consumer c. The subscriber never gives up on a
// message (MaxDeliver -1): the handler decides when it is hopeless (the worker: into its
// DLQ), never the server, silently. With Takeover, a consumer that holds messages
// delivered and not acked is made again from its ack floor (takeover).
// reason is what a takeover is reported with (OnTakeover).
func (s *Subscriber) ensure(ctx context.Context, c Consumer, reason string) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   c.Description,
		FilterSubject: c.Filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.cfg.MaxAckPending,
	}
	if !s.cfg.Takeover {
		cons, err := s.js.Consumer(ctx, s.cfg.Stream, c.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			if c.From > 0 {
				cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.From
				return s.js.CreateConsumer(ctx, s.cfg.Stream, cfg)
			}
		case err != nil:
			return nil, err
		default:
			// the deliver policy of a consumer cannot change: keep the one it was made with
			cached := cons.CachedInfo()
			cfg.DeliverPolicy, cfg.OptStartSeq = cached.Config.DeliverPolicy, cached.Config.OptStartSeq
		}
	}
	if s.cfg.Takeover {
		cons, err := s.js.Consumer(ctx, s.cfg.Stream, c.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			// a takeover that deleted the consumer and could not make it again: make it
			// from where that takeover meant to, never from the stream's first message
			if from := s.unfinished(c.Durable); from > 0 {
				return s.createFrom(ctx, cfg, from, reason)
			}
		case err != nil:
			return nil, err
		default:
			s.mu.Lock()
			delete(s.takingOver, c.Durable) // a takeover's delete that failed left it there
			s.mu.Unlock()
			info, err := cons.Info(ctx)
			if err != nil {
				return nil, err
			}
			if info.NumAckPending > 0 {
				return s.takeover(ctx, cfg, info, reason)
			}
			// the deliver policy of a consumer cannot change: keep the one it was made with
			cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		}
	}
	return s.js.CreateOrUpdateConsumer(ctx, s.cfg.Stream, cfg)
}

// attemptTimeout bounds one try of ensure.
var attemptTimeout = 10 * time.Second

// ensureRetrying is ensure, again while its error is transient.
func (s *Subscriber) ensureRetrying(ctx context.Context, c Consumer, reason string) (jetstream.Consumer, error) {
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		cons, err := s.ensure(actx, c, reason)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return cons, err
		}
		s.cfg.Logger.Warn("JetStream unavailable; retrying the consumer", "consumer", c.Durable, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil, err
		case <-s.closing:
			return nil, ErrClosed
		case <-time.After(backoff):
		}
	}
}

// transient says whether err is JetStream being unavailable for now rather than a
// refusal that will not change (a permission, a bad configuration).
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 408 || apiErr.Code == 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

// takeover makes the consumer of info again, delivering from the first message after
// its ack floor: the messages a previous reader left unacked come at once, in stream
// order, before anything newer. (JetStream would redeliver them one by one as their
// AckWait ran out, after newer messages of the same key.)
//
// The delete and the create are two requests: the start sequence is noted before the
// delete, and both run to their own timeout whatever ends ctx meanwhile (a stopping
// subscription), so that a consumer deleted is made again from there, by this call or,
// when the create failed, by the next ensure of the consumer; never from the stream's
// first message, which the default deliver policy would replay.
func (s *Subscriber) takeover(ctx context.Context, cfg jetstream.ConsumerConfig, info *jetstream.ConsumerInfo, reason string) (jetstream.Consumer, error) {
	from := info.AckFloor.Stream + 1
	s.cfg.Logger.Info("taking over a consumer with unacked messages: delivering again from its ack floor, in order",
		"consumer", cfg.Durable, "ack_pending", info.NumAckPending, "ack_floor", info.AckFloor.Stream, "delivered", info.Delivered.Stream)
	s.mu.Lock()
	s.takingOver[cfg.Durable] = from
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	defer cancel()
	if err := s.js.DeleteConsumer(ctx, s.cfg.Stream, cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("take over consumer %s: %w", cfg.Durable, err)
	}
	return s.createFrom(ctx, cfg, from, reason)
}

// createFrom makes the consumer of cfg, deleted by a takeover, delivering from stream
// sequence from, and notes the takeover finished.
func (s *Subscriber) createFrom(ctx context.Context, cfg jetstream.ConsumerConfig, from uint64, reason string) (jetstream.Consumer, error) {
	cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	cons, err := s.js.CreateConsumer(ctx, s.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("take over consumer %s from stream sequence %d: %w", cfg.Durable, from, err)
	}
	s.finished(cfg.Durable, reason)
	return cons, nil
}

// unfinished is the start sequence of durable's takeover that has not made its consumer
// again (0: none).
func (s *Subscriber) unfinished(durable string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takingOver[durable]
}

// finished notes that durable's takeover made its consumer again.
func (s *Subscriber) finished(durable, reason string) {
	s.mu.Lock()
	delete(s.takingOver, durable)
	s.mu.Unlock()
	if s.cfg.OnTakeover != nil {
		s.cfg.OnTakeover(reason)
	}
}

// Subscribe creates or updates the durable consumer of topic and returns its messages,
// from the first one the consumer has not had acked. The channel is closed when ctx
// ends or the Subscriber is closed, once every message it handed out was settled (acked,
// nacked, or its AckWait passed): a handler stopped has nothing left in flight. It returns the error of SubscriberConfig.Consumer
// for a topic it refuses, ErrClosed after Close, and NATS's errors. While JetStream is
// unavailable for a moment (a cluster electing a leader, a node restarting, NATS away:
// a 503, a timeout, no responders) it keeps trying, backing off up to 5 s, until ctx
// ends or the Subscriber is closed: a router must not stop for good on a blip.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	c, err := s.consumerOf(topic)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	cons := s.prepared[topic]
	delete(s.prepared, topic)
	s.mu.Unlock()
	if cons == nil {
		if cons, err = s.ensureRetrying(ctx, c, TakeoverStart); err != nil {
			return nil, fmt.Errorf("jspubsub: consumer %s of topic %q: %w", c.Durable, topic, err)
		}
	}
	s.closeMu.Lock() // Close must not wait for s.wg before the pump is counted in it
	defer s.closeMu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make(chan *message.Message)
	p := s.newPump(ctx, topic, c, out)
	if err := p.consume(cons); err != nil {
		p.cancel()
		return nil, fmt.Errorf("jspubsub: consume topic %q: %w", topic, err)
	}
	s.mu.Lock()
	s.consumer[topic] = cons
	s.pumps[topic] = p
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p.run()
	}()
	return out, nil
}

// Prepare creates or updates the durable consumer of topic (taking it over, with
// Takeover) as Subscribe would, and leaves it for the next Subscribe of topic, which
// then only starts reading. Subscribe makes one consumer at a time where a router starts
// its handlers; Prepare lets a caller make many at once before. Whoever reads the
// consumer between the two must be no one but that Subscribe.
func (s *Subscriber) Prepare(ctx context.Context, topic string) error {
	c, err := s.consumerOf(topic)
	if err != nil {
		return err
	}
	cons, err := s.ensureRetrying(ctx, c, TakeoverStart)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.prepared, topic) // never an older one's, made before what failed now
		return fmt.Errorf("jspubsub: consumer %s of topic %q: %w", c.Durable, topic, err)
	}
	s.prepared[topic] = cons
	return nil
}

// consumerOf is the consumer SubscriberConfig.Consumer names for topic.
func (s *Subscriber) consumerOf(topic string) (Consumer, error) {
	c, err := s.cfg.Consumer(topic)
	if err != nil {
		return Consumer{}, fmt.Errorf("jspubsub: topic %q: %w", topic, err)
	}
	if c.Durable == "" || c.Filter == "" {
		return Consumer{}, fmt.Errorf("jspubsub: topic %q: a consumer needs a durable name and a filter", topic)
	}
	return c, nil
}

// forget drops topic's consumer from Consumers once its subscription ended (unless
// topic was subscribed again since).
func (s *Subscriber) forget(topic string, p *pump) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pumps[topic] == p {
		delete(s.consumer, topic)
		delete(s.pumps, topic)
	}
}

// Consumers returns the consumers of the subscriptions running, by topic.
func (s *Subscriber) Consumers() map[string]jetstream.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]jetstream.Consumer, len(s.consumer))
	for k, v := range s.consumer {
		out[k] = v
	}
	return out
}

// pump moves the messages of one subscription to the router, at most MaxInFlight
// unsettled. Each message gets a goroutine that waits until the message before it with
// the same order key has been handled, so one slow key never holds up the others.
type pump struct {
	s       *Subscriber
	topic   string
	c       Consumer // what it reads, for a takeover again (Takeover)
	out     chan<- *message.Message
	ctx     context.Context
	cancel  context.CancelFunc // first at the end: the goroutines still waiting for their turn nak and return
	slots   chan struct{}
	turns   *turns
	gaps    gapWatch // only take reads it, for the current Consume, which calls it for one message at a time
	handing sync.WaitGroup
	// retake asks run to take the consumer over again: a Takeover subscription saw a
	// delivery skipped (cap 1)
	retake  chan struct{}
	mu      sync.Mutex
	cc      jetstream.ConsumeContext // the current Consume
	gen     uint64                   // the current Consume's; take drops the messages of an older one
	skipped skipped                  // the last retake's cause, for its log
}

// skipped is what a subscription saw skip: the last consumer sequence before, and the
// delivery after the gap.
type skipped struct {
	last uint64
	msg  jetstream.Msg
}

// attrs are skipped's log attributes.
func (k skipped) attrs() []any {
	attrs := []any{"last_consumer_seq", k.last}
	if meta, err := k.msg.Metadata(); err == nil {
		attrs = append(attrs, "consumer_seq", meta.Sequence.Consumer, "stream_seq", meta.Sequence.Stream, "delivered", meta.NumDelivered)
	}
	return attrs
}

func (s *Subscriber) newPump(ctx context.Context, topic string, c Consumer, out chan<- *message.Message) *pump {
	ctx, cancel := context.WithCancel(ctx)
	return &pump{s: s, topic: topic, c: c, out: out, ctx: ctx, cancel: cancel,
		slots: make(chan struct{}, s.cfg.MaxInFlight), turns: newTurns(2 * s.cfg.MaxInFlight), retake: make(chan struct{}, 1)}
}

// consume starts reading cons into take, as the pump's current Consume.
//
// Consume, not Messages: nats.go's iterator buffers deliveries in a channel of
// PullMaxMessages, which its pull requests' heartbeats share; with every slot taken
// nobody reads it, the heartbeats fill it and what the server sends next is dropped
// ("slow consumer"), to come again only after AckWait. Consume's subscription buffers
// without such a bound, and while its callback waits for a slot it asks for nothing
// more and watches no heartbeat.
func (p *pump) consume(cons jetstream.Consumer) error {
	s := p.s
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	// A Takeover subscription is its consumer's only reader: the consumer's next
	// delivery is the one after those it had made when it was read, and one skipped
	// before the first that arrives is lost as well as one skipped later.
	p.gaps = gapWatch{}
	if info := cons.CachedInfo(); s.cfg.Takeover && info != nil {
		p.gaps = gapWatch{consumer: info.Delivered.Consumer, known: true}
	}
	cc, err := cons.Consume(func(jm jetstream.Msg) { p.take(gen, jm) }, jetstream.PullMaxMessages(s.cfg.MaxInFlight),
		jetstream.PullHeartbeat(s.cfg.PullHeartbeat), jetstream.PullExpiry(max(time.Second, 10*s.cfg.PullHeartbeat)),
		jetstream.ConsumeErrHandler(p.consumeError))
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cc = cc
	p.mu.Unlock()
	return nil
}

// current is the current Consume.
func (p *pump) current() jetstream.ConsumeContext {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cc
}

// stale says whether gen is no longer the current Consume's.
func (p *pump) stale(gen uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return gen != p.gen
}

// run waits for the end (the caller's context or Close), drains the subscription (what
// is buffered comes to take, which naks it) and closes out once every message handed
// out settled. Meanwhile it takes the consumer over again when take asks.
func (p *pump) run() {
	for running := true; running; {
		select {
		case <-p.ctx.Done():
			running = false
		case <-p.s.closing:
			running = false
		case <-p.current().Closed(): // the connection closed, or the consumer was deleted
			running = p.s.cfg.Takeover && p.ctx.Err() == nil && !p.s.isClosed() && !p.s.js.Conn().IsClosed() && p.readAgain()
		case <-p.retake:
			running = p.ctx.Err() == nil && !p.s.isClosed() && p.takeOverAgain(TakeoverLostDelivery)
		}
	}
	p.cancel()
	cc := p.current()
	cc.Drain()
	<-cc.Closed()
	// nobody may send on out once it is closed; and a router that waits for the channel
	// to close (a handler stopped) knows that every message it got was acked or nacked
	p.handing.Wait()
	p.s.forget(p.topic, p)
	close(p.out)
}

// readAgain reads the consumer again after its Consume ended while the subscription
// and the connection live: the consumer was deleted under it, by another reader's
// takeover (a worker that has not yet seen its lease lost), which makes it again from
// its floor. It waits for the consumer to be there again, backing off up to 30 s, rather
// than make it afresh from the stream's first message; after RemakeAfter (deleted by an
// operator, say: nobody makes it again) it makes it itself. It reports false when the
// subscription ends first.
func (p *pump) readAgain() bool {
	s := p.s
	deadline := time.Now().Add(s.cfg.RemakeAfter)
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 30*time.Second) {
		if time.Now().After(deadline) {
			s.cfg.Logger.Error("the subscription's consumer is gone and nobody made it again: making it, from the stream's first message of its filter "+
				"(what was applied comes again, as duplicates)", "consumer", p.c.Durable, "topic", p.topic, "waited", s.cfg.RemakeAfter)
			if !p.takeOverAgain(TakeoverRemade) {
				return false
			}
			if s.cfg.OnTakeover != nil {
				s.cfg.OnTakeover(TakeoverRemade)
			}
			return true
		}
		ctx, cancel := context.WithTimeout(p.ctx, attemptTimeout)
		_, err := s.js.Consumer(ctx, s.cfg.Stream, p.c.Durable)
		cancel()
		if err == nil {
			s.cfg.Logger.Warn("the consumer was deleted under its subscription and made again: reading it again",
				"consumer", p.c.Durable, "topic", p.topic)
			return p.takeOverAgain(TakeoverResumed)
		}
		s.cfg.Logger.Warn("the subscription's consumer is gone: waiting for it to be made again", "consumer", p.c.Durable,
			"topic", p.topic, "err", err, "backoff", backoff)
		if !p.wait(min(backoff, max(time.Until(deadline), time.Millisecond))) {
			return false
		}
	}
}

// wait waits d, and reports false when the subscription ends first.
func (p *pump) wait(d time.Duration) bool {
	select {
	case <-p.ctx.Done():
		return false
	case <-p.s.closing:
		return false
	case <-time.After(d):
		return true
	}
}

// takeOverAgain stops the current Consume, whose deliveries skipped one that never
// arrived, takes the consumer over (ensure: made again from its ack floor, so what was
// delivered after the floor, the lost one first, comes again in stream order) and
// reads it again. The messages handed out meanwhile keep their turns: their copies wait
// for them, and the handler takes the copies for duplicates. It reports false, with the
// subscription to end, when the consumer cannot be had again before ctx ends.
func (p *pump) takeOverAgain(reason string) bool {
	s := p.s
	p.current().Stop()
	if reason == TakeoverLostDelivery {
		p.mu.Lock()
		cause := p.skipped
		p.mu.Unlock()
		s.cfg.Logger.Warn("a delivery of the consumer never arrived: taking the consumer over again from its ack floor, in stream order",
			append([]any{"consumer", p.c.Durable, "topic", p.topic}, cause.attrs()...)...)
	}
	// Any error is tried again while the subscription lives (ensureRetrying gives up on
	// those it takes for lasting): ended, it would leave its shard owned and unread.
	var cons jetstream.Consumer
	for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
		var err error
		if cons, err = s.ensureRetrying(p.ctx, p.c, reason); err == nil {
			if err = p.consume(cons); err == nil {
				break
			}
		}
		if p.ctx.Err() != nil || s.isClosed() {
			return false
		}
		s.cfg.Logger.Error("consumer not taken over again; trying again", "consumer", p.c.Durable, "topic", p.topic, "err", err, "backoff", backoff)
		if !p.wait(backoff) {
			return false
		}
	}
	s.mu.Lock()
	if s.pumps[p.topic] == p {
		s.consumer[p.topic] = cons
	}
	s.mu.Unlock()
	return true
}

// consumeError logs what Consume reports but a missing heartbeat, which it mends itself
// (a new pull request).
func (p *pump) consumeError(_ jetstream.ConsumeContext, err error) {
	if errors.Is(err, jetstream.ErrNoHeartbeat) {
		return
	}
	p.s.cfg.Logger.Warn("jetstream consumer", "topic", p.topic, "err", err)
}

// take hands jm, delivered by the Consume of generation gen, out once a slot is free.
// Consume calls it for one message at a time.
func (p *pump) take(gen uint64, jm jetstream.Msg) {
	s, ctx := p.s, p.ctx
	if p.stale(gen) {
		return // the consumer is being taken over again: it delivers jm again
	}
	if s.cfg.OnGap != nil || s.cfg.Takeover {
		last := p.gaps.consumer
		if gap, before := p.gaps.see(jm); gap {
			if s.cfg.OnGap != nil {
				s.cfg.OnGap(before)
			}
			if s.cfg.Takeover {
				// jm may be the next message of the lost one's key: hand out nothing more of
				// this Consume, and have the consumer deliver again from its ack floor
				p.mu.Lock()
				p.gen++
				p.skipped = skipped{last: last, msg: jm}
				p.mu.Unlock()
				p.retake <- struct{}{} // never blocks: one per generation, and run takes it before the next
				return
			}
		}
	}
	if ctx.Err() != nil {
		jm.Nak() // fetched but not handed out: let another run have it now
		return
	}
	// A message waiting for its turn holds a slot: memory stays bounded, and a burst
	// for one key is handed out serially, as its order demands. The subscription's slot
	// first, then the subscriber's (always in that order, and a message that holds both
	// waits only for messages before it, which hold theirs: no cycle).
	if !p.takeSlot(ctx) {
		jm.Nak()
		return
	}
	msg := toWatermill(jm, s.cfg.Stream, s.cfg.Correlation)
	mctx, settled := context.WithCancel(ctx)
	msg.SetContext(mctx)
	var key string
	if s.cfg.OrderKey != nil {
		key = s.cfg.OrderKey(msg)
	}
	prev, done := p.turns.take(key)
	s.wg.Add(1)
	p.handing.Add(1)
	go func() {
		defer s.wg.Done()
		defer p.handing.Done() // last: the channel closes once every message settled
		defer p.freeSlot()
		defer settled()
		if !handOut(ctx, jm, msg, prev, p.out) {
			done()
			return
		}
		s.settle(ctx, jm, msg, key != "", p.out, done)
	}()
}

// takeSlot waits for a free slot of the subscription, then of the subscriber (when it
// has a bound), and reports false, holding none, when ctx ends first.
func (p *pump) takeSlot(ctx context.Context) bool {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if p.s.slots == nil {
		return true
	}
	select {
	case p.s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		<-p.slots
		return false
	}
}

// freeSlot gives back what takeSlot took.
func (p *pump) freeSlot() {
	if p.s.slots != nil {
		<-p.s.slots
	}
	<-p.slots
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

// settle acks the JetStream message once the router acked it (the handler committed),
// and calls done as soon as the handler is over (the commit is what the next message of
// the key must follow). Without RetryInTurn it also calls done once AckWait passed, when
// the server redelivers msg anyway; with RetryInTurn the handler keeps the turn while it
// works, however long, and the server is told it is in progress.
//
// A nacked message is naked with NakDelay's delay; with RetryInTurn (or NackInTurn), a nacked message
// with an order key is delivered again here instead, after that delay and still in its
// turn (again): naked to the server, it would come back after the next messages of its key
// had been handled, and an invoice's messages would be applied out of stream order (a
// changelog write refused while a cluster elects a leader did that).
//
// The ack is a plain one, not waiting for the server's confirmation: the handler made
// the message a duplicate already (the worker: its id is in its invoice's applied ids), so
// an ack that gets lost only costs a redelivery that is deduplicated. Close flushes the
// acks still buffered in the connection before it returns.
func (s *Subscriber) settle(ctx context.Context, jm jetstream.Msg, msg *message.Message, keyed bool, out chan<- *message.Message, done func()) {
	held := 0
	for {
		timer := time.NewTimer(s.cfg.AckWait)
		select {
		case <-msg.Acked():
			timer.Stop()
			done()
			if err := jm.Ack(); err != nil {
				s.cfg.Logger.Warn("ack failed; the message will be redelivered", "msg_id", msg.UUID, "err", err)
			}
			return
		case <-msg.Nacked():
			timer.Stop()
			delay := s.cfg.NakDelay(Deliveries(msg))
			if keyed && (s.cfg.RetryInTurn || msg.Metadata.Get(metadataInTurn) != "") {
				if next := s.again(ctx, jm, msg, delay, out); next != nil {
					msg = next
					continue
				}
				delay = 0 // stopping: the next run takes it over first, from the ack floor
			}
			done()
			if err := jm.NakWithDelay(delay); err != nil {
				s.cfg.Logger.Warn("nak failed", "msg_id", msg.UUID, "err", err)
			}
			return
		case <-timer.C:
			// RetryInTurn: a handler still at work (waiting out a NATS failover for its
			// changelog write, or for its events' PubAcks while PAYMENT_EVENTS is away)
			// keeps its turn for as long as it works, the server told it is in progress:
			// releasing the turn would let the key's next message be applied before this
			// one commits (a race-built chaos run saw that after five ack waits). Only a
			// stopping subscriber lets go; its successors are naked then anyway.
			if keyed && s.cfg.RetryInTurn && ctx.Err() == nil {
				held++
				if held == holdTurns {
					s.cfg.Logger.Warn("handler still at work after several ack waits; the next messages of its key wait for it",
						"msg_id", msg.UUID, "ack_waits", held)
				}
				_ = jm.InProgress()
				continue
			}
			done()
			s.cfg.Logger.Warn("handler took longer than the ack wait", "msg_id", msg.UUID)
			return
		}
	}
}

// holdTurns is how many ack waits a RetryInTurn handler may take before a warning says
// that its key's next messages are waiting for it.
const holdTurns = 4

// again hands msg to the router once more after delay, as its next delivery (its
// delivery count one up), telling the server meanwhile that it is in progress so that
// the server does not redeliver it too. It returns nil when ctx ends first.
func (s *Subscriber) again(ctx context.Context, jm jetstream.Msg, msg *message.Message, delay time.Duration, out chan<- *message.Message) *message.Message {
	wait := time.NewTimer(delay)
	defer wait.Stop()
	tick := time.NewTicker(max(s.cfg.AckWait/3, time.Millisecond))
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			_ = jm.InProgress()
		case <-wait.C:
			waiting = false
		}
	}
	_ = jm.InProgress() // the handler gets a whole AckWait again
	next := msg.Copy()
	next.Metadata.Set(MetadataDelivered, strconv.FormatUint(Deliveries(msg)+1, 10))
	delete(next.Metadata, metadataInTurn) // its handler says again how the next nack goes
	next.SetContext(msg.Context())
	select {
	case out <- next:
		return next
	case <-ctx.Done():
		return nil
	}
}

// isClosed says whether Close was called.
func (s *Subscriber) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Close stops every subscription and waits (for at most AckWait and 5s) for the
// messages handed out to settle, then flushes the connection so that nats-server has
// their acks and naks. It returns an error when messages were still unsettled. It is
// safe to call more than once.
func (s *Subscriber) Close() error {
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
	case <-time.After(s.cfg.AckWait + 5*time.Second):
		return errors.New("jspubsub: messages still in flight at close")
	}
	// The acks and naks are buffered in the connection: make sure nats-server has them
	// before the caller drains it (or the process exits), so that the next run is not
	// handed them again. A failed flush (or none, NATS being away) costs only
	// redeliveries.
	if nc := s.js.Conn(); nc.IsConnected() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			s.cfg.Logger.Warn("flush of the last acks failed; their messages will be redelivered", "err", err)
		}
	}
	return nil
}

// gapWatch follows a subscription's consumer sequences (one per delivery, redeliveries
// included) to tell when a delivery never arrived (SubscriberConfig.OnGap, Takeover).
type gapWatch struct {
	consumer uint64 // the last consumer sequence seen (known: or the consumer had delivered)
	stream   uint64 // the highest stream sequence of a first delivery seen
	// known: consumer is the consumer's own count when the subscription started to read
	// it (its only reader), so the first delivery is checked against it too
	known bool
}

// see takes in the next message; gap says that deliveries were skipped before it, and
// before is the highest stream sequence of a first delivery seen until then. A
// consumer sequence that goes back (the consumer made again, a leader that had not
// replicated the last deliveries) starts over and is no gap.
func (g *gapWatch) see(jm jetstream.Msg) (gap bool, before uint64) {
	meta, err := jm.Metadata()
	if err != nil {
		return false, 0
	}
	gap, before = (g.consumer > 0 || g.known) && meta.Sequence.Consumer > g.consumer+1, g.stream
	g.consumer, g.known = meta.Sequence.Consumer, false
	if meta.NumDelivered == 1 {
		g.stream = max(g.stream, meta.Sequence.Stream)
	}
	return gap, before
}
