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
}

func newRelay(store *bolt.Store, js jetstream.JetStream, source string, m *Metrics, log *slog.Logger) *relay {
	return &relay{store: store, js: js, source: source, metrics: m, log: log, wake: make(chan struct{}, 1),
		sweep: time.Second, batch: 256, advanced: make(chan struct{}), published: make(chan struct{}, 1)}
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

func (r *relay) advance(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq > r.frontier {
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
		entries, err := r.store.OutboxAfter(after, r.batch)
		if err != nil || len(entries) == 0 {
			return err
		}
		done, err := r.publish(ctx, entries)
		if len(done) > 0 { // out: their messages may be acked now; the delete is the relay's own bookkeeping
			r.advance(done[len(done)-1])
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

// publish sends entries pipelined, in order, and returns the sequences acked, stopping
// at the first failure so that one invoice's events keep their order.
//
// An invoice's next event is not sent before its previous one is acked: the batch ends
// before an invoice's second entry (the next drain sends it). Pipelined, a NATS restart
// could store the second first: the first written to the server that died, the second
// kept in the client's reconnect buffer and sent to the server that came back.
func (r *relay) publish(ctx context.Context, entries []bolt.OutboxEntry) ([]uint64, error) {
	entries = oncePerInvoice(entries)
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	var firstErr error
	for _, e := range entries {
		msg, err := r.eventMsg(e)
		if err != nil {
			return nil, err
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
