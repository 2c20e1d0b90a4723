package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
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
	batch   int           // entries in flight (sent, waiting for their PubAcks) at most

	// frontier is the last entry published (entries go out in order); waiters are
	// the messages waiting for their events, by the entry each waits for: a move of
	// the frontier wakes those it passed, and no other (with thousands of messages in
	// flight and the frontier moving at each PubAck, waking them all each time would
	// cost more than the publishing).
	mu       sync.Mutex
	frontier uint64
	waiters  map[uint64][]chan struct{}

	// published is signalled when the frontier moved; forgetPublished then deletes the
	// entries up to it, apart from the publishing (deleted: how far it got).
	published chan struct{}
	deleted   uint64

	// ready are the events of changes made here and not yet published, each with its
	// message, keyed by outbox entry (under mu): the handler that made a change encodes
	// its events (offer), and the relay publishes them without reading them back from
	// the store. An entry not here (written before a restart, requeued, adopted, or
	// offered past maxReady) is read and encoded from the store, as every entry was.
	ready map[uint64]readyEvent
	// early are the PubAcks of events published before their change was committed
	// (publishEarly), by event id, until offerReady keys them by entry or the relay,
	// reading the entry first, takes them (under mu).
	early map[string]jetstream.PubAckFuture
	// started: Run read the outbox's last entry as it found it, startLast (under mu).
	// Until the frontier passes it nothing is published early (pastStart): the entries
	// a relay starts with may include some no invoice lists as unpublished (written by
	// a worker of an older schema), which Change.EarlierUnpublished cannot see and an
	// early event would overtake.
	started   bool
	startLast uint64

	// signer signs each event (the Standard Webhooks headers of events.Signer); nil:
	// events go unsigned (no WORKER_EVENTS_KEY, outside prod).
	signer *events.Signer
}

// pastStart says whether the entries the outbox held when Run started are out (under mu).
func (r *relay) pastStart() bool { return r.started && r.frontier >= r.startLast }

// readyEvent is an outbox entry's event with its message for PAYMENT_EVENTS, and the
// PubAck of its early publish (nil: none, or taken).
type readyEvent struct {
	event invoice.Event
	msg   *nats.Msg
	ack   jetstream.PubAckFuture
}

// maxReady bounds the events kept ready: while PAYMENT_EVENTS refuses, the outbox
// grows and the events past it are read from the store when their turn comes.
const maxReady = 4096

// maxEarly bounds the events published early whose PubAcks the relay has not taken
// yet (with the relay's own in flight, well below nats.go's bound on async publishes).
const maxEarly = 1024

func newRelay(store *bolt.Store, js jetstream.JetStream, source string, m *Metrics, log *slog.Logger) *relay {
	return &relay{store: store, js: js, source: source, metrics: m, log: log, wake: make(chan struct{}, 1),
		sweep: time.Second, batch: 256, waiters: make(map[uint64][]chan struct{}), published: make(chan struct{}, 1),
		ready: make(map[uint64]readyEvent), early: make(map[string]jetstream.PubAckFuture)}
}

// offer hands the relay the events of a change just committed, which took the outbox
// entries up to last: each is encoded here, in the caller's goroutine, once.
func (r *relay) offer(last uint64, events []invoice.Event) { r.offerReady(last, r.encode(events)) }

// encode makes the messages of a change's events, in the caller's goroutine (nil when
// one cannot be encoded: the relay reads them from the store, and reports the error).
func (r *relay) encode(events []invoice.Event) []readyEvent {
	if len(events) == 0 {
		return nil
	}
	ready := make([]readyEvent, 0, len(events))
	for _, e := range events {
		msg, err := r.eventMsg(bolt.OutboxEntry{Event: e})
		if err != nil {
			return nil
		}
		ready = append(ready, readyEvent{event: e, msg: msg})
	}
	return ready
}

// offerReady keeps a committed change's encoded events ready by their outbox entries (up
// to last), with the PubAck of the one published early, if any. Entries published
// already (read from the store meanwhile) are not kept.
func (r *relay) offerReady(last uint64, ready []readyEvent) {
	if last == 0 || len(ready) == 0 {
		return
	}
	first := last - uint64(len(ready)) + 1
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, re := range ready {
		seq := first + uint64(i)
		if seq <= r.frontier {
			delete(r.early, re.event.ID)
			continue
		}
		if len(r.ready) >= maxReady {
			continue // an early PubAck stays in early, where the relay finds it by event id
		}
		if f, ok := r.early[re.event.ID]; ok {
			re.ack = f
			delete(r.early, re.event.ID)
		}
		r.ready[seq] = re
	}
}

// publishEarly publishes a change's first event once its record is in the changelog,
// before the change is committed here: the PubAck comes while the commit and its fsync
// run, and the relay, reaching the entry, waits for that PubAck instead of publishing
// (takeAck). The record makes the change one of record (fenced by the invoice's last
// sequence), so the event is the change's whatever happens to this commit: a worker
// that dies before the commit adopts the record at its next delivery and publishes the
// record's events again, deduplicated by id, as for a death between the commit and the
// PubAck. The caller publishes early only what may go out before the relay's order: an
// invoice's first event of a change with none of its earlier events still in the outbox.
// Nothing is published early past maxEarly in flight, before the frontier passed the
// entries the relay started with (pastStart), nor when the publish is refused: the
// relay publishes it.
func (r *relay) publishEarly(re readyEvent) {
	r.mu.Lock()
	full := len(r.early) >= maxEarly || !r.pastStart()
	r.mu.Unlock()
	if full {
		return
	}
	f, err := r.js.PublishMsgAsync(&nats.Msg{Subject: re.msg.Subject, Header: re.msg.Header, Data: re.msg.Data})
	if err != nil {
		return
	}
	r.mu.Lock()
	r.early[re.event.ID] = f
	r.mu.Unlock()
}

// dropEarly forgets the early publish of an event whose change was not committed (its
// PubAck, if one comes, is nobody's: the change's record holds the event).
func (r *relay) dropEarly(ready []readyEvent) {
	if len(ready) == 0 {
		return
	}
	r.mu.Lock()
	delete(r.early, ready[0].event.ID)
	r.mu.Unlock()
}

// takeAck is the PubAck of entry e's event published early, taken once (nil: none, the
// relay publishes it): a publish that failed is not waited for again at the next drain.
func (r *relay) takeAck(e bolt.OutboxEntry) jetstream.PubAckFuture {
	r.mu.Lock()
	defer r.mu.Unlock()
	if re, ok := r.ready[e.Seq]; ok && re.ack != nil {
		f := re.ack
		re.ack = nil
		r.ready[e.Seq] = re
		return f
	}
	if f, ok := r.early[e.Event.ID]; ok {
		delete(r.early, e.Event.ID)
		return f
	}
	return nil
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
	r.mu.Lock()
	done := r.frontier >= seq
	r.mu.Unlock()
	if done {
		return nil
	}
	if queued, err := r.store.InOutbox(seq); err != nil || !queued {
		return err
	}
	// in the outbox: out once the frontier passes it (it only moves forward)
	ch := make(chan struct{})
	r.mu.Lock()
	if r.frontier >= seq {
		r.mu.Unlock()
		return nil
	}
	r.waiters[seq] = append(r.waiters[seq], ch)
	r.mu.Unlock()
	r.Wake()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		defer r.mu.Unlock()
		if ws := slices.DeleteFunc(r.waiters[seq], func(c chan struct{}) bool { return c == ch }); len(ws) > 0 {
			r.waiters[seq] = ws
		} else {
			delete(r.waiters, seq)
		}
		return ctx.Err()
	}
}

// advance notes the entries done (published, in order) and moves the frontier to the
// last of them, waking the messages waiting for the entries it passed.
func (r *relay) advance(done []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, seq := range done {
		delete(r.ready, seq)
	}
	last := done[len(done)-1]
	if last <= r.frontier {
		return
	}
	from := r.frontier
	r.frontier = last
	release := func(seq uint64) {
		for _, ch := range r.waiters[seq] {
			close(ch)
		}
		delete(r.waiters, seq)
	}
	if last-from <= uint64(len(r.waiters)) { // the span passed, or the waiters, whichever is fewer
		for seq := from + 1; seq <= last; seq++ {
			release(seq)
		}
		return
	}
	for seq := range r.waiters {
		if seq <= last {
			release(seq)
		}
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
	if last, err := r.store.OutboxLast(); err != nil {
		r.log.Warn("read the outbox's last entry: no event is published early", "err", err)
	} else {
		r.mu.Lock()
		r.startLast, r.started = last, true
		r.mu.Unlock()
	}
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
//
// It is pipelined: entries committed while others wait for their PubAcks are sent at
// once (a wake), not after the whole batch in flight was acked, and each handler's wait
// ends with its own entry's PubAck (and those before it), not its batch's last. Rounds
// that waited for all their PubAcks before the next was sent put the wait for the round
// in flight into every message's events hop (bench/NOTES.md, session 16).
//
// An invoice's next event is not sent before its previous one is acked (sendable):
// pipelined, a NATS restart could store the second first, the first written to the
// server that died, the second kept in the client's reconnect buffer and sent to the
// server that came back. The frontier moves over acked entries in outbox order only.
func (r *relay) drain(ctx context.Context) error {
	r.mu.Lock()
	cursor := r.frontier // the last entry sent
	r.mu.Unlock()
	var (
		sent    []sentEntry         // in outbox order, waiting for their PubAcks
		busy    = map[string]bool{} // the invoices of sent
		blocked string              // the invoice whose previous event holds the next entry back
		more    = true              // the outbox may hold entries after cursor: read it
		sendErr error               // a publish refused: send nothing more this drain
		done    []uint64            // the entries of one advance
	)
	timeout := time.NewTimer(pubAckWait)
	defer timeout.Stop()
	for ctx.Err() == nil {
		if more && sendErr == nil && len(sent) < r.batch {
			more = false
			limit := r.batch - len(sent)
			entries, err := r.store.OutboxAfterExcept(cursor, limit, r.isReady)
			if err != nil {
				return err
			}
			msgs := r.fill(entries)
			n := len(sendable(entries, busy))
			if n < len(entries) {
				blocked = entries[n].Event.InvoiceID
			} else {
				more = len(entries) == limit // a full read: more may follow
			}
			for i, e := range entries[:n] {
				f := r.takeAck(e) // published early: its PubAck is waited for, not sent again
				if f == nil {
					msg := msgs[i]
					if msg == nil {
						if msg, err = r.eventMsg(e); err != nil {
							sendErr = err
							break
						}
					}
					if f, err = r.js.PublishMsgAsync(msg); err != nil {
						sendErr = err
						break
					}
				}
				if len(sent) == 0 {
					timeout.Reset(pubAckWait)
				}
				sent = append(sent, sentEntry{seq: e.Seq, invoiceID: e.Event.InvoiceID, typ: e.Event.Type, ack: f})
				busy[e.Event.InvoiceID] = true
				cursor = e.Seq
			}
		}
		if len(sent) == 0 {
			if sendErr != nil {
				r.metrics.PublishErrors.Inc()
				return sendErr
			}
			if !more {
				return nil
			}
			continue
		}
		head := sent[0]
		select {
		case ack := <-head.ack.Ok():
			// this PubAck and those in after it, in order: the frontier moves once
			done = done[:0]
			for ok := true; ok; ack, ok = nextAck(sent) {
				head, sent = sent[0], sent[1:]
				delete(busy, head.invoiceID)
				if head.invoiceID == blocked {
					blocked, more = "", true
				}
				if !ack.Duplicate { // a republish after a crash is not a new event
					r.metrics.EventsPublished.WithLabelValues(string(head.typ)).Inc()
				}
				done = append(done, head.seq)
			}
			r.advance(done) // out: their messages may be acked now
			select {
			case r.published <- struct{}{}:
			default:
			}
			timeout.Reset(pubAckWait)
		case err := <-head.ack.Err():
			r.metrics.PublishErrors.Inc()
			return err // those sent after it are sent again (duplicates the stream drops by id)
		case <-timeout.C:
			r.metrics.PublishErrors.Inc()
			return fmt.Errorf("no PubAck within %s", pubAckWait)
		case <-r.wake: // committed meanwhile: sent now, beside those in flight
			more = true
		case <-ctx.Done():
		}
	}
	return ctx.Err()
}

// nextAck is the PubAck of sent's first entry when it is in already (a failure is left
// for the caller's wait to find).
func nextAck(sent []sentEntry) (*jetstream.PubAck, bool) {
	if len(sent) == 0 {
		return nil, false
	}
	select {
	case ack := <-sent[0].ack.Ok():
		return ack, true
	default:
		return nil, false
	}
}

// pubAckWait bounds the wait for an event's PubAck: past it, the relay starts over from
// the frontier after a backoff.
const pubAckWait = 10 * time.Second

// sentEntry is an outbox entry published and waiting for its PubAck.
type sentEntry struct {
	seq       uint64
	invoiceID string
	typ       invoice.EventType
	ack       jetstream.PubAckFuture
}

// forgetPublished deletes the entries the relay published, up to its frontier, each time
// it moved, until ctx ends; then once more. The deletes share the applies' transactions
// and their fsync, and the relay publishes meanwhile: a relay waiting for a delete of its
// own (the writer's lock behind a commit, then an fsync) put two fsyncs between a commit
// and the events of the commit after it.
//
// Entries published and not yet deleted when the worker dies are published again at its
// next start, as duplicates the stream drops by their ids within its duplicate window
// (as an entry between its PubAck and its delete always was).
func (r *relay) forgetPublished(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.deletePublished() // what was published last: not again at the next start
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
		r.log.Warn("delete published outbox entries; again after the next PubAcks", "err", err)
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

// sendable is the longest prefix of entries that may be sent now: no invoice in it
// twice, nor one with an event sent and not yet acked (busy).
func sendable(entries []bolt.OutboxEntry, busy map[string]bool) []bolt.OutboxEntry {
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		if seen[e.Event.InvoiceID] || busy[e.Event.InvoiceID] {
			return entries[:i]
		}
		seen[e.Event.InvoiceID] = true
	}
	return entries
}

func (r *relay) eventMsg(e bolt.OutboxEntry) (*nats.Msg, error) {
	ce := events.New(e.Event, r.source)
	body, err := ce.AppendJSON(make([]byte, 0, 2048)) // room for most events: one allocation
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.Event.ID, err)
	}
	h := nats.Header{}
	h.Set(nats.MsgIdHdr, e.Event.ID)
	h.Set("Content-Type", "application/cloudevents+json")
	h.Set("Ce-Type", events.TypePrefix+string(e.Event.Type))
	if r.signer != nil {
		ts := ce.Time.Unix()
		h.Set(events.HeaderID, e.Event.ID)
		h.Set(events.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(events.HeaderSignature, r.signer.Sign(e.Event.ID, ts, body))
	}
	return &nats.Msg{Subject: events.Subject(e.Event.Type), Header: h, Data: body}, nil
}
