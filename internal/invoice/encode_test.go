package invoice

import (
	"encoding/json"
	"testing"

	"github.com/epayflow/epayflow/internal/jsonw/jsonwtest"
)

func TestInvoiceAppendJSONIsMarshal(t *testing.T) {
	jsonwtest.Check(t, 3000, func(inv *Invoice) ([]byte, error) { return inv.AppendJSON(nil) })
}

func TestEventAppendJSONIsMarshal(t *testing.T) {
	jsonwtest.Check(t, 3000, func(e *Event) ([]byte, error) { return e.AppendJSON(nil) })
}

// paidEvent is the event a paid callback makes, as the worker encodes it for every one.
func paidEvent(tb testing.TB) Event {
	cur, _, err := Apply(nil, created(), t0)
	if err != nil {
		tb.Fatal(err)
	}
	_, evs, err := Apply(&cur, callback(MsgSuccess, "tx-1", nil), t0)
	if err != nil || len(evs) != 1 {
		tb.Fatal(len(evs), err)
	}
	return evs[0]
}

func BenchmarkEventAppendJSON(b *testing.B) {
	e := paidEvent(b)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = e.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventMarshal(b *testing.B) {
	e := paidEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&e); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCreatedAppendJSONIsMarshal(t *testing.T) {
	jsonwtest.Check(t, 3000, func(c *Created) ([]byte, error) { return c.AppendJSON(nil) })
}
