package webhooks

import (
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/jspubsub"
)

func atSeq(seq uint64) *message.Message {
	msg := message.NewMessage("m", nil)
	msg.Metadata.Set(jspubsub.MetadataStreamSeq, strconv.FormatUint(seq, 10))
	return msg
}

// A lost delivery holds back the newer events (not the older ones) for an AckWait and
// a margin; a second gap meanwhile widens the hold, never narrows it.
func TestAGapHoldsBackTheNewerEvents(t *testing.T) {
	d := NewDispatcher(Config{AckWait: 10 * time.Second}, nil, NewMetrics(nil), nil)
	if h := d.held(atSeq(1)); h != 0 {
		t.Fatalf("held %s before any gap", h)
	}
	d.gap(5)
	if h := d.held(atSeq(5)); h != 0 {
		t.Errorf("event 5, delivered before the gap, held %s", h)
	}
	if h := d.held(atSeq(6)); h < 10*time.Second || h > 15*time.Second {
		t.Errorf("event 6 held %s, want an AckWait and a margin (10-15 s)", h)
	}
	d.gap(9)
	if h := d.held(atSeq(6)); h == 0 {
		t.Errorf("a later gap released event 6 of the first gap's hold")
	}
}
