package jspubsub

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// metaMsg is a delivered message as far as its metadata goes.
type metaMsg struct {
	jetstream.Msg
	meta jetstream.MsgMetadata
}

func (m metaMsg) Metadata() (*jetstream.MsgMetadata, error) { return &m.meta, nil }

func delivery(consumer, stream, delivered uint64) metaMsg {
	return metaMsg{meta: jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Consumer: consumer, Stream: stream}, NumDelivered: delivered}}
}

// A skipped consumer sequence is a delivery that never arrived; the stream sequence
// given is the newest first delivery seen before it (redeliveries do not move it), and
// a consumer sequence that starts over is no gap.
func TestAGapIsASkippedConsumerSequence(t *testing.T) {
	var g gapWatch
	for i, c := range []struct {
		msg    metaMsg
		gap    bool
		before uint64
	}{
		{delivery(1, 10, 1), false, 0},
		{delivery(2, 11, 1), false, 10},
		{delivery(3, 7, 2), false, 11}, // a redelivery of an older message
		{delivery(5, 13, 1), true, 11}, // consumer sequence 4 never came (stream 12)
		{delivery(6, 14, 1), false, 13},
		{delivery(1, 15, 1), false, 14}, // the consumer made again: it counts from 1
		{delivery(2, 16, 1), false, 15},
	} {
		gap, before := g.see(c.msg)
		if gap != c.gap || before != c.before {
			t.Errorf("delivery %d (consumer %d, stream %d): gap %v before %d, want %v %d", i, c.msg.meta.Sequence.Consumer,
				c.msg.meta.Sequence.Stream, gap, before, c.gap, c.before)
		}
	}
}

// A Takeover subscription knows how many deliveries its consumer had made when it
// started to read it: a first delivery past the next one is a gap too.
func TestAGapBeforeTheFirstDeliveryOfAnOnlyReader(t *testing.T) {
	for _, c := range []struct {
		start, first uint64
		gap          bool
	}{
		{0, 1, false}, {0, 2, true}, {5, 6, false}, {5, 7, true},
		{5, 3, false}, // the consumer counts again from an older state: no gap
	} {
		g := gapWatch{consumer: c.start, known: true}
		if gap, _ := g.see(delivery(c.first, 100, 1)); gap != c.gap {
			t.Errorf("consumer at %d, first delivery %d: gap %v, want %v", c.start, c.first, gap, c.gap)
		}
		if gap, _ := g.see(delivery(c.first+1, 101, 1)); gap {
			t.Errorf("consumer at %d: the delivery after the first one is a gap", c.start)
		}
	}
}
