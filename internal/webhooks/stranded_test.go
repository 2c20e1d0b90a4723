package webhooks_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// An event left at the head of its invoice's queue after its message was acked (a
// redelivered copy put it back there after the original was settled, and its nak was
// ignored) can never come back by itself, and every later event of the invoice would
// wait behind it forever: the cluster chaos lost one so. The dispatcher finds it silent
// past every bound a live event keeps, delivers it from PAYMENT_EVENTS, then the one
// that waited, in order.
func TestAnEventStrandedAtTheHeadOfItsQueueIsDeliveredFromTheStream(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout, cfg.AckWait = 500*time.Millisecond, time.Second
	s := startStack(t, cfg)
	rc := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	epID, _ := s.register(t, rc.URL)
	s.publish(t, "ev-s0", "created", "INV-S0") // the consumer is there once it is delivered
	waitFor(t, "the first event delivered", func() bool { return len(rc.delivered()) == 1 })
	s.stop()

	s.publish(t, "ev-head", "review", "INV-S1")
	s.publish(t, "ev-next", "paid", "INV-S1")
	js := s.asWebhooks(t, "test-strand")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, events.Stream, "webhooks")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var headSeq uint64
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		headSeq = meta.Sequence.Stream
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if headSeq == 0 {
		t.Fatal("the head's message was not fetched")
	}
	store, err := webhooks.OpenStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Enqueue(ctx, epID, base64.RawURLEncoding.EncodeToString([]byte("INV-S1")), headSeq); err != nil {
		t.Fatal(err)
	}

	s.stop = s.run(t)
	waitFor(t, "the stranded head and the event behind it delivered", func() bool { return len(rc.delivered()) == 3 })
	got := rc.delivered()
	if h, n := slices.Index(got, "ev-head"), slices.Index(got, "ev-next"); h < 0 || n < h {
		t.Fatalf("delivered %v: want ev-head before ev-next", got)
	}
	waitFor(t, "the invoice's queue empty", func() bool {
		q, err := store.Queue(ctx, epID, base64.RawURLEncoding.EncodeToString([]byte("INV-S1")))
		return err == nil && len(q) == 0
	})
}
