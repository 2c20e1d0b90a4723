package webhooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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

	mu        sync.Mutex
	endpoints map[string]Endpoint        // kept current by watch
	backlog   map[string]map[uint64]bool // endpoint -> events in retry
}

// NewDispatcher returns a Dispatcher; Run starts it.
func NewDispatcher(cfg Config, store *Store, m *Metrics, log *slog.Logger) *Dispatcher {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &sender{client: Guard{Allow: cfg.AllowPrivate}.Client(cfg.Timeout), br: newBreakers(cfg.BreakerThreshold, cfg.BreakerCooldown),
		m: m, log: log, now: time.Now}
	return &Dispatcher{cfg: cfg, store: store, send: s, m: m, log: log,
		endpoints: map[string]Endpoint{}, backlog: map[string]map[uint64]bool{}}
}

// SubscriberConfig is the jspubsub configuration of the dispatcher's consumer: one
// durable on every payment event, events of one invoice one at a time, and retries
// naked with the schedule's delays.
func (d *Dispatcher) SubscriberConfig() jspubsub.SubscriberConfig {
	return jspubsub.SubscriberConfig{
		Stream: events.Stream,
		Consumer: func(string) (jspubsub.Consumer, error) {
			return jspubsub.Consumer{Durable: d.cfg.Durable, Filter: events.Subjects, Description: "epayflow webhooks"}, nil
		},
		AckWait:     d.cfg.Timeout*2 + 30*time.Second,
		MaxInFlight: d.cfg.MaxInFlight,
		NakDelay:    d.cfg.delay,
		OrderKey:    func(msg *message.Message) string { return invoiceOf(msg.Payload) },
		Logger:      d.log,
	}
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
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
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
	id := e.Key()[len("endpoints."):]
	if e.Operation() != jetstream.KeyValuePut {
		delete(d.endpoints, id)
		return
	}
	var ep Endpoint
	if err := json.Unmarshal(e.Value(), &ep); err == nil {
		d.endpoints[id] = ep
	}
}

// matching are the endpoints an event of type t goes to.
func (d *Dispatcher) matching(t string) []Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Endpoint
	for _, ep := range d.endpoints {
		if ep.Matches(t) {
			out = append(out, ep)
		}
	}
	return out
}

// settle handles msg and acks it once every matching endpoint is done with it, else
// nacks it (the subscriber naks it with the schedule's delay).
//
// A shutdown does not cut it short: the requests under way end (bounded by the timeout)
// and what they achieved is recorded, so the next process does not send them again.
func (d *Dispatcher) settle(ctx context.Context, msg *message.Message) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout+15*time.Second)
	defer cancel()
	done, err := d.handle(ctx, msg)
	if err != nil {
		d.log.Warn("webhooks: event not handled, will retry", "msg", msg.UUID, "err", err)
		msg.Nack()
		return
	}
	if done {
		msg.Ack()
	} else {
		msg.Nack()
	}
}

func (d *Dispatcher) handle(ctx context.Context, msg *message.Message) (bool, error) {
	var ce struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(msg.Payload, &ce); err != nil || ce.ID == "" {
		d.log.Error("webhooks: event is not a CloudEvent, skipped", "msg", msg.UUID)
		return true, nil
	}
	seq, _ := strconv.ParseUint(msg.Metadata.Get(jspubsub.MetadataStreamSeq), 10, 64)
	ev := event{ID: ce.ID, Type: ce.Type, InvoiceID: ce.Subject, Seq: seq, Body: msg.Payload}
	attempt := jspubsub.Deliveries(msg)
	eps := d.matching(ce.Type)
	if len(eps) == 0 {
		return true, nil
	}
	done := map[string]bool{}
	if attempt > 1 {
		var err error
		if done, err = d.store.Done(ctx, seq); err != nil {
			return false, err
		}
	}
	last := attempt > uint64(len(d.cfg.Schedule))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var todo []Endpoint // chosen before the goroutines write done
	for _, ep := range eps {
		if !done[ep.ID] {
			todo = append(todo, ep)
		}
	}
	errs := make([]error, len(todo))
	for i, ep := range todo {
		wg.Go(func() {
			ok, err := d.deliver(ctx, ep, ev, attempt, last)
			errs[i] = err
			mu.Lock()
			defer mu.Unlock()
			if ok {
				done[ep.ID] = true
			}
			d.track(ep.ID, seq, !ok)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	all := true
	for _, ep := range eps {
		all = all && done[ep.ID]
	}
	switch {
	case all && attempt > 1:
		return true, d.store.SetDone(ctx, seq, nil)
	case all:
		return true, nil
	}
	return false, d.store.SetDone(ctx, seq, done)
}

// deliver makes one attempt of ev at ep and reports whether ep is done with it
// (delivered, or dead after the last attempt).
func (d *Dispatcher) deliver(ctx context.Context, ep Endpoint, ev event, attempt uint64, last bool) (bool, error) {
	inv := base64.RawURLEncoding.EncodeToString([]byte(ev.InvoiceID))
	queue, err := d.store.Queue(ctx, ep.ID, inv)
	if err != nil {
		return false, err
	}
	waiting := len(queue) > 0 && queue[0] < ev.Seq // an earlier event of the invoice is in retry
	var a Attempt
	if waiting {
		a = Attempt{EventID: ev.ID, EventType: ev.Type, Attempt: attempt, At: time.Now().UTC(), Result: "waiting",
			Error: "an earlier event of this invoice is not delivered yet"}
		last = false
	} else if len(ev.Body) > d.cfg.MaxBody {
		a = Attempt{EventID: ev.ID, EventType: ev.Type, Attempt: attempt, At: time.Now().UTC(), Result: "failed",
			Error: fmt.Sprintf("event of %d bytes exceeds the %d-byte limit", len(ev.Body), d.cfg.MaxBody)}
		last = true
	} else {
		a = d.send.guarded(ctx, ep, ev, attempt)
	}
	ok := a.Result == "delivered"
	if !ok && last {
		dl := DeadLetter{Seq: ev.Seq, EventID: ev.ID, EventType: ev.Type, InvoiceID: ev.InvoiceID, FailedAt: a.At,
			LastError: a.Error, Event: ev.Body}
		if err := d.store.PutDead(ctx, ep.ID, dl); err != nil {
			return false, err
		}
		d.m.Dead.WithLabelValues(ep.ID).Inc()
		d.log.Warn("webhook event dead-lettered", "endpoint", ep.ID, "event", ev.ID, "attempts", attempt, "last_error", a.Error)
		a.Result, ok = "dead", true
	}
	d.m.Deliveries.WithLabelValues(ep.ID, a.Result).Inc()
	if err := d.store.AddAttempt(ctx, ep.ID, a); err != nil {
		return false, err
	}
	if ok {
		if len(queue) > 0 {
			return true, d.store.Dequeue(ctx, ep.ID, inv, ev.Seq)
		}
		return true, nil
	}
	return false, d.store.Enqueue(ctx, ep.ID, inv, ev.Seq)
}

// track keeps the backlog gauge: events of this process in retry for the endpoint.
func (d *Dispatcher) track(id string, seq uint64, retry bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
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
