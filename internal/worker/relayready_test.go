package worker

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// An event the handler hands the relay ready (offer) is the message the relay would
// build from the store's outbox entry, byte for byte: for ePay's documented success and
// failure samples, an unmatched callback applied by its invoice.created, and a refund.
// The relay publishes the ready ones without reading them back, so any difference
// would be a different event on PAYMENT_EVENTS depending on whether the worker
// restarted in between.
func TestReadyEventsAreTheEventsReadFromTheStore(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "worker.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rl := newRelay(store, nil, "epayflow/test", NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	dec := inbox.Decoder{Shards: inbox.DefaultShards, Keys: testKeys}
	decode := func(m *nats.Msg) invoice.Message {
		t.Helper()
		if m.Header.Get(inbox.HeaderReceivedAt) == "" {
			m.Header.Set(inbox.HeaderReceivedAt, time.Now().In(time.FixedZone("ALMT", 5*3600)).Format(time.RFC3339Nano))
		}
		d, err := dec.Decode(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return d.Message
	}
	const paid, early, mismatch = "191111111", "191111113", "191111114"
	success := sample(t, "success.json")
	failure := sample(t, "failure.json")
	failed, err := epay.DecodeCallback(failure)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []invoice.Message
	for _, m := range []*nats.Msg{
		callbackMsg(t, []byte(strings.Replace(string(success), paid, early, 1)), true, ""), // before its invoice
		createdMsg(createdFor(paid, 10000)), callbackMsg(t, success, true, ""),
		createdMsg(createdFor(failed.InvoiceID, 10000)), callbackMsg(t, failure, true, ""),
		createdMsg(createdFor(early, 10000)),
		createdMsg(createdFor(mismatch, 20000)), callbackMsg(t, []byte(strings.Replace(string(success), paid, mismatch, 1)), true, ""), // to review
	} {
		msgs = append(msgs, decode(m))
	}
	for _, phase := range []string{invoice.PhaseStarted, invoice.PhaseDone} {
		step := invoice.OperationStep{ID: "refund-1", Type: invoice.OpRefund, Phase: phase, Amount: 2000, At: time.Now().UTC()}
		if phase == invoice.PhaseDone {
			step.Outcome = invoice.OpSucceeded
		}
		msgs = append(msgs, invoice.Message{ID: "op:" + paid + ":refund-1:" + phase, InvoiceID: paid, Kind: invoice.MsgOperation,
			ReceivedAt: time.Now().UTC(), Operation: &step})
	}

	checked := 0
	for _, m := range msgs {
		ch, err := store.Prepare(m, time.Now().UTC())
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		last, err := store.Commit(ch, 0)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		rl.offer(last, ch.Result.Events)
		from, err := store.OutboxAfter(last-uint64(len(ch.Result.Events)), len(ch.Result.Events))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range from {
			rl.mu.Lock()
			re, ok := rl.ready[e.Seq]
			rl.mu.Unlock()
			if !ok {
				t.Fatalf("%s: outbox entry %d not kept ready", m.ID, e.Seq)
			}
			want, err := rl.eventMsg(e)
			if err != nil {
				t.Fatal(err)
			}
			if re.msg.Subject != want.Subject || !bytes.Equal(re.msg.Data, want.Data) || !reflect.DeepEqual(re.msg.Header, want.Header) {
				t.Errorf("event %s kept ready:\n%s %v %s\nfrom the store:\n%s %v %s", e.Event.ID, re.msg.Subject, re.msg.Header, re.msg.Data,
					want.Subject, want.Header, want.Data)
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("compared %d events, want the paid, failed, early-paid, review and refund ones at least", checked)
	}
}

// The ready events are let go as they are published, and an offer of entries published
// already (read from the store before the offer came) keeps nothing: they would stay.
func TestReadyEventsAreLetGoOncePublished(t *testing.T) {
	rl := newRelay(nil, nil, "epayflow/test", NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	ev := func(id string) invoice.Event {
		return invoice.Event{ID: id + "-2", Type: invoice.EventPaid, InvoiceID: id, Time: time.Now().UTC()}
	}
	rl.offer(2, []invoice.Event{ev("191111111"), ev("191111112")}) // entries 1 and 2
	rl.offer(3, []invoice.Event{ev("191111113")})
	if n := len(rl.ready); n != 3 {
		t.Fatalf("%d events ready, want 3", n)
	}
	rl.advance([]uint64{1, 2})
	if _, ok := rl.ready[3]; !ok || len(rl.ready) != 1 {
		t.Fatalf("after entries 1-2 were published: %d ready, want entry 3 alone", len(rl.ready))
	}
	rl.advance([]uint64{3, 4}) // 4 read from the store and published before its offer
	rl.offer(4, []invoice.Event{ev("191111114")})
	if len(rl.ready) != 0 {
		t.Fatalf("%d events ready after all were published, want none", len(rl.ready))
	}
	for i := range maxReady + 10 {
		rl.offer(uint64(10+i), []invoice.Event{ev("191111115")})
	}
	if len(rl.ready) != maxReady {
		t.Fatalf("%d events ready, want the bound %d", len(rl.ready), maxReady)
	}
}
