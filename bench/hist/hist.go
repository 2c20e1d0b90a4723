// Package hist is a log-linear latency histogram in the manner of HdrHistogram: every
// value is kept in a bucket no wider than 1/128 of its magnitude (under 0.8% error),
// whatever the range, in a fixed 60 KiB array, so recording is allocation-free and
// histograms of many senders merge exactly.
package hist

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: 2^subBits buckets per power of two.
const subBits = 7

const (
	subCount = 1 << subBits       // buckets per power of two above the linear range
	linear   = 1 << (subBits + 1) // values below this have a bucket each
	buckets  = linear + (64-subBits-1)*subCount
)

// Histogram records durations in nanoseconds. The zero value is ready to use. It is
// not safe for concurrent use: give each sender its own and Merge them.
type Histogram struct {
	counts   [buckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{} }

func index(v uint64) int {
	if v < linear {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	top := v >> shift // in [subCount, 2*subCount)
	return linear + (shift-1)*subCount + int(top-subCount)
}

// upper is the largest value that falls in bucket i.
func upper(i int) uint64 {
	if i < linear {
		return uint64(i)
	}
	shift := (i-linear)/subCount + 1
	top := uint64((i-linear)%subCount + subCount)
	return (top+1)<<shift - 1
}

// Record adds one duration; a negative one counts as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[index(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average value.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at or below which a fraction q (0 to 1) of the values lie,
// as the upper edge of its bucket (never above Max): it errs on the slow side.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(int64(upper(i)), h.max))
		}
	}
	return time.Duration(h.max)
}
