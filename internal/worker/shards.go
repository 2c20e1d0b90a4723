package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/jspubsub"
)

// shardOwner runs this worker's shards on the router: it keeps the worker a member,
// takes the shards the assignment gives it once their leases are free (restoring each
// before its consumer starts), and gives back those it no longer wins once their
// messages in flight are committed and acked. A lease found taken by another worker
// stops that shard's consumer at once; the worker and its other shards go on.
type shardOwner struct {
	w      *service
	ls     *leases
	router *message.Router
	sub    *jspubsub.Subscriber
	handle message.NoPublishHandlerFunc
	// static: WORKER_SHARDS named the shards (an operator's override), whoever the members;
	// nil: the assignment of the live members decides.
	static []int
	// maxMoves bounds the shards given back per step (a step every lease/3), so a join
	// moves the shards a few at a time and the others keep flowing.
	maxMoves int

	mu       sync.Mutex
	running  map[int]*message.Handler
	starting sync.Mutex // held while a take starts its shard's consumer (startConsumer)
	// stepped: a first step ended, in which the worker took every shard it won that no
	// other worker held (readiness waits for it: a lone worker serves reads of all
	// shards once ready, not 503s while it takes them).
	stepped atomic.Bool
}

func newShardOwner(w *service, ls *leases, router *message.Router, sub *jspubsub.Subscriber, handle message.NoPublishHandlerFunc) *shardOwner {
	return &shardOwner{w: w, ls: ls, router: router, sub: sub, handle: handle, static: w.cfg.OwnShards,
		maxMoves: max(1, w.cfg.Shards/8), running: map[int]*message.Handler{}}
}

// owns says whether the worker consumes shard s now.
func (o *shardOwner) owns(s int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.running[s]
	return ok
}

// owned returns the shards the worker consumes now, in order.
func (o *shardOwner) owned() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(maps.Keys(o.running))
}

// renew renews the membership and the leases every lease/3 until ctx ends; a lease
// found taken stops its shard's consumer at once (the step after reaps it).
func (o *shardOwner) renew(ctx context.Context, kick func()) {
	t := time.NewTicker(o.w.cfg.ShardLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lost := o.ls.renewAll(ctx)
		for _, s := range lost {
			o.mu.Lock()
			h := o.running[s]
			o.mu.Unlock()
			if h != nil {
				h.Stop() // cancels its subscription: nothing more is handed out
			}
		}
		if len(lost) > 0 {
			kick()
		}
	}
}

// run steps every lease/3 (and when kicked) until ctx ends. It returns an error only
// when a consumer cannot be started at all (a refusal that will not change).
func (o *shardOwner) run(ctx context.Context, kicked <-chan struct{}) error {
	t := time.NewTicker(o.w.cfg.ShardLease / 3)
	defer t.Stop()
	for {
		if err := o.step(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-kicked:
		}
	}
}

// target is the shards this worker should own now.
func (o *shardOwner) target(ctx context.Context) ([]int, error) {
	if o.static != nil {
		return o.static, nil
	}
	members, err := o.ls.members(ctx)
	if err != nil {
		return nil, err
	}
	o.w.metrics.Members.Set(float64(len(members)))
	return shardsOf(assign(o.w.cfg.Shards, members), o.ls.me.Owner), nil
}

// step brings the shards owned one step closer to the target: it reaps the consumers
// of lost leases, gives back up to maxMoves shards it no longer wins, and takes every
// shard it wins whose lease is free.
func (o *shardOwner) step(ctx context.Context) error {
	o.reapLost()
	want, err := o.target(ctx)
	if err != nil {
		if ctx.Err() == nil {
			o.w.log.Warn("list the workers; will retry", "err", err)
		}
		return nil
	}
	owned := o.owned()
	gives := 0
	for _, s := range owned {
		if !slices.Contains(want, s) && gives < o.maxMoves && ctx.Err() == nil {
			o.give(ctx, s)
			gives++
		}
	}
	waiting, err := o.takeAll(ctx, want)
	if err != nil {
		return err
	}
	o.setWaiting(waiting)
	if ctx.Err() == nil {
		o.stepped.Store(true)
	}
	return nil
}

// takeParallel bounds the shards taken at once. A take is a few NATS round trips (the
// lease, the restore's consumer, the shard's consumer) and a bbolt write; one after the
// other, a lone worker took its 64 shards in 4 s on one nats-server with nothing to
// restore, and a failover waited for each shard of a lost worker in turn.
const takeParallel = 8

// takeAll takes the shards of want not owned yet, takeParallel at a time. It returns
// the last ErrShardOwned met (a shard still held by another worker), and an error only
// when a consumer could not be started at all.
func (o *shardOwner) takeAll(ctx context.Context, want []int) (waiting, fatal error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, takeParallel)
	for _, s := range want {
		if o.owns(s) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		mu.Lock()
		stop := fatal != nil || ctx.Err() != nil
		mu.Unlock()
		if stop {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := o.take(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrShardOwned):
				waiting = err
			case errors.Is(err, errNoConsumer):
				fatal = err
			case err != nil && ctx.Err() == nil:
				o.w.log.Warn("take a shard; will retry", "shard", s, "err", err)
			}
		})
	}
	wg.Wait()
	return waiting, fatal
}

// setWaiting says in /readyz why a worker with WORKER_SHARDS is not consuming all of
// them (the owner of one); with the assignment, waiting for a shard the previous owner
// has not given back yet is the normal course of a move, not a conflict.
func (o *shardOwner) setWaiting(err error) {
	if o.static == nil {
		return
	}
	if err == nil {
		o.w.shardWait.Store("")
		return
	}
	if why, _ := o.w.shardWait.Load().(string); why == "" {
		o.w.log.Error("refusing to consume: a shard is owned by another worker; waiting", "err", err)
	}
	o.w.shardWait.Store(err.Error())
}

// fence is the router's outermost middleware: a message of a shard whose lease this
// worker no longer holds is not applied but nacked (the shard's new owner takes its
// consumer over and gets it), however late its consumer stops. It runs before the
// poison queue and the retries, so a fenced message never goes to the DLQ.
func (w *service) fence(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		o := w.owner.Load()
		if s, err := shardOfTopic(message.SubscribeTopicFromCtx(msg.Context())); err == nil && o != nil && !o.ls.holds(s) {
			return nil, fmt.Errorf("%w: shard %d: message %s left to its new owner", errLeaseLost, s, msg.UUID)
		}
		return h(msg)
	}
}

// stoppable is a subscriber whose subscription cancelled while it is being made is an
// ended one (a closed channel), not an error: Watermill keeps a handler whose Subscribe
// failed as one still to start, and its router's Close would wait for it in vain.
type stoppable struct{ message.Subscriber }

func (s stoppable) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ch, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil && ctx.Err() != nil {
		c := make(chan *message.Message)
		close(c)
		return c, nil
	}
	return ch, err
}

// errNoConsumer: a shard's consumer could not be started (the router refused it).
var errNoConsumer = errors.New("shard consumer")

// take takes shard s: its lease, its restore, then its consumer on the router.
func (o *shardOwner) take(ctx context.Context, s int) error {
	start := time.Now()
	if err := o.ls.take(ctx, s); err != nil {
		if errors.Is(err, ErrShardOwned) && o.static != nil {
			o.w.metrics.ShardConflicts.Inc()
		}
		return err
	}
	if err := o.w.restoreShard(ctx, s); err != nil {
		o.ls.release(context.WithoutCancel(ctx), []int{s})
		return fmt.Errorf("restore shard %d: %w", s, err)
	}
	h, err := o.startConsumer(ctx, s)
	if err != nil {
		o.ls.release(context.WithoutCancel(ctx), []int{s})
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w %d: %w", errNoConsumer, s, err)
	}
	o.mu.Lock() // started: from now on the renewer may stop it
	o.running[s] = h
	o.mu.Unlock()
	if !o.ls.holds(s) { // lost while it started: the renewer found no handler to stop
		h.Stop()
	}
	o.w.metrics.ShardStart.Observe(time.Since(start).Seconds())
	o.w.metrics.ShardMoves.WithLabelValues("gained").Inc()
	o.w.metrics.ShardsOwned.Set(float64(len(o.owned())))
	o.w.log.Info("shard taken", "shard", s, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// startConsumer starts shard s's consumer on the router. The takes running at once
// add theirs to the router one at a time: RunHandlers starts every handler added and
// not started, and its error must be this shard's.
func (o *shardOwner) startConsumer(ctx context.Context, s int) (*message.Handler, error) {
	// made outside the lock, at once with the other takes' (two JetStream API round
	// trips, the one slow part of a start); RunHandlers' Subscribe then only reads it
	if err := o.sub.Prepare(ctx, inbox.ShardFilter(s)); err != nil {
		return nil, err
	}
	o.starting.Lock()
	defer o.starting.Unlock()
	h := o.router.AddConsumerHandler("shard-"+itoa(s), inbox.ShardFilter(s), stoppable{o.sub}, o.handle)
	err := o.router.RunHandlers(ctx)
	if err == nil && ctx.Err() != nil { // stopping: its subscription ended at once
		<-h.Stopped()
		err = ctx.Err()
	}
	return h, err
}

// give gives shard s back: it stops its consumer, waits until the messages it handed
// out are committed and acked, makes sure NATS has the acks, then releases the lease so
// the shard's winner takes it at once, with nothing left to redeliver.
func (o *shardOwner) give(ctx context.Context, s int) {
	o.mu.Lock()
	h := o.running[s]
	o.mu.Unlock()
	if !o.stop(h) {
		o.w.log.Warn("a shard's consumer did not settle in time; its lease runs out instead of being released", "shard", s)
		return
	}
	o.forget(s, "lost")
	if err := o.w.nc.FlushTimeout(5 * time.Second); err != nil {
		o.w.log.Warn("flush a shard's last acks; its lease runs out instead of being released", "shard", s, "err", err)
		return
	}
	o.ls.release(context.WithoutCancel(ctx), []int{s})
	o.w.log.Info("shard given back", "shard", s)
}

// stop stops h and waits (AckWait and 5 s at most) until its messages settled.
func (o *shardOwner) stop(h *message.Handler) bool {
	h.Stop()
	select {
	case <-h.Stopped():
		return true
	case <-time.After(o.w.cfg.AckWait + 5*time.Second):
		return false
	}
}

// forget drops shard s from those consumed, counted as a move of direction.
func (o *shardOwner) forget(s int, direction string) {
	o.mu.Lock()
	delete(o.running, s)
	n := len(o.running)
	o.mu.Unlock()
	o.w.metrics.ShardMoves.WithLabelValues(direction).Inc()
	o.w.metrics.ShardsOwned.Set(float64(n))
	o.w.metrics.ConsumerPending.DeleteLabelValues(strconv.Itoa(s))
}

// reapLost forgets the shards whose lease was lost once their consumers stopped.
func (o *shardOwner) reapLost() {
	for _, s := range o.owned() {
		if o.ls.holds(s) {
			continue
		}
		o.mu.Lock()
		h := o.running[s]
		o.mu.Unlock()
		h.Stop()
		select {
		case <-h.Stopped():
			o.forget(s, "lost")
		default: // still settling: the next step
		}
	}
}

// close gives back every lease and the membership (a clean stop: the others take the
// shards at once); the router must be closed and the acks flushed before.
func (o *shardOwner) close(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	o.ls.leave(ctx)
	o.ls.release(ctx, o.ls.held())
	o.mu.Lock()
	clear(o.running)
	o.mu.Unlock()
	o.w.metrics.ShardsOwned.Set(0)
}
