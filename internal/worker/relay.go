package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
)

// relay publishes the outbox to PAYMENT_EVENTS. An entry is deleted only after its
// PubAck; Nats-Msg-Id = event id makes a republish after a crash a duplicate the stream
// drops (within its duplicate window) and subscribers can drop after it.
type relay struct {
	store   *bolt.Store
	js      jetstream.JetStream
	source  string
	metrics *Metrics
	log     *slog.Logger
	wake    chan struct{}
	sweep   time.Duration // also look without being woken, this often
	batch   int           // entries read and published per round

	// frontier is the last entry published (entries go out in order); advanced
	// closes and replaces it, waking the messages waiting for their events.
	mu       sync.Mutex
	frontier uint64
	advanced chan struct{}

	// published is signalled when the frontier moved; forgetPublished then deletes the
	// entries up to it, apart from the rounds (deleted: how far it got).
	published chan struct{}
	deleted   uint64

	// ready are the events of changes made here and not yet published, each with its
	// message, keyed by outbox entry (under mu): the handler that made a change encodes
	// its events (offer), and the relay publishes them without reading them back from
	// the store. An entry not here (written before a restart, requeued, adopted, or
	// offered past maxReady) is read and encoded from the store, as every entry was.
	ready map[uint64]readyEvent
}

// readyEvent is an outbox entry's event with its message for PAYMENT_EVENTS.
type readyEvent struct {
	event invoice.Event
	msg   *nats.Msg
}

// maxReady bounds the events kept ready: while PAYMENT_EVENTS refuses, the outbox
// grows and the events past it are read from the store when their turn comes.
const maxReady = 4096

func newRelay(store *bolt.Store, js jetstream.JetStream, source string, m *Metrics, log *slog.Logger) *relay {
	return &relay{store: store, js: js, source: source, metrics: m, log: log, wake: make(chan struct{}, 1),
		sweep: time.Second, batch: 256, advanced: make(chan struct{}), published: make(chan struct{}, 1),
		ready: make(map[uint64]readyEvent)}
}

// offer hands the relay the events of a change just committed, which took the outbox
// entries up to last: each is encoded here, in the caller's goroutine, once. Entries
// published already (read from the store meanwhile) are not kept.
func (r *relay) offer(last uint64, events []invoice.Event) {
	if last == 0 || len(events) == 0 {
		return
	}
	ready := make([]readyEvent, 0, len(events))
	for _, e := range events {
		msg, err := r.eventMsg(bolt.OutboxEntry{Event: e})
		if err != nil {
			return // read from the store, and its error reported there
		}
		ready = append(ready, readyEvent{event: e, msg: msg})
	}
	first := last - uint64(len(events)) + 1
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, re := range ready {
		seq := first + uint64(i)
		if seq <= r.frontier || len(r.ready) >= maxReady {
			continue
		}
		r.ready[seq] = re
	}
}

// isReady reports whether entry seq's event is kept ready.
func (r *relay) isReady(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ready[seq]
	return ok
}

// waitPublished returns once the outbox entry seq is published (or ctx ends). Entries
// are published in order, and only the relay deletes them: an entry gone is out.
func (r *relay) waitPublished(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		done, advanced := r.frontier >= seq, r.advanced
		r.mu.Unlock()
		if done {
			return nil
		}
		if queued, err := r.store.InOutbox(seq); err != nil || !queued {
			return err
		}
		r.Wake()
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *relay) advance(done []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, seq := range done {
		delete(r.ready, seq)
	}
	if seq := done[len(done)-1]; seq > r.frontier {
		r.frontier = seq
		close(r.advanced)
		r.advanced = make(chan struct{})
	}
}

// Wake asks the relay to look at the outbox now. It never blocks.
func (r *relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is cancelled. While NATS refuses, it backs off from 100ms up
// to 5s between attempts, and keeps the entries.
func (r *relay) Run(ctx context.Context) {
	forgot := make(chan struct{})
	go func() {
		defer close(forgot)
		r.forgetPublished(ctx)
	}()
	defer func() { <-forgot }()
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	tick := time.NewTicker(r.sweep)
	defer tick.Stop()
	for {
		wait := time.Duration(0)
		if err := r.drain(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("publishing payment events failed; retrying", "err", err, "backoff", backoff)
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// drain publishes the outbox until it is empty or a publish fails. It reads after the
// frontier: the entries up to it are out, whether or not forgetPublished deleted them yet.
func (r *relay) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		r.mu.Lock()
		after := r.frontier
		r.mu.Unlock()
		entries, err := r.store.OutboxAfterExcept(after, r.batch, r.isReady)
		if err != nil || len(entries) == 0 {
			return err
		}
		msgs := r.fill(entries)
		done, err := r.publish(ctx, entries, msgs)
		if len(done) > 0 { // out: their messages may be acked now; the delete is the relay's own bookkeeping
			r.advance(done)
			select {
			case r.published <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// forgetPublished deletes the entries the relay published, up to its frontier, each time
// it moved, until ctx ends; then once more. The deletes share the applies' transactions
// and their fsync, and the next round publishes meanwhile: a round waiting for a delete
// of its own (the writer's lock behind a commit, then an fsync) put two fsyncs between a
// commit and the events of the commit after it.
//
// Entries published and not yet deleted when the worker dies are published again at its
// next start, as duplicates the stream drops by their ids within its duplicate window
// (as an entry between its PubAck and its delete always was).
func (r *relay) forgetPublished(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.deletePublished() // what the last rounds published: not again at the next start
			return
		case <-r.published:
		}
		r.deletePublished()
	}
}

func (r *relay) deletePublished() {
	r.mu.Lock()
	through := r.frontier
	r.mu.Unlock()
	if through <= r.deleted {
		return
	}
	if err := r.store.DeleteOutboxThrough(through); err != nil {
		r.log.Warn("delete published outbox entries; again after the next round", "err", err)
		return
	}
	r.deleted = through
}

// fill gives the entries the store left without their event (kept ready) that event,
// and returns each entry's ready message (nil: to be encoded from the entry).
func (r *relay) fill(entries []bolt.OutboxEntry) []*nats.Msg {
	msgs := make([]*nats.Msg, len(entries))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range entries {
		if re, ok := r.ready[entries[i].Seq]; ok {
			entries[i].Event = re.event
			// a copy each time: a publish sets the message's reply subject
			msgs[i] = &nats.Msg{Subject: re.msg.Subject, Header: re.msg.Header, Data: re.msg.Data}
		}
	}
	return msgs
}

// publish sends entries pipelined, in order, and returns the sequences acked, stopping
// at the first failure so that one invoice's events keep their order. msgs are the
// entries' messages made already (nil: encoded here).
//
// An invoice's next event is not sent before its previous one is acked: the batch ends
// before an invoice's second entry (the next drain sends it). Pipelined, a NATS restart
// could store the second first: the first written to the server that died, the second
// kept in the client's reconnect buffer and sent to the server that came back.
func (r *relay) publish(ctx context.Context, entries []bolt.OutboxEntry, msgs []*nats.Msg) ([]uint64, error) {
	entries = oncePerInvoice(entries)
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	var firstErr error
	for i, e := range entries {
		msg := msgs[i]
		if msg == nil {
			var err error
			if msg, err = r.eventMsg(e); err != nil {
				return nil, err
			}
		}
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			firstErr = err
			break
		}
		futures = append(futures, f)
	}
	var done []uint64
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			done = append(done, entries[i].Seq)
			if !ack.Duplicate { // a republish after a crash is not a new event
				r.metrics.EventsPublished.WithLabelValues(string(entries[i].Event.Type)).Inc()
			}
			continue
		case err := <-f.Err():
			firstErr = err
		case <-timeout.C:
			firstErr = fmt.Errorf("no PubAck within 10s")
		case <-ctx.Done():
			firstErr = ctx.Err()
		}
		break
	}
	if firstErr != nil {
		r.metrics.PublishErrors.Inc()
	}
	return done, firstErr
}

// oncePerInvoice is the longest prefix of entries with no invoice twice (at least one).
func oncePerInvoice(entries []bolt.OutboxEntry) []bolt.OutboxEntry {
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		if seen[e.Event.InvoiceID] {
			return entries[:i]
		}
		seen[e.Event.InvoiceID] = true
	}
	return entries
}

func (r *relay) eventMsg(e bolt.OutboxEntry) (*nats.Msg, error) {
	body, err := json.Marshal(events.New(e.Event, r.source))
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.Event.ID, err)
	}
	h := nats.Header{}
	h.Set(nats.MsgIdHdr, e.Event.ID)
	h.Set("Content-Type", "application/cloudevents+json")
	h.Set("Ce-Type", events.TypePrefix+string(e.Event.Type))
	return &nats.Msg{Subject: events.Subject(e.Event.Type), Header: h, Data: body}, nil
}
