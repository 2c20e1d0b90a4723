package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestQuantilesAreWithinOnePercentOfTheExactOnes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	h := New()
	for range 100_000 {
		// log-uniform from 1µs to 10s: every magnitude gets values
		v := time.Duration(float64(time.Microsecond) * math.Pow(10, 7*r.Float64()))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[max(0, int(q*float64(len(vals)))-1)]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > 0.01*float64(exact) {
			t.Errorf("q%.3f = %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
}

func TestMergeIsTheSameAsRecordingEverythingInOne(t *testing.T) {
	a, b, all := New(), New(), New()
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	if *a != *all {
		t.Error("merged histogram differs")
	}
}

func TestSmallValuesAreExactAndBucketsCoverEveryValue(t *testing.T) {
	for v := uint64(0); v < 1<<20; v += 7 {
		i := index(v)
		if upper(i) < v || (i > 0 && upper(i-1) >= v) {
			t.Fatalf("value %d in bucket %d with upper %d", v, i, upper(i))
		}
	}
	for _, v := range []uint64{1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		if i := index(v); i >= buckets || upper(i) < v {
			t.Fatalf("value %d: bucket %d of %d", v, i, buckets)
		}
	}
}
