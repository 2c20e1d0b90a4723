package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// A change's event is published as soon as its record is in the changelog, while the
// change's commit and fsync run: it reaches NATS while the commit is held, the relay
// waits for that PubAck instead of publishing the event again, and the message's wait
// ends once both are done. An event of an invoice whose earlier event is still in the
// outbox is not published early: the two go out in the relay's order, the earlier first.
func TestAnEventIsPublishedWhileItsChangeIsCommitted(t *testing.T) {
	e, ctx := withState(t, 60*time.Second)
	sent := make(chan *nats.Msg, 64) // every publish to PAYMENT_EVENTS, a duplicate too
	sub, err := e.nc.ChanSubscribe("payments.>", sent)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var holding atomic.Bool
	hold := make(chan struct{})
	held := make(chan struct{}, 1) // a commit is holding the writer
	var release sync.Once          // the writer let go, also when the test fails while holding it
	letGo := func() { release.Do(func() { holding.Store(false); close(hold) }) }
	store, err := bolt.Open(t.TempDir()+"/early.db", bolt.Options{OnCommit: func(time.Duration) {
		if holding.Load() {
			select {
			case held <- struct{}{}:
			default:
			}
			<-hold // the commit is durable, its callers not yet told, the writer held
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	defer letGo() // before the store closes
	m := NewMetrics(prometheus.NewRegistry())
	startRelay := func() (*relay, func()) {
		rl := newRelay(store, e.js, "epayflow/test", m, e.log)
		rctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); rl.Run(rctx) }()
		return rl, func() { stop(); <-stopped }
	}
	rl, stopRelay := startRelay()
	a := &applier{store: store, dec: decoder{inbox: inbox.Decoder{Shards: inbox.DefaultShards, Keys: e.config().Keys}},
		metrics: m, log: e.log, relay: rl, now: func() time.Time { return time.Now().UTC() },
		eventsWait: time.Second, dupWindow: time.Minute, changes: testChangelog(t, e)}
	handle := func(msg *nats.Msg) <-chan error {
		done := make(chan error, 1)
		go func() { done <- a.handle(asDelivered(msg)) }()
		return done
	}
	next := func(want string) { t.Helper(); nextPublished(t, sent, want) }
	none := func(why string) { t.Helper(); nonePublished(t, sent, why) }
	result := func(done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not return within 10s")
			return nil
		}
	}

	const id = "831111111"
	if err := result(handle(createdMsg(createdFor(id, 10000)))); err != nil {
		t.Fatal(err)
	}
	// the store's writer held by another commit: the failed change is not even begun
	blocker, err := store.Prepare(invoice.CreatedMessage("blocker", createdFor("839999999", 100), time.Now()), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	holding.Store(true)
	blocked := make(chan error, 1)
	go func() { _, err := store.Commit(blocker, 0); blocked <- err }()
	// the blocker must hold the writer before the callback comes: else the callback's
	// change may take the writer first and be committed (v2) while the blocker waits
	select {
	case <-held:
	case err := <-blocked:
		t.Fatalf("the blocker's commit ended (%v) without holding the writer", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the blocker did not hold the writer within 10s")
	}
	failed := handle(callbackFor(t, id, "tx-1", "error", "100"))
	next(id + "-2") // while its commit waits for the writer
	if inv, _, err := store.Get(id); err != nil || inv.Version != 1 {
		t.Fatalf("invoice v%d (%v) while the writer was held, want v1: the event went out after the commit", inv.Version, err)
	}
	select {
	case err := <-failed:
		t.Fatalf("the handler returned (%v) while the writer was held", err)
	default:
	}
	letGo()
	if err := result(blocked); err != nil {
		t.Fatal(err)
	}
	if err := result(failed); err != nil {
		t.Fatal(err)
	}
	none("again: the relay took the early publish's PubAck")
	if inv, _, err := store.Get(id); err != nil || inv.Version != 2 {
		t.Fatalf("invoice v%d (%v), want the failed change committed (v2)", inv.Version, err)
	}

	// the relay stopped: the next invoice's failed event is published early (its
	// change has no earlier one), and stays in the outbox, the relay not there to take
	// its PubAck; the invoice's paid event then waits for the relay
	stopRelay()
	const other = "831111112"
	if err := result(handle(createdMsg(createdFor(other, 10000)))); err != nil {
		t.Fatal(err)
	}
	if err := result(handle(callbackFor(t, other, "tx-1", "error", "100"))); !errors.Is(err, errEventsPending) {
		t.Fatalf("failed callback with the relay stopped: %v, want its events pending", err)
	}
	next(other + "-2")
	if err := result(handle(callbackFor(t, other, "tx-2", "ok", "100"))); !errors.Is(err, errEventsPending) {
		t.Fatalf("success callback with the relay stopped: %v, want its events pending", err)
	}
	none("early, with the invoice's earlier event still in the outbox")
	rl2, stopRelay2 := startRelay()
	defer stopRelay2()
	next(other + "-2") // again (a duplicate the stream drops): this relay never saw its PubAck
	next(other + "-3")
	waitFor(t, 5*time.Second, "the outbox published", func() bool {
		n, err := store.Outbox(10)
		return err == nil && len(n) == 0
	})
	rl2.mu.Lock()
	defer rl2.mu.Unlock()
	if len(rl2.early) != 0 || len(rl2.ready) != 0 {
		t.Fatalf("%d early publishes and %d ready events left, want none", len(rl2.early), len(rl2.ready))
	}
}

// The relay's book of early publishes: none before the relay knows the outbox it starts
// with, at most maxEarly PubAcks untaken (past it the relay publishes), each taken once,
// by entry once offered and by event id before that, and forgotten when its change was
// not committed or is out already.
func TestEarlyPublishesAreBoundedTakenOnceAndForgotten(t *testing.T) {
	srv := natstest.Start(t)
	js := natstest.JetStream(t, srv.URL())
	sent := make(chan *nats.Msg, 16)
	sub, err := js.Conn().ChanSubscribe("payments.>", sent)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := js.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(t.TempDir()+"/book.db", bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rl := newRelay(store, js, "epayflow/test", NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	ev := func(id string) readyEvent {
		t.Helper()
		re := rl.encode([]invoice.Event{{ID: id, Type: invoice.EventPaid, InvoiceID: id[:9], Time: time.Now().UTC()}})
		if len(re) != 1 {
			t.Fatalf("encode %s: %d events", id, len(re))
		}
		return re[0]
	}
	// not run yet: the outbox it starts with unknown, nothing is published early
	rl.publishEarly(ev("841111110-2"))
	nonePublished(t, sent, "early by a relay that has not read the outbox it starts with")
	rl.mu.Lock()
	rl.started = true // an empty outbox at start
	rl.mu.Unlock()
	for i := range maxEarly - 1 {
		rl.early["filler-"+strconv.Itoa(i)] = nil
	}
	rl.publishEarly(ev("841111111-2"))
	nextPublished(t, sent, "841111111-2")
	if len(rl.early) != maxEarly || rl.early["841111111-2"] == nil {
		t.Fatalf("%d early publishes, want %d with 841111111-2's PubAck", len(rl.early), maxEarly)
	}
	rl.publishEarly(ev("841111112-2"))
	nonePublished(t, sent, "past maxEarly untaken early publishes")
	if _, ok := rl.early["841111112-2"]; ok || len(rl.early) != maxEarly {
		t.Fatalf("%d early publishes, 841111112-2 among them: want it left to the relay", len(rl.early))
	}
	rl.dropEarly([]readyEvent{ev("841111111-2")}) // its change was not committed
	if _, ok := rl.early["841111111-2"]; ok {
		t.Fatal("an early publish whose change was not committed is still in the book")
	}
	clear(rl.early)

	// by event id before the offer, taken once
	rl.publishEarly(ev("841111113-2"))
	nextPublished(t, sent, "841111113-2")
	entry := bolt.OutboxEntry{Seq: 3, Event: invoice.Event{ID: "841111113-2"}}
	if f := rl.takeAck(entry); f == nil {
		t.Fatal("the early PubAck not found by event id")
	}
	if f := rl.takeAck(entry); f != nil {
		t.Fatal("the early PubAck taken twice: a failed publish would be waited for again, never republished")
	}

	// by entry once offered (the book keyed by entry, not by id), taken once
	re := ev("841111114-2")
	rl.publishEarly(re)
	nextPublished(t, sent, "841111114-2")
	rl.offerReady(5, []readyEvent{re})
	if _, ok := rl.early["841111114-2"]; ok || rl.ready[5].ack == nil {
		t.Fatalf("offered: %d early publishes in the book, entry 5's PubAck kept %v; want it moved to entry 5", len(rl.early), rl.ready[5].ack != nil)
	}
	if f := rl.takeAck(bolt.OutboxEntry{Seq: 5, Event: re.event}); f == nil {
		t.Fatal("the early PubAck not found by entry")
	}
	if f := rl.takeAck(bolt.OutboxEntry{Seq: 5, Event: re.event}); f != nil {
		t.Fatal("the early PubAck taken twice by entry")
	}

	// offered when the relay is past the entry: nothing kept
	rl.frontier = 10
	late := ev("841111115-2")
	rl.publishEarly(late)
	nextPublished(t, sent, "841111115-2")
	rl.offerReady(7, []readyEvent{late})
	if _, ok := rl.early["841111115-2"]; ok {
		t.Fatal("an early PubAck of an entry already out is still in the book")
	}
	if _, ok := rl.ready[7]; ok {
		t.Fatal("an entry already out is kept ready")
	}
}

// A relay starting with entries in the outbox publishes nothing early until they are
// out: some may be listed as unpublished by no invoice (a worker of an older schema
// wrote them; here, a requeue for an invoice the store lacks), and an invoice's new
// event published early would overtake its older one.
func TestNothingIsPublishedEarlyBeforeTheOutboxARelayStartsWithIsOut(t *testing.T) {
	srv := natstest.Start(t)
	js := natstest.JetStream(t, srv.URL())
	store, err := bolt.Open(t.TempDir()+"/start.db", bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const id = "851111111"
	old := invoice.Event{ID: id + "-2", Type: invoice.EventFailed, InvoiceID: id, Time: time.Now().UTC()}
	if _, err := store.Requeue(id, []invoice.Event{old}); err != nil {
		t.Fatal(err)
	}
	rl := newRelay(store, js, "epayflow/test", NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	last, err := store.OutboxLast()
	if err != nil || last == 0 {
		t.Fatalf("outbox last %d (%v), want the requeued entry", last, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); rl.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	// PAYMENT_EVENTS missing: the old entry cannot go out, and stays
	ready := rl.encode([]invoice.Event{{ID: id + "-3", Type: invoice.EventPaid, InvoiceID: id, Time: time.Now().UTC()}})
	waitFor(t, 5*time.Second, "Run read the outbox", func() bool {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		return rl.startLast == last
	})
	rl.publishEarly(ready[0])
	rl.mu.Lock()
	early, past := len(rl.early), rl.pastStart()
	rl.mu.Unlock()
	if early != 0 || past {
		t.Fatalf("%d early publishes (past the start: %v) while the entry the relay started with is not out, want none", early, past)
	}
	if err := natsbus.EnsureStreams(context.Background(), js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	rl.Wake()
	waitFor(t, 10*time.Second, "the entry the relay started with published", func() bool {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		return rl.pastStart()
	})
	rl.publishEarly(ready[0])
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.early) != 1 {
		t.Fatalf("%d early publishes once the outbox the relay started with is out, want 1", len(rl.early))
	}
}
