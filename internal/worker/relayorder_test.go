package worker

import (
	"slices"
	"testing"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// The relay's batch ends before an invoice's second event: it is sent only once the
// first is acked, so a NATS restart between the two cannot store them out of order.
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
		want []uint64
	}{
		{[]bolt.OutboxEntry{entry(1, "A"), entry(2, "B"), entry(3, "A"), entry(4, "C")}, []uint64{1, 2}},
		{[]bolt.OutboxEntry{entry(5, "A"), entry(6, "A")}, []uint64{5}},
		{[]bolt.OutboxEntry{entry(7, "A"), entry(8, "B"), entry(9, "C")}, []uint64{7, 8, 9}},
		{nil, nil},
	} {
		if got := seqs(oncePerInvoice(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("oncePerInvoice(%v) = %v, want %v", seqs(c.in), got, c.want)
		}
	}
}
