package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

func TestSameCallbackTenTimesAndRedeliveredMakesOneEvent(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	w := e.start(cfg)
	e.publishCreated(createdFor("191111111", 10000))
	raw := sample(t, "success.json")
	for i := range 10 { // 5 under the ingest's id (JetStream drops 4), 5 under other ids (the worker drops them)
		suffix := ""
		if i%2 == 1 {
			suffix = fmt.Sprintf(":again-%d", i)
		}
		e.publish(callbackMsg(t, raw, true, suffix))
	}
	waitState(t, w.url, "191111111", invoice.StatePaid)
	waitFor(t, 10*time.Second, "messages handled", func() bool { return consumerDone(t, e, inbox.Shard("191111111", cfg.Shards)) })
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	// NATS redelivers everything: a new consumer from the start of the stream
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shard := inbox.Shard("191111111", cfg.Shards)
	if err := e.js.DeleteConsumer(ctx, natsbus.StreamInbox, consumerName(shard)); err != nil {
		t.Fatal(err)
	}
	w = e.start(cfg)
	waitFor(t, 10*time.Second, "redelivered messages handled", func() bool { return consumerDone(t, e, shard) })
	if got := metricValue(t, w.url, `epayflow_worker_messages_total{kind="postlink",outcome="duplicate"}`); got != 6 {
		t.Errorf("duplicates after redelivery = %v, want 6 (5 ids, one applied, plus the redelivered 1)", got)
	}
	code, body := get(t, w.url, "191111111")
	if code != http.StatusOK || len(body.History) != 2 {
		t.Fatalf("history of %d entries, want 2 (created, callback once)", len(body.History))
	}
	if events := e.events(); len(events) != 1 || events[0].Type != "kz.epay.payment.paid" {
		t.Fatalf("events %+v, want one paid", events)
	}
}

// consumerDone reports whether a shard's consumer has nothing pending or unacked.
func consumerDone(t testing.TB, e *env, shard int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, natsbus.StreamInbox, consumerName(shard))
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

func allConsumersDone(t testing.TB, e *env, shards int) bool {
	for s := range shards {
		if !consumerDone(t, e, s) {
			return false
		}
	}
	return true
}

// scenario is a set of invoices with the callbacks each gets and the state it must end in.
type scenario struct {
	msgs  []*nats.Msg
	final map[string]invoice.State
}

// newScenario makes n invoices (n a multiple of 4): a quarter paid, a quarter failed, a
// quarter failed then paid (customer retried), a quarter paid with the wrong amount (review).
func newScenario(t testing.TB, n int) scenario { return newScenarioFrom(t, 700000000, n) }

// newScenarioFrom is newScenario with invoice ids from first on.
func newScenarioFrom(t testing.TB, first, n int) scenario {
	sc := scenario{final: map[string]invoice.State{}}
	for i := range n {
		id := fmt.Sprintf("%09d", first+i)
		created := createdFor(id, 10000)
		sc.msgs = append(sc.msgs, createdMsg(created))
		cb := func(tx, code string, amount string) *nats.Msg { return callbackFor(t, id, tx, code, amount) }
		switch i % 4 {
		case 0:
			sc.msgs, sc.final[id] = append(sc.msgs, cb("tx-a-"+id, "ok", "100")), invoice.StatePaid
		case 1:
			sc.msgs, sc.final[id] = append(sc.msgs, cb("tx-a-"+id, "error", "100")), invoice.StateFailed
		case 2:
			sc.msgs, sc.final[id] = append(sc.msgs, cb("tx-a-"+id, "error", "100"), cb("tx-b-"+id, "ok", "100")), invoice.StatePaid
		case 3:
			sc.msgs, sc.final[id] = append(sc.msgs, cb("tx-a-"+id, "ok", "99.5")), invoice.StateReview
		}
	}
	return sc
}

// callbackFor is a verified callback for invoice id, transaction tx, code "ok" or "error".
func callbackFor(t testing.TB, id, tx, code, amount string) *nats.Msg {
	raw := fmt.Sprintf(`{"id":"%s","invoiceId":"%s","code":"%s","amount":%s,"currency":"KZT","terminal":"%s","reasonCode":%d,"cardMask":"440043...2222"}`,
		tx, id, code, amount, sampleTerminal, map[string]int{"ok": 0, "error": 484}[code])
	return callbackMsg(t, []byte(raw), true, "")
}

func createdMsg(c invoice.Created) *nats.Msg {
	body := fmt.Appendf(nil, `{"invoiceId":"%s","kind":"payment","amount":%s,"currency":"%s","terminal":"%s"}`, c.InvoiceID, c.Amount, c.Currency, c.Terminal)
	return signedCreated(&nats.Msg{Subject: inbox.Subject(inbox.Shard(c.InvoiceID, inbox.DefaultShards), inbox.KindInvoice), Data: body}, c.InvoiceID)
}

// publishConcurrently publishes msgs from 16 goroutines, a fifth of them twice more under
// another Nats-Msg-Id (so JetStream keeps them and only the worker can drop them). A
// failed publish is a t.Errorf (the publishers are not the test's goroutine, and the
// tests call it from goroutines of their own): it returns how many were sent.
func publishConcurrently(t *testing.T, e *env, msgs []*nats.Msg, seed uint64) int {
	work := make(chan *nats.Msg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for range 16 {
		wg.Go(func() {
			for m := range work {
				if err := e.tryPublish(m); err != nil {
					t.Errorf("publish %s: %v", m.Subject, err)
					continue
				}
				mu.Lock()
				sent++
				mu.Unlock()
			}
		})
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i, m := range msgs {
		// the copy is made before m goes out: a publisher sets headers on it (Nats-Expected-Stream)
		var dup *nats.Msg
		if rng.IntN(5) == 0 {
			dup = &nats.Msg{Subject: m.Subject, Header: nats.Header{}, Data: m.Data}
			for k, v := range m.Header {
				dup.Header[k] = slices.Clone(v)
			}
			dup.Header.Set(nats.MsgIdHdr, m.Header.Get(nats.MsgIdHdr)+fmt.Sprintf(":dup-%d", i))
		}
		work <- m
		if dup != nil {
			work <- dup
		}
	}
	close(work)
	wg.Wait()
	return sent
}

// checkOneEventPerStateChange compares the stream with an independent model of the
// inbox (expectedEvents), then with the store: every event a state change recorded is on
// PAYMENT_EVENTS exactly once, and nothing else is. The model comes first: the store's
// history alone would pass a change whose events were never recorded.
func checkOneEventPerStateChange(t *testing.T, e *env, base string, sc scenario) {
	t.Helper()
	checkEventsAgainstModel(t, e, base, expectedEvents(t, e))
	want := map[string]bool{}
	for id, final := range sc.final {
		code, body := get(t, base, id)
		if code != http.StatusOK || body.State != final {
			t.Fatalf("invoice %s: %d %s, want %s", id, code, body.State, final)
		}
		for _, h := range body.History {
			for _, ev := range h.Events {
				if want[ev] {
					t.Fatalf("event id %s recorded twice", ev)
				}
				want[ev] = true
			}
		}
	}
	waitFor(t, 20*time.Second, "every event published", func() bool { return e.eventCount() >= uint64(len(want)) })
	events := e.events()
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.ID] || !want[ev.ID] {
			t.Fatalf("event %s published twice (%v) or never recorded (%v)", ev.ID, seen[ev.ID], !want[ev.ID])
		}
		seen[ev.ID] = true
	}
	if len(events) != len(want) {
		t.Fatalf("%d events published, %d state changes recorded", len(events), len(want))
	}
	t.Logf("%d invoices, %d events", len(sc.final), len(events))
}

func TestThousandCallbacksAcrossShardsWithDuplicatesMakeOneEventPerStateChange(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	w := e.start(cfg)
	sc := newScenario(t, 800) // 1,000 callbacks and 800 invoice.created
	start := time.Now()
	sent := publishConcurrently(t, e, sc.msgs, 1)
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, cfg.Shards) })
	t.Logf("%d messages published and applied in %s", sent, time.Since(start))
	checkOneEventPerStateChange(t, e, w.url, sc)
	if got := metricValue(t, w.url, "epayflow_worker_outbox_backlog"); got != 0 {
		waitFor(t, 10*time.Second, "outbox empty", func() bool { return metricValue(t, w.url, "epayflow_worker_outbox_backlog") == 0 })
	}
}

func TestWorkerCancelledMidStreamAndRestartedLosesAndDoublesNothing(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	w := e.start(cfg)
	sc := newScenario(t, 400)
	published := make(chan struct{})
	go func() { defer close(published); publishConcurrently(t, e, sc.msgs, 2) }()
	// stop while messages are being applied and events relayed
	waitFor(t, 30*time.Second, "some events", func() bool { return e.eventCount() >= 20 })
	if err := w.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stoppedAt := e.eventCount()
	<-published
	w = e.start(cfg) // same file, same durable consumers
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, cfg.Shards) })
	t.Logf("stopped with %d events published; restarted", stoppedAt)
	checkOneEventPerStateChange(t, e, w.url, sc)
}
