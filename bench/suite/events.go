package suite

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/bench/hist"
	"github.com/epayflow/epayflow/bench/load"
)

// eventWatch times each invoice's first event from the intended send time of the
// callback that caused it.
type eventWatch struct {
	mu        sync.Mutex
	due       map[string]time.Time // invoiceId -> intended send of its callback, until its event came
	sentAt    map[string]time.Time // invoiceId -> intended send, kept (the hops)
	arrivedAt map[string]time.Time // invoiceId -> its event's arrival here
	expected  int
	got       int
	h         *hist.Histogram
	cc        jetstream.ConsumeContext
}

// watchEvents follows the new messages of stream (subjects filter) with an ordered
// consumer, as a merchant subscriber would.
func watchEvents(ctx context.Context, js jetstream.JetStream, stream, filter string) (*eventWatch, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, err
	}
	w := &eventWatch{due: map[string]time.Time{}, sentAt: map[string]time.Time{}, arrivedAt: map[string]time.Time{}, h: hist.New()}
	w.cc, err = cons.Consume(func(m jetstream.Msg) { w.arrive(invoiceIDIn(m.Data()), time.Now()) })
	return w, err
}

func (w *eventWatch) arrive(id string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	due, ok := w.due[id]
	if !ok {
		return // not timed: a duplicate's, or a second event of the invoice
	}
	delete(w.due, id)
	w.arrivedAt[id] = at
	w.h.Record(at.Sub(due))
	w.got++
}

// track wraps op so that each first callback of an invoice is expected to cause an event.
func (w *eventWatch) track(cbs []load.Callback, op load.Op) load.Op {
	return func(ctx context.Context, i int, due time.Time) (int, error) {
		if cb := cbs[i%len(cbs)]; !cb.Duplicate {
			w.mu.Lock()
			w.due[cb.InvoiceID] = due
			w.sentAt[cb.InvoiceID] = due
			w.expected++
			w.mu.Unlock()
		}
		return op(ctx, i, due)
	}
}

// wait waits up to timeout for the expected events and stops watching. It returns the
// events timed and those that never came.
func (w *eventWatch) wait(timeout time.Duration) (got, missing int) {
	defer w.cc.Stop()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		got, missing = w.got, w.expected-w.got
		w.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			return got, missing
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var invoiceIDKey = []byte(`"invoiceId":"`)

// invoiceIDIn finds the first invoiceId in a payment event (data.invoice.invoiceId) or
// in a callback body (the pipeline baseline's events).
func invoiceIDIn(b []byte) string {
	i := bytes.Index(b, invoiceIDKey)
	if i < 0 {
		return ""
	}
	b = b[i+len(invoiceIDKey):]
	if j := bytes.IndexByte(b, '"'); j >= 0 {
		return string(b[:j])
	}
	return ""
}
