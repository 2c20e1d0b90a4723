package suite

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/bench/hist"
)

// Hop is one stretch of the end-to-end path, timed for each invoice of the run.
type Hop struct {
	Name    string
	Latency *hist.Histogram
}

// stamps records, per invoice, when the first message about it was stored in a stream
// (the server's timestamp), from an ordered consumer of the stream's new messages.
type stamps struct {
	mu sync.Mutex
	at map[string]time.Time
	cc jetstream.ConsumeContext
}

// stampStream follows stream's new messages (subjects filter) and keeps each invoice's
// first stored time; idOf finds the invoice of a message ("" to skip it).
func stampStream(ctx context.Context, js jetstream.JetStream, stream, filter string, idOf func(jetstream.Msg) string) (*stamps, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, err
	}
	s := &stamps{at: map[string]time.Time{}}
	s.cc, err = cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		id := idOf(m)
		if err != nil || id == "" {
			return
		}
		s.mu.Lock()
		if _, seen := s.at[id]; !seen {
			s.at[id] = meta.Timestamp
		}
		s.mu.Unlock()
	})
	return s, err
}

// stop stops following and returns the stored times by invoice.
func (s *stamps) stop() map[string]time.Time {
	s.cc.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at
}

// idInData is the invoiceId in a message's JSON body (a callback, an event).
func idInData(m jetstream.Msg) string { return invoiceIDIn(m.Data()) }

// idInLastToken is the last token of the subject (epay.state.<shard>.<invoiceId>).
func idInLastToken(m jetstream.Msg) string {
	subj := m.Subject()
	return subj[strings.LastIndexByte(subj, '.')+1:]
}

// hops splits each timed invoice's end-to-end latency at the given stored times, in
// path order: hop i runs from point i-1 (the intended send for the first) to point i,
// and the last hop from the last point to the event's arrival at the subscriber. An
// invoice missing a point is left out of every hop, so that each hop counts the same
// invoices; the hops' p99s do not add up to the whole's, their medians nearly do.
func hops(w *eventWatch, names []string, points ...map[string]time.Time) []Hop {
	out := make([]Hop, len(names))
	for i := range out {
		out[i] = Hop{Name: names[i], Latency: hist.New()}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
next:
	for id, due := range w.sentAt {
		arrived, ok := w.arrivedAt[id]
		if !ok {
			continue
		}
		ts := make([]time.Time, 0, len(points)+2)
		ts = append(ts, due)
		for _, p := range points {
			t, ok := p[id]
			if !ok {
				continue next
			}
			ts = append(ts, t)
		}
		ts = append(ts, arrived)
		for i := range out {
			out[i].Latency.Record(max(ts[i+1].Sub(ts[i]), 0))
		}
	}
	return out
}
