package worker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// What the relay sends ends before an invoice's second event, and before an event of an
// invoice whose previous one is still waiting for its PubAck: it is sent only once that
// one is acked, so a NATS restart between the two cannot store them out of order.
func TestTheRelaySendsAnInvoicesNextEventOnlyAfterItsPrevious(t *testing.T) {
	entry := func(seq uint64, inv string) bolt.OutboxEntry {
		return bolt.OutboxEntry{Seq: seq, Event: invoice.Event{InvoiceID: inv}}
	}
	seqs := func(es []bolt.OutboxEntry) []uint64 {
		var out []uint64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, c := range []struct {
		in   []bolt.OutboxEntry
		busy []string
		want []uint64
	}{
		{[]bolt.OutboxEntry{entry(1, "A"), entry(2, "B"), entry(3, "A"), entry(4, "C")}, nil, []uint64{1, 2}},
		{[]bolt.OutboxEntry{entry(5, "A"), entry(6, "A")}, nil, []uint64{5}},
		{[]bolt.OutboxEntry{entry(7, "A"), entry(8, "B"), entry(9, "C")}, nil, []uint64{7, 8, 9}},
		{[]bolt.OutboxEntry{entry(7, "A"), entry(8, "B"), entry(9, "C")}, []string{"B"}, []uint64{7}},
		{[]bolt.OutboxEntry{entry(7, "A"), entry(8, "B")}, []string{"A"}, nil},
		{[]bolt.OutboxEntry{entry(7, "A"), entry(8, "B")}, []string{"C"}, []uint64{7, 8}},
		{nil, []string{"A"}, nil},
	} {
		busy := map[string]bool{}
		for _, id := range c.busy {
			busy[id] = true
		}
		if got := seqs(sendable(c.in, busy)); !slices.Equal(got, c.want) {
			t.Errorf("sendable(%v, busy %v) = %v, want %v", seqs(c.in), c.busy, got, c.want)
		}
	}
}

// The relay is pipelined: an event committed while another waits for its PubAck is sent
// at once, yet an invoice's next event waits for its previous one's PubAck, and a
// message's wait ends only when every entry up to its own is acked. The test answers
// the PubAcks itself, on a real nats-server (a stream would answer at once, and this is
// about what the relay does while one has not come yet).
func TestTheRelaySendsWhileEarlierEventsWaitForTheirPubAcks(t *testing.T) {
	srv := natstest.Start(t)
	js := natstest.JetStream(t, srv.URL())
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sent := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("payments.>", sent)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(t.TempDir()+"/relay.db", bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rl := newRelay(store, js, "epayflow/test", NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); rl.Run(ctx) }()
	defer func() { cancel(); <-stopped }()

	queue := func(invoiceID, n string) uint64 {
		t.Helper()
		last, err := store.Requeue(invoiceID, []invoice.Event{{ID: invoiceID + "-" + n, Type: invoice.EventPaid, InvoiceID: invoiceID, Time: time.Now().UTC()}})
		if err != nil {
			t.Fatal(err)
		}
		rl.Wake()
		return last
	}
	next := func(want string) *nats.Msg { t.Helper(); return nextPublished(t, sent, want) }
	none := func(why string) { t.Helper(); nonePublished(t, sent, why) }
	ack := func(m *nats.Msg, seq int) {
		t.Helper()
		if err := m.Respond([]byte(`{"stream":"PAYMENT_EVENTS","seq":` + strconv.Itoa(seq) + `}`)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(seq uint64, within time.Duration) error {
		wctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		return rl.waitPublished(wctx, seq)
	}

	queue("191111111", "1")
	a1 := next("191111111-1")
	b1Seq := queue("191111112", "1")
	b1 := next("191111112-1") // while a1 waits for its PubAck
	a2Seq := queue("191111111", "2")
	none("before the PubAck of the invoice's previous event")

	ack(b1, 2)
	if err := waitFor(b1Seq, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the wait for the second entry ended with %v while the first had no PubAck, want it still waiting", err)
	}
	ack(a1, 1)
	if err := waitFor(b1Seq, 5*time.Second); err != nil {
		t.Fatalf("the wait for the second entry once both were acked: %v", err)
	}
	a2 := next("191111111-2")
	ack(a2, 3)
	if err := waitFor(a2Seq, 5*time.Second); err != nil {
		t.Fatalf("the wait for the third entry once acked: %v", err)
	}
	rl.mu.Lock()
	frontier, waiting := rl.frontier, len(rl.waiters)
	rl.mu.Unlock()
	if frontier != a2Seq || waiting != 0 {
		t.Fatalf("frontier %d with %d entries waited for, want %d and none", frontier, waiting, a2Seq)
	}
}

// A message that stops waiting for its events (its wait timed out: it is nacked and
// comes again) takes only itself off its entry: another message waiting for the same
// entry is still woken when it is published, and an entry nobody waits for any more
// is not kept.
func TestAWaitThatEndsLeavesTheOtherWaitsOfItsEntry(t *testing.T) {
	store, err := bolt.Open(t.TempDir()+"/relay.db", bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rl := newRelay(store, nil, "epayflow/test", NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	seq, err := store.Requeue("191111111", []invoice.Event{{ID: "191111111-1", Type: invoice.EventPaid, InvoiceID: "191111111", Time: time.Now().UTC()}})
	if err != nil {
		t.Fatal(err)
	}
	waiting := func() (int, bool) {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		ws, ok := rl.waiters[seq]
		return len(ws), ok
	}
	waitOne := func(within time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		return rl.waitPublished(ctx, seq)
	}

	// a lone wait that times out leaves nothing behind
	if err := waitOne(50 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait for an entry nobody publishes ended with %v, want its deadline", err)
	}
	if n, kept := waiting(); kept {
		t.Fatalf("entry %d still listed with %d waits after its only wait ended", seq, n)
	}

	first := make(chan error, 1)
	go func() { first <- waitOne(time.Minute) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, _ := waiting(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first wait never registered")
		}
	}
	if err := waitOne(50 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the second wait ended with %v, want its deadline", err)
	}
	if n, _ := waiting(); n != 1 {
		t.Fatalf("%d waits left on the entry after the second ended, want the first", n)
	}
	rl.advance([]uint64{seq}) // published
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("the first wait ended with %v once its entry was published", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first wait was not woken when its entry was published")
	}
}

// nextPublished is the next message published to PAYMENT_EVENTS (sent: a core
// subscription to payments.>), which must be the event want, within 5 s.
func nextPublished(t *testing.T, sent <-chan *nats.Msg, want string) *nats.Msg {
	t.Helper()
	select {
	case m := <-sent:
		if id := m.Header.Get(nats.MsgIdHdr); id != want {
			t.Fatalf("published %s, want %s", id, want)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s not published within 5s", want)
		return nil
	}
}

// nonePublished fails the test when anything is published to PAYMENT_EVENTS within
// 300 ms (why says what it would have been).
func nonePublished(t *testing.T, sent <-chan *nats.Msg, why string) {
	t.Helper()
	select {
	case m := <-sent:
		t.Fatalf("published %s %s", m.Header.Get(nats.MsgIdHdr), why)
	case <-time.After(300 * time.Millisecond):
	}
}
