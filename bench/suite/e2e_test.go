package suite

import (
	"testing"
	"time"

	"github.com/epayflow/epayflow/bench/hist"
)

func roundWithP99(d time.Duration) E2EResult {
	h := hist.New()
	for range 100 {
		h.Record(d)
	}
	return E2EResult{Latency: h}
}

// One round's stall moves neither side: the median round by p99 is kept, whatever the
// order the rounds ran in.
func TestMedianRoundIgnoresOneStalledRound(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		p99s []time.Duration
		want time.Duration
	}{
		{[]time.Duration{9 * ms}, 9 * ms},
		{[]time.Duration{6 * ms, 247 * ms, 8 * ms}, 8 * ms},
		{[]time.Duration{247 * ms, 8 * ms, 6 * ms}, 8 * ms},
		{[]time.Duration{2 * ms, 6 * ms, 8 * ms}, 6 * ms},
		{[]time.Duration{6 * ms, 8 * ms}, 8 * ms}, // of two, the higher
	} {
		rounds := make([]E2EResult, len(tt.p99s))
		for i, d := range tt.p99s {
			rounds[i] = roundWithP99(d)
		}
		got := medianRound(rounds).Latency.Quantile(.99)
		if got < tt.want*99/100 || got > tt.want*101/100 {
			t.Errorf("rounds with p99s %v: the median round's p99 is %v, want %v", tt.p99s, got, tt.want)
		}
	}
}
