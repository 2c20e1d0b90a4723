package webhooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/jspubsub"
)

// Dispatcher delivers the events of PAYMENT_EVENTS to the endpoints.
type Dispatcher struct {
	cfg   Config
	store *Store
	send  *sender
	m     *Metrics
	log   *slog.Logger

	// holdAfter and holdUntil: events with a stream sequence past holdAfter wait until
	// holdUntil (HoldBack after a restart, gap after a lost delivery).
	holdMu    sync.Mutex
	holdAfter uint64
	holdUntil time.Time

	// fetch reads an event of PAYMENT_EVENTS by stream sequence (nil: stranded queue
	// heads are not repaired; see stranded).
	fetch func(ctx context.Context, seq uint64) ([]byte, error)

	// ackFloor reads the consumer's ack floor, the last stream sequence before its first
	// unacked event (nil: no position is kept; see marking). from is the stream sequence
	// a consumer that does not exist is made from: one past the position kept (0: the
	// stream's first message).
	ackFloor func(ctx context.Context) (uint64, error)
	from     uint64
	// stream names the PAYMENT_EVENTS read (its creation time, from Run): a position or
	// an event record of a stream deleted and made again under the same name, whose
	// sequences start over, is not this stream's.
	stream string
	// markEvery is how often Run keeps the consumer's position (marking).
	markEvery time.Duration

	mu         sync.Mutex
	unreadable map[string]error           // endpoints whose entry cannot be read, kept by watch
	endpoints  map[string]Endpoint        // kept current by watch
	backlog    map[string]map[uint64]bool // endpoint -> events in retry
	applied    uint64                     // the last bucket revision the watch applied

	// checkMu serializes caughtUp's checks; checked is when the last one started (its
	// endpoints held every endpoint written before then), and catchUp bounds a check's
	// wait for the watch.
	checkMu sync.Mutex
	checked time.Time
	catchUp time.Duration

	// sweepEvery is how often Run removes the keys deleted endpoints left (sweep).
	sweepEvery time.Duration
}

// NewDispatcher returns a Dispatcher; Run starts it.
func NewDispatcher(cfg Config, store *Store, m *Metrics, log *slog.Logger) *Dispatcher {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &sender{client: Guard{Allow: cfg.AllowPrivate}.Client(cfg.Timeout), br: newBreakers(cfg.BreakerThreshold, cfg.BreakerCooldown),
		m: m, log: log, now: time.Now, slow: cfg.Timeout / 2}
	return &Dispatcher{cfg: cfg, store: store, send: s, m: m, log: log,
		endpoints: map[string]Endpoint{}, unreadable: map[string]error{}, backlog: map[string]map[uint64]bool{}, catchUp: 5 * time.Second, sweepEvery: sweepEvery, markEvery: markEvery}
}

// sweepEvery: what a deleted endpoint left is dead weight in the bucket, never read (the
// API answers 404 for the endpoint, the dead-letters gauge counts existing endpoints
// only), so its removal may wait.
const sweepEvery = 10 * time.Minute

// markEvery: a consumer deleted and made again from the position kept gives again the
// events acked in the last markEvery at most.
const markEvery = 5 * time.Second

// SubscriberConfig is the jspubsub configuration of the dispatcher's consumer: one
// durable on every payment event, events of one invoice one at a time, and each nacked
// event naked with the delay its endpoints' retries want (retryAfter).
func (d *Dispatcher) SubscriberConfig() jspubsub.SubscriberConfig {
	return jspubsub.SubscriberConfig{
		Stream: events.Stream,
		Consumer: func(string) (jspubsub.Consumer, error) {
			return jspubsub.Consumer{Durable: d.cfg.Durable, Filter: events.Subjects, Description: "epayflow webhooks", From: d.from}, nil
		},
		AckWait: d.cfg.AckWait,
		// An event in retry at one endpoint stays unacked for hours (nacked with its
		// delay); the server hands out nothing past MaxAckPending, to any endpoint. So
		// the bound is far above what the backlog alert (100 in retry) lets grow.
		MaxAckPending: maxInRetry,
		MaxInFlight:   d.cfg.MaxInFlight,
		NakDelay:      func(ms uint64) time.Duration { return time.Duration(ms) * time.Millisecond },
		OrderKey:      func(msg *message.Message) string { return invoiceOf(msg.Payload) },
		OnGap:         d.gap,
		Logger:        d.log,
	}
}

// gap holds back the events newer than streamSeq when a delivery of the consumer never
// reached this process (jspubsub's OnGap): the lost one comes again after AckWait,
// behind newer events, and one of them may be its invoice's next. As after a restart
// (HoldBack), the newer ones take their places in their invoices' queues and wait one
// AckWait and a margin, so that the lost one is queued before them when it comes.
func (d *Dispatcher) gap(streamSeq uint64) {
	d.log.Warn("webhooks: a delivery of the consumer never arrived (its sequence was skipped): newer events wait for it",
		"after_seq", streamSeq)
	d.hold(streamSeq, time.Now())
}

// hold makes the events past after wait until one AckWait and a margin from now; a
// hold under way is widened, never narrowed.
func (d *Dispatcher) hold(after uint64, now time.Time) {
	until := now.Add(d.cfg.AckWait + min(d.cfg.AckWait/2, holdMargin))
	d.holdMu.Lock()
	defer d.holdMu.Unlock()
	if now.Before(d.holdUntil) {
		after = min(after, d.holdAfter)
	}
	if until.Before(d.holdUntil) {
		until = d.holdUntil
	}
	d.holdAfter, d.holdUntil = after, until
}

// HoldBack keeps a restart from reordering an invoice's events. The events an earlier
// process had been handed and had not settled when it died (killed, its node lost) come
// back only when their AckWait runs out; an event of the same invoice delivered to this
// process meanwhile, a newer one, would take its place in the invoice's queue first and
// go out before them. So when the consumer holds unacked messages as this process
// starts, the events first delivered to it after the last one handed out before
// (info.Delivered.Stream) are put back until every earlier one has had its AckWait to
// come back and be queued (one AckWait and a margin). That holds the order across a
// restart of the only process; with several replicas sharing the consumer, the death of
// one can still let another send a newer event of an invoice before the ones the dead
// replica held (docs/WEBHOOKS.md). Call it before Run; a consumer
// with nothing unacked (a clean stop) holds nothing back.
func (d *Dispatcher) HoldBack(info *jetstream.ConsumerInfo, now time.Time) {
	if info == nil || info.NumAckPending == 0 {
		return
	}
	d.hold(info.Delivered.Stream, now)
	d.log.Warn("webhooks: events an earlier process left unacked come back first: newer ones wait",
		"unacked", info.NumAckPending, "after_seq", info.Delivered.Stream)
}

// holdMargin is the most time HoldBack leaves an event that came back to be queued
// (half the AckWait when that is less).
const holdMargin = 15 * time.Second

// held says how long msg must wait behind the events HoldBack waits for (0: none).
func (d *Dispatcher) held(msg *message.Message) time.Duration {
	d.holdMu.Lock()
	after, until := d.holdAfter, d.holdUntil
	d.holdMu.Unlock()
	seq, _ := strconv.ParseUint(msg.Metadata.Get(jspubsub.MetadataStreamSeq), 10, 64)
	if seq <= after {
		return 0
	}
	return max(time.Until(until), 0)
}

// errorRetry bounds the wait before an event that could not be handled comes again: it
// holds its slot meanwhile (retryInTurn), so not a schedule's hours.
const errorRetry = time.Second

// maxInRetry bounds the events unsettled on the consumer (in retry, waiting behind an
// earlier event of their invoice, or being delivered): one endpoint down for a day at a
// few events a second, before deliveries to every endpoint stop.
const maxInRetry = 100_000

// retryAfter nacks msg to come back after delay. jspubsub naks with NakDelay of the
// delivery count in the message's metadata, which is read once the message is nacked:
// the dispatcher puts its delay there (in milliseconds, NakDelay's unit above), as the
// delay is its endpoints' (their own failures and schedules, the earlier event they
// wait for, a paused endpoint's cooldown), not the delivery count's.
func retryAfter(msg *message.Message, delay time.Duration) {
	setDelay(msg, delay)
	msg.Nack()
}

// retryInTurn is retryAfter in the invoice's turn (jspubsub.NackInTurn): msg comes again
// before the next event of its invoice is handed out.
func retryInTurn(msg *message.Message, delay time.Duration) {
	setDelay(msg, delay)
	jspubsub.NackInTurn(msg)
}

// setDelay puts delay where NakDelay reads it (retryAfter says why).
func setDelay(msg *message.Message, delay time.Duration) {
	msg.Metadata.Set(jspubsub.MetadataDelivered, strconv.FormatInt(max(delay, time.Millisecond).Milliseconds(), 10))
}

// invoiceOf is the CloudEvent's subject: the invoice id.
func invoiceOf(body []byte) string {
	var ce struct {
		Subject string `json:"subject"`
	}
	_ = json.Unmarshal(body, &ce)
	return ce.Subject
}

// Run watches the endpoints and handles the messages of sub until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, sub *jspubsub.Subscriber) error {
	ready := make(chan struct{})
	watchErr := make(chan error, 1)
	go func() { watchErr <- d.watch(ctx, ready) }()
	select {
	case <-ready:
	case err := <-watchErr:
		return err
	}
	msgs, err := sub.Subscribe(ctx, "payments")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep() // before wg.Wait: Run also returns with ctx going on (the watch failed)
	wg.Go(func() { d.sweeping(sweepCtx) })
	wg.Go(func() { d.marking(sweepCtx) })
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				if ctx.Err() == nil {
					// the consumer was deleted under the subscription (an operator's
					// `nats consumer rm`, a restore without it), or the connection closed:
					// an exit that says so, and the restart makes it again from the
					// position kept, never from the stream's first event
					return ErrSubscriptionEnded
				}
				return ctx.Err()
			}
			wg.Go(func() { d.settle(ctx, msg) })
		case err := <-watchErr:
			return err
		}
	}
}

// watch keeps d.endpoints current; ready closes once the initial values are in.
func (d *Dispatcher) watch(ctx context.Context, ready chan struct{}) error {
	w, err := d.store.kv.Watch(ctx, "endpoints.*")
	if err != nil {
		return fmt.Errorf("webhooks: watch endpoints: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil { // the watch ends with ctx: a stop, not a failure
					return nil
				}
				return errors.New("webhooks: endpoint watch stopped")
			}
			if e == nil {
				close(ready)
				continue
			}
			d.apply(e)
		}
	}
}

func (d *Dispatcher) apply(e jetstream.KeyValueEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.applied = max(d.applied, e.Revision())
	id := e.Key()[len("endpoints."):]
	delete(d.unreadable, id)
	defer func() { d.m.Unreadable.Set(float64(len(d.unreadable))) }()
	if e.Operation() != jetstream.KeyValuePut {
		delete(d.endpoints, id)
		delete(d.backlog, id)
		d.m.forget(id)
		return
	}
	if !validID(id) {
		// no endpoint the API made or can delete: neither delivered to nor waited for
		d.log.Error("webhooks: an entry under a key that is no endpoint id, ignored", "key", e.Key())
		return
	}
	ep, err := d.store.decodeEndpoint(id, e.Value())
	if err != nil {
		// another WEBHOOKS_SECRETS_KEY, or an entry changed outside the API (its URL
		// moved under its sealed secret): its events are neither sent nor let go, since
		// acking them would lose them for the endpoint; every event waits (handle) until
		// the key is right or an operator deletes the endpoint
		d.log.Error("webhooks: an endpoint that cannot be read: no event is delivered until it can, or it is deleted", "endpoint", id, "err", err)
		delete(d.endpoints, id)
		d.unreadable[id] = err
		return
	}
	created(&ep, e)
	d.endpoints[id] = ep
	d.m.known(id)
}

// caughtUp returns once the endpoints the watch applied hold every endpoint written
// before since (the time an event was received, so after it was stored): an endpoint
// registered (its 201 answered) before an event was published gets the event, however
// far the watch lags. One check (the bucket's latest endpoint write, then the watch
// reaching it) serves every event received before it started. An error (the bucket
// unreadable, or the watch still behind after catchUp): the event is tried again,
// rather than acked with endpoints missing.
func (d *Dispatcher) caughtUp(ctx context.Context, since time.Time) error {
	d.checkMu.Lock()
	defer d.checkMu.Unlock()
	if !d.checked.Before(since) {
		return nil
	}
	start := time.Now()
	last, err := d.store.lastEndpointWrite(ctx)
	if err != nil {
		return err
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		d.mu.Lock()
		applied := d.applied
		d.mu.Unlock()
		if applied >= last {
			d.checked = start
			return nil
		}
		if time.Since(start) > d.catchUp {
			return fmt.Errorf("webhooks: the endpoint watch is at revision %d, the bucket's latest endpoint write at %d, after %s", applied, last, d.catchUp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// matching are the endpoints an event of type t, stored in PAYMENT_EVENTS at stored,
// goes to: those created by then. Every round of the event asks again, and an endpoint
// registered while it was in retry at another (or unacked across a restart) would get
// it too, after the later events of its invoice it got meanwhile (its first round
// queued it nowhere for the new endpoint). Both times are the NATS servers' (the
// stream's stamp, the bucket entry's: Store.PutEndpoint), not this process's clock. A
// zero stored (a message not from the stream's consumer) goes to every endpoint.
func (d *Dispatcher) matching(t string, stored time.Time) []Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Endpoint
	for _, ep := range d.endpoints {
		if ep.Matches(t) && !stored.Before(ep.CreatedAt) {
			out = append(out, ep)
		}
	}
	return out
}

// storedAt is when PAYMENT_EVENTS stored msg (its server's clock); zero if unknown.
func storedAt(msg *message.Message) time.Time {
	at, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(jspubsub.MetadataStreamTime))
	if err != nil {
		return time.Time{}
	}
	return at
}

// settle handles msg and acks it once every matching endpoint is done with it, else
// nacks it to come back when the first of the others wants its next round.
//
// A shutdown does not cut it short: the requests under way end (bounded by the timeout)
// and what they achieved is recorded, so the next process does not send them again.
func (d *Dispatcher) settle(ctx context.Context, msg *message.Message) {
	received := time.Now()
	hold := d.held(msg)
	if hold > 0 {
		d.m.Held.Inc()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout+15*time.Second)
	defer cancel()
	done, next, err := d.handle(ctx, msg, hold, received)
	switch {
	case err != nil:
		// The event may have no place in its invoice's queues yet (the bucket refused the
		// write): it comes again in its invoice's turn, so that the invoice's next event is
		// not handed out before it.
		d.log.Warn("webhooks: event not handled, will retry", "msg", msg.UUID, "err", err)
		retryInTurn(msg, min(d.cfg.delay(1), errorRetry))
	case done:
		msg.Ack()
	default:
		retryAfter(msg, next)
	}
}

// handle makes the event's round at each matching endpoint not done with it. It reports
// whether all are done, else how long until the first of the others wants its next round.
//
// With hold (HoldBack), the event only takes its place in its invoice's queues and comes
// back after hold: queued by stream sequence, the held events of an invoice and those an
// earlier process left unacked then go out in their order, whichever comes back first.
func (d *Dispatcher) handle(ctx context.Context, msg *message.Message, hold time.Duration, received time.Time) (bool, time.Duration, error) {
	var ce struct {
		ID      string    `json:"id"`
		Type    string    `json:"type"`
		Subject string    `json:"subject"`
		Time    time.Time `json:"time"`
	}
	signedID := ""
	if d.cfg.Events != nil {
		var err error
		if signedID, err = d.cfg.Events.Verify(msg.Metadata, msg.Payload); err != nil {
			// anyone NATS lets publish to payments.> could have made it: never signed
			// with an endpoint's secret (a merchant would take it for the workers')
			d.m.Refused.Inc()
			d.log.Error("webhooks: event without the workers' signature, not delivered", "msg", msg.UUID,
				"subject", msg.Metadata.Get(jspubsub.MetadataSubject), "stream_seq", msg.Metadata.Get(jspubsub.MetadataStreamSeq), "err", err)
			return true, 0, nil
		}
	}
	if err := json.Unmarshal(msg.Payload, &ce); err != nil || ce.ID == "" {
		d.log.Error("webhooks: event is not a CloudEvent, skipped", "msg", msg.UUID)
		return true, 0, nil
	}
	if d.cfg.Events != nil && signedID != ce.ID { // the signature is for the event delivered, by its id
		d.m.Refused.Inc()
		d.log.Error("webhooks: event signed for another id, not delivered", "msg", msg.UUID, "signed_id", signedID, "event", ce.ID)
		return true, 0, nil
	}
	seq, _ := strconv.ParseUint(msg.Metadata.Get(jspubsub.MetadataStreamSeq), 10, 64)
	ev := event{ID: ce.ID, Type: ce.Type, InvoiceID: ce.Subject, Seq: seq, Body: msg.Payload}
	again := jspubsub.Deliveries(msg) > 1
	if err := d.caughtUp(ctx, received); err != nil {
		return false, 0, err
	}
	if n := d.unreadableCount(); n > 0 {
		// in its invoice's turn, as any event not handled
		return false, 0, fmt.Errorf("%w: %d endpoint(s)", errUnreadable, n)
	}
	stored := storedAt(msg)
	eps := d.matching(ce.Type, stored)
	// on every delivery, not only the first: a copy whose first handling failed (the
	// bucket refusing a write, which the streams password can arrange) comes again as a
	// redelivery. The record gives the same answer for the same message.
	if len(eps) > 0 {
		switch first, err := d.firstCopy(ctx, ce.ID, ce.Time, seq, stored); {
		case err != nil:
			return false, 0, err
		case !first:
			d.m.Copies.Inc()
			d.log.Error("webhooks: a copy of an event published again, not delivered", "event", ce.ID,
				"stream_seq", seq, "event_time", ce.Time)
			return true, 0, nil
		}
	}
	if len(eps) == 0 {
		if again { // its endpoints were deleted while it was in retry: nothing more to note
			return true, 0, d.store.SetDone(ctx, seq, nil)
		}
		return true, 0, nil
	}
	done := map[string]bool{}
	if again {
		var err error
		if done, err = d.store.Done(ctx, seq); err != nil {
			return false, 0, err
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var todo []Endpoint // chosen before the goroutines write done
	for _, ep := range eps {
		if !done[ep.ID] {
			todo = append(todo, ep)
		}
	}
	errs := make([]error, len(todo))
	next := time.Duration(-1)
	for i, ep := range todo {
		wg.Go(func() {
			ok, after, err := d.deliver(ctx, ep, ev, again, hold)
			errs[i] = err
			mu.Lock()
			defer mu.Unlock()
			if ok {
				done[ep.ID] = true
			} else if err == nil && (next < 0 || after < next) {
				next = after
			}
			d.track(ep.ID, seq, !ok)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, 0, err
	}
	all := true
	for _, ep := range eps {
		all = all && done[ep.ID]
	}
	switch {
	case all && again:
		return true, 0, d.store.SetDone(ctx, seq, nil)
	case all:
		return true, 0, nil
	}
	return false, next, d.store.SetDone(ctx, seq, done)
}

// deliver makes the event's round at ep: reports whether ep is done with it (delivered,
// or dead after its last attempt), else how long until its next round.
//
// The event takes its place in its invoice's queue before anything is sent, and leaves
// it once done: whatever fails on the way (the process killed, the bucket refusing a
// write), the invoice's later events wait behind it. Only a failed or paused request is
// an attempt: the rounds an event waits behind an earlier one neither use up its attempts
// nor move it down the schedule; it comes again once the one it waits for has had its
// next round.
func (d *Dispatcher) deliver(ctx context.Context, ep Endpoint, ev event, again bool, hold time.Duration) (bool, time.Duration, error) {
	inv := base64.RawURLEncoding.EncodeToString([]byte(ev.InvoiceID))
	queue, err := d.store.Enqueue(ctx, ep.ID, inv, ev.Seq)
	if err != nil || hold > 0 {
		return false, hold, err
	}
	var r Retry
	if again {
		if r, err = d.store.Retry(ctx, ep.ID, ev.Seq); err != nil {
			return false, 0, err
		}
		if wait := time.Until(r.Next); wait > 0 { // back for another endpoint's round
			return false, wait, nil
		}
	}
	attempt := r.Failures + 1
	if queue[0] < ev.Seq { // an earlier event of the invoice is not delivered yet
		head, err := d.store.Retry(ctx, ep.ID, queue[0])
		if err != nil {
			return false, 0, err
		}
		if gone, err := d.gone(ctx, ep.ID); gone || err != nil { // deleted meanwhile: as after a request, below
			return gone, 0, d.drop(ctx, ep.ID, inv, again, err, ev.Seq)
		}
		if r.WaitingFor != queue[0] { // waiting behind this one from now
			r.WaitingFor, r.WaitingSince = queue[0], time.Now().UTC()
			if err := d.store.PutRetry(ctx, ep.ID, ev.Seq, r); err != nil {
				return false, 0, err
			}
		} else if d.stranded(r, head) {
			return d.repair(ctx, ep, ev, queue[0])
		}
		d.record(ctx, ep, ev, Attempt{EventID: ev.ID, EventType: ev.Type, Attempt: attempt, At: time.Now().UTC(), Result: "waiting",
			Error: "an earlier event of this invoice is not delivered yet"})
		return false, max(time.Until(head.Next), 0) + d.cfg.delay(1), nil
	}
	last := r.Failures >= uint64(len(d.cfg.Schedule))
	var a Attempt
	if len(ev.Body) > d.cfg.MaxBody {
		a = Attempt{EventID: ev.ID, EventType: ev.Type, Attempt: attempt, At: time.Now().UTC(), Result: "failed",
			Error: fmt.Sprintf("event of %d bytes exceeds the %d-byte limit", len(ev.Body), d.cfg.MaxBody)}
		last = true
	} else {
		a = d.send.guarded(ctx, ep, ev, attempt)
	}
	// A DELETE may have answered while the request was under way, its sweep of the
	// endpoint's keys over: what this round writes now (an attempt, a retry, a dead
	// letter) would stay for good, and nobody could list or clear it.
	if gone, err := d.gone(ctx, ep.ID); gone || err != nil {
		return gone, 0, d.drop(ctx, ep.ID, inv, again, err, ev.Seq)
	}
	slowPause := a.Result == "paused" && d.send.br.pausedForSlowness(ep.ID)
	switch {
	case a.Result == "delivered":
	case slowPause:
		// paused for answering slowly, not for failing: the event waits out the pause
		// without using up an attempt, and never goes to the dead letter for it
		wait := max(time.Until(d.send.br.openUntil(ep.ID)), 0) + d.cfg.delay(1)
		r.Next = time.Now().Add(wait)
		d.record(ctx, ep, ev, a)
		return false, wait, d.store.PutRetry(ctx, ep.ID, ev.Seq, r)
	case !last:
		r.Failures++
		wait := d.cfg.delay(r.Failures)
		if until := d.send.br.openUntil(ep.ID); a.Result == "paused" && !until.IsZero() {
			// no request while it is paused: its next round comes after the pause
			wait = max(wait, time.Until(until)+d.cfg.delay(1))
		}
		r.Next = time.Now().Add(wait)
		d.record(ctx, ep, ev, a)
		return false, wait, d.store.PutRetry(ctx, ep.ID, ev.Seq, r)
	default:
		dl := DeadLetter{Seq: ev.Seq, EventID: ev.ID, EventType: ev.Type, InvoiceID: ev.InvoiceID, FailedAt: a.At,
			LastError: a.Error, Event: ev.Body}
		if err := d.store.PutDead(ctx, ep.ID, dl); err != nil {
			return false, 0, err
		}
		d.m.Dead.WithLabelValues(ep.ID).Inc()
		d.log.Warn("webhook event dead-lettered", "endpoint", ep.ID, "event", ev.ID, "attempts", attempt, "last_error", a.Error)
		a.Result = "dead"
	}
	d.record(ctx, ep, ev, a)
	if err := d.store.Dequeue(ctx, ep.ID, inv, ev.Seq); err != nil {
		return false, 0, err // delivered (or dead) again at the next round: at least once
	}
	if r.Failures > 0 || r.WaitingFor != 0 {
		if err := d.store.DeleteRetry(ctx, ep.ID, ev.Seq); err != nil {
			d.log.Warn("webhooks: retry state of a done event not removed", "endpoint", ep.ID, "event", ev.ID, "err", err)
		}
	}
	return true, 0, nil
}

// stranded says whether the head of an invoice's queue, which the event of r has waited
// behind, can no longer come back by itself: its message was settled while it stayed in
// the queue (a copy of it redelivered after the original was acked, whose nak the
// server then ignored, put it back). A live head comes again within its due time
// (head.Next, or at once), an AckWait (a process that died holding it), a HoldBack
// (less than another AckWait) and a request's timeout; a head silent past all of
// those, counted both from when this event began to wait and from its own due time,
// is taken for stranded. Taking a live but slow head for stranded costs a duplicate of
// it, never the order.
func (d *Dispatcher) stranded(r Retry, head Retry) bool {
	if d.fetch == nil {
		return false
	}
	after := 2*d.cfg.AckWait + d.cfg.Timeout
	now := time.Now()
	return now.After(r.WaitingSince.Add(after)) && (head.Next.IsZero() || now.After(head.Next.Add(after)))
}

// errNotWorkers: an event read back from PAYMENT_EVENTS by its sequence without the
// workers' signature (Config.Events): never delivered.
var errNotWorkers = errors.New("webhooks: not an event the workers signed")

// fetchEvent is fetch, for the API's replays, which may come before fetch is set (Run
// sets it after NewAPI's dispatcher is made): none set, an event cannot be read back.
func (d *Dispatcher) fetchEvent(ctx context.Context, seq uint64) ([]byte, error) {
	if d.fetch == nil {
		return nil, errors.New("webhooks: events cannot be read back here")
	}
	return d.fetch(ctx, seq)
}

// repair delivers the stranded head of ev's invoice queue at ep (its event read from
// PAYMENT_EVENTS; as its own round would: in order, with its attempts and schedule, a
// dead letter after the last), then lets ev come back at once. A head gone from the
// stream (its limits) cannot be delivered: it is dead-lettered without its body, and so is one
// that is not the workers' (errNotWorkers).
func (d *Dispatcher) repair(ctx context.Context, ep Endpoint, ev event, headSeq uint64) (bool, time.Duration, error) {
	d.m.Stranded.Inc()
	body, err := d.fetch(ctx, headSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, errNotWorkers) {
		d.log.Warn("webhooks: an event stranded at the head of its invoice's queue is gone from the stream, or not the workers'; dead-lettered",
			"endpoint", ep.ID, "seq", headSeq, "invoice", ev.InvoiceID, "err", err)
		dl := DeadLetter{Seq: headSeq, InvoiceID: ev.InvoiceID, FailedAt: time.Now().UTC(), LastError: "stranded in the queue and gone from PAYMENT_EVENTS"}
		if errors.Is(err, errNotWorkers) {
			dl.LastError = "stranded in the queue, and not signed by the workers"
		}
		inv := base64.RawURLEncoding.EncodeToString([]byte(ev.InvoiceID))
		if gone, err := d.gone(ctx, ep.ID); gone || err != nil {
			return gone, 0, d.drop(ctx, ep.ID, inv, true, err, headSeq, ev.Seq)
		}
		if err := d.store.PutDead(ctx, ep.ID, dl); err != nil {
			return false, 0, err
		}
		d.m.Dead.WithLabelValues(ep.ID).Inc()
		return false, d.cfg.delay(1), d.store.Dequeue(ctx, ep.ID, inv, headSeq)
	}
	if err != nil {
		return false, 0, err
	}
	var ce struct{ ID, Type, Subject string }
	if err := json.Unmarshal(body, &ce); err != nil || ce.Subject != ev.InvoiceID {
		return false, 0, fmt.Errorf("webhooks: stranded head %d of invoice %s is not its event", headSeq, ev.InvoiceID)
	}
	d.log.Warn("webhooks: an event stranded at the head of its invoice's queue is delivered from the stream",
		"endpoint", ep.ID, "event", ce.ID, "seq", headSeq, "waiting", ev.ID)
	head := event{ID: ce.ID, Type: ce.Type, InvoiceID: ce.Subject, Seq: headSeq, Body: body}
	if _, _, err := d.deliver(ctx, ep, head, true, 0); err != nil {
		return false, 0, err
	}
	return false, d.cfg.delay(1), nil
}

// record counts the attempt and logs it in the endpoint's attempt log. The log is for
// people: failing to write it must not change what happened.
func (d *Dispatcher) record(ctx context.Context, ep Endpoint, ev event, a Attempt) {
	d.m.Deliveries.WithLabelValues(ep.ID, a.Result).Inc()
	if err := d.store.AddAttempt(ctx, ep.ID, a); err != nil {
		d.log.Warn("webhooks: attempt not logged", "endpoint", ep.ID, "event", ev.ID, "result", a.Result, "err", err)
	}
}

// track keeps the backlog gauge: events of this process in retry for the endpoint.
func (d *Dispatcher) track(id string, seq uint64, retry bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.endpoints[id]; !ok { // deleted meanwhile: apply dropped its series for good
		delete(d.backlog, id)
		return
	}
	set := d.backlog[id]
	if set == nil {
		set = map[uint64]bool{}
		d.backlog[id] = set
	}
	if retry {
		set[seq] = true
	} else {
		delete(set, seq)
	}
	d.m.Backlog.WithLabelValues(id).Set(float64(len(set)))
}

// gone says whether the endpoint was deleted (read from the bucket: the watch may not
// have applied the deletion yet).
func (d *Dispatcher) gone(ctx context.Context, id string) (bool, error) {
	_, err := d.store.Endpoint(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	return false, err
}

// drop ends a round at an endpoint deleted during it (or returns err, gone's, for the
// event to come again): the endpoint's queue of the invoice goes, the retries of the
// events at seqs too (retried: they may have one), and the endpoint's series, which the
// round's request may have brought back after the watch dropped them, go again.
// DeleteEndpoint swept the rest; what slips between gone and a write goes with the next
// sweep.
func (d *Dispatcher) drop(ctx context.Context, id, inv string, retried bool, err error, seqs ...uint64) error {
	if err != nil {
		return err
	}
	d.mu.Lock()
	if _, ok := d.endpoints[id]; !ok { // else the watch's apply drops them when it gets there
		d.m.forget(id)
	}
	d.mu.Unlock()
	if err := d.store.forget(ctx, "pending."+id+"."+inv); err != nil {
		return err
	}
	if !retried {
		return nil
	}
	for _, seq := range seqs {
		if err := d.store.DeleteRetry(ctx, id, seq); err != nil {
			return err
		}
	}
	return nil
}

// eventRecordTTL is how long the service remembers the stream sequence an event id was
// first stored at: longer than PAYMENT_EVENTS keeps an event (NATS_STREAM_MAX_AGE, 30
// days by default).
const eventRecordTTL = 31 * 24 * time.Hour

// firstCopy says whether the event id stored at stream sequence seq (at stored; made at
// at) is the first copy the service has seen of it. A holder of the worker's NATS
// password can publish a genuine event again, its signature intact, once the stream's
// duplicate window (15 minutes) is past; the service signed and delivered it anew, with
// a fresh timestamp, to endpoints whose receivers keep ids for a day or two. So the first
// sequence of each id is recorded (for eventRecordTTL), and another sequence is a copy,
// as is an event first stored longer than that after it was made. The same message
// again (a redelivery, a consumer made again from its position) is not.
func (d *Dispatcher) firstCopy(ctx context.Context, id string, at time.Time, seq uint64, stored time.Time) (bool, error) {
	if !at.IsZero() && !stored.IsZero() && stored.Sub(at) > eventRecordTTL {
		return false, nil
	}
	return d.store.FirstCopy(ctx, id, d.stream, seq, eventRecordTTL)
}

// errUnreadable: an event waits while an endpoint cannot be read.
var errUnreadable = errors.New("endpoints that cannot be read (WEBHOOKS_SECRETS_KEY, or changed outside the API): the event waits")

func (d *Dispatcher) unreadableCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.unreadable)
}

// ErrSubscriptionEnded: the subscription to PAYMENT_EVENTS ended while the service ran.
var ErrSubscriptionEnded = errors.New("webhooks: the subscription to PAYMENT_EVENTS ended (its consumer deleted, or the connection closed)")

// marking keeps the consumer's ack floor in the bucket every markEvery, until ctx ends:
// a consumer deleted under the service is made again from there at its restart (Run's
// caller sets from), so its endpoints get again only the events after that floor (the
// ones in retry and those acked since the last mark: seconds), never the stream's
// 30 days of events, freshly signed, which a merchant keeping event ids for 36 hours
// would take as new.
func (d *Dispatcher) marking(ctx context.Context) {
	if d.ackFloor == nil {
		return
	}
	var kept uint64
	for pause(ctx, d.markEvery) {
		floor, err := d.ackFloor(ctx)
		if err != nil || floor <= kept {
			continue // no consumer (deleted: the mark stays where it was), or nothing new
		}
		if err := d.store.SetPosition(ctx, Position{Stream: d.stream, Seq: floor}); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("webhooks: the consumer's position not kept; the next mark tries again", "ack_floor", floor, "err", err)
			}
			continue
		}
		kept = floor
	}
}

// sweeping sweeps at Run's start, then every sweepEvery, until ctx ends.
func (d *Dispatcher) sweeping(ctx context.Context) {
	for {
		if n, err := d.sweep(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("webhooks: keys of deleted endpoints not removed; the next sweep tries again", "removed", n, "err", err)
		} else if n > 0 {
			d.log.Info("webhooks: keys of deleted endpoints removed", "keys", n)
		}
		if !pause(ctx, d.sweepEvery) {
			return
		}
	}
}

// sweep removes the keys (attempt logs, dead letters, retries, invoice queues) of
// endpoints that no longer exist, and says how many. DeleteEndpoint removes them once;
// a delivery under way may write one after that (between its check, gone, and its
// write), or its process die before drop. Every replica sweeps; a key removed twice is
// no harm. An endpoint's keys are written only once it is stored and its id is never
// used again, so a key whose endpoint a read finds missing is a deleted one's: the id
// is looked up in the bucket (not taken from a listing, which ends silently with its
// context and could leave an endpoint out).
func (d *Dispatcher) sweep(ctx context.Context) (int, error) {
	keys, err := d.store.keys(ctx, "attempts.*", "dead.*.*", "retry.*.*", "pending.*.*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("webhooks: sweep: %w", err)
	}
	exists := map[string]bool{}
	n := 0
	for _, k := range keys {
		_, rest, _ := strings.Cut(k, ".")
		id, _, _ := strings.Cut(rest, ".")
		if !validID(id) {
			continue
		}
		there, known := exists[id]
		if !known {
			gone, err := d.gone(ctx, id)
			if err != nil {
				return n, fmt.Errorf("webhooks: sweep: endpoint %s: %w", id, err)
			}
			there, exists[id] = !gone, !gone
		}
		if there {
			continue
		}
		if err := d.store.forget(ctx, k); err != nil {
			return n, fmt.Errorf("webhooks: sweep: %s: %w", k, err)
		}
		n++
	}
	return n, nil
}
