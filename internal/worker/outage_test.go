package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// deleteStream takes a stream away under a running worker: its publishes get no answer
// (no responders) until recreateStream.
func deleteStream(t *testing.T, e *env, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.js.DeleteStream(ctx, name); err != nil {
		t.Fatalf("delete %s: %v", name, err)
	}
}

func recreateStream(t *testing.T, e *env, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, e.js, nil, natsbus.DefaultStreamsConfig(), name); err != nil {
		t.Fatalf("recreate %s: %v", name, err)
	}
}

// While PAYMENT_EVENTS refuses every publish, the applied changes' events wait in the
// outbox (an entry is deleted only after its PubAck) and their messages are not acked;
// once it is back, every event the model of the inbox expects is published exactly once,
// and no message waiting for its events went to the DLQ (WORKER_MAX_DELIVERIES is 2 here;
// AckWait, 2 s, redelivers the waiting messages meanwhile).
func TestEventsHeldInTheOutboxDuringAPaymentEventsOutageArePublishedOnceAfter(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxDeliveries = 2
	w := e.start(cfg)
	deleteStream(t, e, natsbus.StreamEvents)
	sc := newScenario(t, 160)
	publishConcurrently(t, e, sc.msgs, 3)
	// every invoice's first change with events is applied and held: one entry at least each
	held := 0.0
	waitFor(t, 60*time.Second, "an outbox backlog of one event per invoice", func() bool {
		held = metricValue(t, w.url, "epayflow_worker_outbox_backlog")
		return held >= float64(len(sc.final))
	})
	waitFor(t, 30*time.Second, "a failed publish", func() bool {
		return metricValue(t, w.url, "epayflow_worker_event_publish_errors_total") > 0
	})
	recreateStream(t, e, natsbus.StreamEvents)
	waitFor(t, 90*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, cfg.Shards) })
	waitFor(t, 20*time.Second, "outbox empty", func() bool { return metricValue(t, w.url, "epayflow_worker_outbox_backlog") == 0 })
	t.Logf("%.0f events held during the outage", held)
	checkOneEventPerStateChange(t, e, w.url, sc)
	if d := e.dlqEntries(); len(d) != 0 {
		t.Fatalf("%d messages waiting for their events went to the DLQ: %+v", len(d), d[0])
	}
}

// A message whose change cannot be made durable because EPAY_STATE refuses the write is
// retried in the handler, nacked with nakDelay and redelivered by NATS (AckWait is a
// minute: the redeliveries within the wait are the Naks') past WORKER_MAX_DELIVERIES,
// with nothing committed and never sent to the DLQ (an outage of EPAY_STATE must not
// send a shard's messages there out of their order); once the stream is back, the next
// delivery applies it, with no replay.
func TestAFailingChangelogWriteIsRedeliveredPastMaxDeliveriesNotDeadLettered(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxDeliveries, cfg.AckWait = 3, time.Minute
	w := e.start(cfg)
	deleteStream(t, e, natsbus.StreamState)
	const id = "191111112"
	e.publishCreated(createdFor(id, 10000))
	// each delivery: the handler and the Retry middleware's 3 retries; the 4th delivery
	// comes after nakDelay(1)+nakDelay(2)+nakDelay(3) = 7 s
	waitFor(t, 30*time.Second, "a 4th delivery, past WORKER_MAX_DELIVERIES", func() bool {
		return metricValue(t, w.url, `epayflow_worker_messages_total{kind="invoice",outcome="retried"}`) >= 16
	})
	if n := len(e.dlqEntries()); n != 0 {
		t.Fatalf("%d DLQ entries, want none: an outage of EPAY_STATE is waited out", n)
	}
	if got := metricValue(t, w.url, `epayflow_worker_messages_total{kind="invoice",outcome="poisoned"}`); got != 0 {
		t.Errorf("poisoned = %v, want 0", got)
	}
	if code, _ := get(t, w.url, id); code != http.StatusNotFound {
		t.Fatalf("GET %s = %d, want 404: nothing of a change the changelog refused is committed", id, code)
	}
	recreateStream(t, e, natsbus.StreamState)
	waitState(t, w.url, id, invoice.StateCreated)
}

func TestGiveUpPoisonsOnlyTransientErrorsAtMaxDeliveries(t *testing.T) {
	transient, pending := errors.New("store refused"), fmt.Errorf("%w: PAYMENT_EVENTS away", errEventsPending)
	tests := []struct {
		name      string
		delivered string
		err       error
		poisoned  bool
	}{
		{"ok", "10", nil, false},
		{"transient before the last delivery", "2", transient, false},
		{"transient at the last delivery", "3", transient, true},
		{"transient past the last delivery", "7", transient, true},
		{"events pending at the last delivery", "3", pending, false},
		{"events pending long after", "1000", pending, false},
		{"poison already", "1", poison("bad"), true},
		// EPAY_STATE's outage or a fence is waited out, never a reason for the DLQ
		{"changelog write failing long after", "1000", fmt.Errorf("%w of invoice 1: nats: no responders", errStateWrite), false},
		{"fenced long after", "1000", errors.Join(errFenced, errors.New("adopt")), false},
		{"a record not the workers' long after", "1000", fmt.Errorf("%w: 7 on epay.state.1.1", errRecordRefused), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := message.NewMessage("m", nil)
			msg.Metadata.Set(mdDelivered, tc.delivered)
			h := giveUp(3)(func(*message.Message) ([]*message.Message, error) { return nil, tc.err })
			_, err := h(msg)
			if !errors.Is(err, tc.err) && !(tc.poisoned && tc.err != nil) {
				t.Fatalf("err %v lost %v", err, tc.err)
			}
			if got := errors.Is(err, ErrPoison); got != tc.poisoned {
				t.Fatalf("poisoned = %v (%v), want %v", got, err, tc.poisoned)
			}
			if tc.poisoned && tc.err == transient && !strings.Contains(err.Error(), "gave up after "+tc.delivered+" deliveries: store refused") {
				t.Fatalf("err %q", err)
			}
		})
	}
}

func TestNakDelayDoublesFromOneSecondToAMinute(t *testing.T) {
	for delivered, want := range map[uint64]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second,
		7: time.Minute, 8: time.Minute, 1 << 40: time.Minute,
	} {
		if got := nakDelay(delivered); got != want {
			t.Errorf("nakDelay(%d) = %s, want %s", delivered, got, want)
		}
	}
}

// EPAY_STATE not taking records (here: not there at all) is an outage the message waits
// out: however many deliveries it took, it is not given up to the DLQ, and nothing of
// its change is committed.
func TestAChangelogThatTakesNoRecordIsWaitedOutNotPoisoned(t *testing.T) {
	e := newEnv(t)
	a := testApplier(t, e, "a.db")
	created := asDelivered(createdMsg(createdFor("812345680", 10000)))
	created.Metadata.Set(mdDelivered, "1000")
	_, err := giveUp(3)(func(m *message.Message) ([]*message.Message, error) { return nil, a.handle(m) })(created)
	if !errors.Is(err, errStateWrite) || errors.Is(err, ErrPoison) {
		t.Fatalf("handling with EPAY_STATE away, 1000th delivery: %v, want a changelog write error, not poison", err)
	}
	if _, _, err := a.store.Get("812345680"); !errors.Is(err, bolt.ErrNotFound) {
		t.Fatalf("the change was committed without its record (%v)", err)
	}
}
