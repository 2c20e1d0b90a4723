package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// newDispatcher is a dispatcher on an embedded NATS with the streams and the endpoint
// bucket made, its watch not started, and a context that ends after limit (or with the
// test).
func newDispatcher(t *testing.T, limit time.Duration) (context.Context, *Store, *Dispatcher) {
	t.Helper()
	srv := natstest.Start(t)
	js := natstest.JetStream(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	if err := natsbus.EnsureAll(ctx, js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, store, NewDispatcher(Config{}, store, NewMetrics(nil), nil)
}

// An endpoint registered before an event was received gets the event, however far the
// dispatcher's endpoint watch lags behind the bucket: the event waits for the watch to
// reach the bucket's latest endpoint write, and past catchUp it is tried again rather
// than acked with the endpoint missing. (A clean-clone CI run saw an event acked unseen
// by the endpoint registered just before it was published: the watch had not applied
// the registration yet.)
func TestAnEventWaitsForTheEndpointsWrittenBeforeIt(t *testing.T) {
	ctx, store, d := newDispatcher(t, 30*time.Second)
	d.catchUp = 300 * time.Millisecond
	if err := d.caughtUp(ctx, time.Now()); err != nil {
		t.Fatalf("no endpoint written: %v, want caught up at once", err)
	}
	if err := store.PutEndpoint(ctx, Endpoint{ID: "ep_0000000000000001", URL: "https://merchant.example/hook", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(events.CloudEvent{SpecVersion: "1.0", ID: "ev-1", Source: "test", Type: events.TypePrefix + "paid",
		Subject: "INV-1", Time: time.Now().UTC(), DataContentType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	// the watch not started: as far behind as a watch can be
	done, _, err := d.handle(ctx, message.NewMessage("m-1", body), 0, time.Now())
	if done || err == nil {
		t.Fatalf("event handled with the endpoint's registration not yet applied: done %v, err %v; want it tried again", done, err)
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	go d.watch(wctx, ready)
	<-ready
	if err := d.caughtUp(ctx, time.Now()); err != nil {
		t.Fatalf("with the watch running: %v", err)
	}
	if eps := d.matching(events.TypePrefix+"paid", time.Now()); len(eps) != 1 || eps[0].ID != "ep_0000000000000001" {
		t.Fatalf("endpoints %+v, want ep_0000000000000001", eps)
	}
	if err := store.PutEndpoint(ctx, Endpoint{ID: "ep_0000000000000002", URL: "https://merchant.example/hook2", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := d.caughtUp(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if eps := d.matching(events.TypePrefix+"paid", time.Now()); len(eps) != 2 {
		t.Fatalf("%d endpoints right after the second registration, want 2", len(eps))
	}
	// a removal is a write too (a purge marker, the bucket's latest endpoint write)
	if err := store.DeleteEndpoint(ctx, "ep_0000000000000002"); err != nil {
		t.Fatal(err)
	}
	if err := d.caughtUp(ctx, time.Now()); err != nil {
		t.Fatalf("after a removal: %v", err)
	}
	if eps := d.matching(events.TypePrefix+"paid", time.Now()); len(eps) != 1 {
		t.Fatalf("%d endpoints right after the removal, want 1", len(eps))
	}
	// a dispatcher started after it: its watch's initial values reach that write too
	fresh := NewDispatcher(Config{}, store, NewMetrics(nil), nil)
	fresh.catchUp = 2 * time.Second
	freshReady := make(chan struct{})
	go fresh.watch(wctx, freshReady)
	<-freshReady
	if err := fresh.caughtUp(ctx, time.Now()); err != nil {
		t.Fatalf("a dispatcher started after the removal: %v", err)
	}
}

// Stopping the service is not a failure of its endpoint watch: its updates end with its
// context (the subscription is closed once the context is done), and a watch busy with
// an update when it was stopped finds both ended; whichever it takes, it returns nil. (A
// clean-clone CI run failed TestDeadLetterAndReplay with "endpoint watch stopped" at
// shutdown.)
func TestTheEndpointWatchStopsCleanlyWithItsContext(t *testing.T) {
	ctx, store, d := newDispatcher(t, 60*time.Second)
	for i := range 20 {
		wctx, stop := context.WithCancel(ctx)
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() { done <- d.watch(wctx, ready) }()
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatal("the watch never held the endpoints")
		}
		d.mu.Lock() // the watch's next update waits in apply
		id := fmt.Sprintf("ep_%016x", i+1)
		if err := store.PutEndpoint(ctx, Endpoint{ID: id, URL: "https://merchant.example/hook", CreatedAt: time.Now().UTC()}); err != nil {
			d.mu.Unlock()
			t.Fatal(err)
		}
		stop()
		time.Sleep(50 * time.Millisecond) // the subscription closes behind the context
		d.mu.Unlock()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("stop %d: the watch returned %v, want nil", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("stop %d: the watch did not return", i)
		}
	}
}
