package invoice

import "testing"

// The state machine on its own, no store: what each message costs before any I/O.

func BenchmarkStateMachineCreated(b *testing.B) {
	msg := created()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Apply(nil, msg, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStateMachinePaid(b *testing.B) {
	cur, _, err := Apply(nil, created(), t0)
	if err != nil {
		b.Fatal(err)
	}
	msg := callback(MsgSuccess, "tx-1", nil)
	b.ReportAllocs()
	for b.Loop() {
		inv, events, err := Apply(&cur, msg, t0)
		if err != nil || inv.State != StatePaid || len(events) != 1 {
			b.Fatal(inv.State, err)
		}
	}
}
