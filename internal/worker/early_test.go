package worker

import (
	"context"
	"errors"
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
)

// A change's event is published as soon as its record is in the changelog, while the
// change's commit and fsync run: it reaches NATS while the commit is held, the relay
// waits for that PubAck instead of publishing the event again, and the message's wait
// ends once both are done. An event of an invoice whose earlier event is still in the
// outbox is not published early: the two go out in the relay's order, the earlier first.
func TestAnEventIsPublishedWhileItsChangeIsCommitted(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, e.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamState); err != nil {
		t.Fatal(err)
	}
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
	var release sync.Once // the writer let go, also when the test fails while holding it
	letGo := func() { release.Do(func() { holding.Store(false); close(hold) }) }
	store, err := bolt.Open(t.TempDir()+"/early.db", bolt.Options{OnCommit: func(time.Duration) {
		if holding.Load() {
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
		eventsWait: time.Second, dupWindow: time.Minute, changes: &changelog{js: e.js, shards: inbox.DefaultShards}}
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
