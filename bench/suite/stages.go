package suite

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stage is a step inside the worker, from its own histogram: what the messages of a
// timed run spent in it (the difference of two reads of /metrics, around the run).
type Stage struct {
	Name  string
	Count float64
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
}

// workerStages are the worker's histograms of one message's steps, in their order on
// its path, each with the name the report gives it.
var workerStages = []struct{ series, name string }{
	{`epayflow_worker_apply_stage_seconds{stage="changelog"}`, "changelog: the record to EPAY_STATE, to its PubAck"},
	{`epayflow_worker_apply_stage_seconds{stage="commit"}`, "commit: queued for the group commit, then the transaction and its fsync"},
	{`epayflow_worker_commit_duration_seconds`, "of which the transaction, begin to durable (per transaction, not per message)"},
	{`epayflow_worker_apply_stage_seconds{stage="events"}`, "events: from the commit to the events' PubAcks (the outbox relay)"},
}

// stagesBetween reads the worker's step histograms out of two metric pages, before and
// after a run, and the garbage collector's cycles and pauses between them.
func stagesBetween(before, after map[string]float64) (stages []Stage, gcCycles float64, gcPause time.Duration) {
	for _, ws := range workerStages {
		b := buckets(after, ws.series)
		for i, x := range buckets(before, ws.series) {
			if i < len(b) && b[i].le == x.le {
				b[i].n -= x.n
			}
		}
		if len(b) == 0 || b[len(b)-1].n <= 0 {
			continue
		}
		stages = append(stages, Stage{Name: ws.name, Count: b[len(b)-1].n,
			P50: quantile(b, .5), P90: quantile(b, .9), P99: quantile(b, .99)})
	}
	gcCycles = after["go_gc_duration_seconds_count"] - before["go_gc_duration_seconds_count"]
	gcPause = time.Duration((after["go_gc_duration_seconds_sum"] - before["go_gc_duration_seconds_sum"]) * float64(time.Second))
	return stages, gcCycles, gcPause
}

// bucket is a histogram's cumulative count of observations at most le seconds.
type bucket struct {
	le float64
	n  float64
}

// buckets are the cumulative buckets of a histogram series ("name" or `name{labels}`),
// by le, +Inf last.
func buckets(m map[string]float64, series string) []bucket {
	name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
	prefix := name + "_bucket{"
	if labels != "" {
		prefix += labels + ","
	}
	var out []bucket
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, prefix+`le="`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		out = append(out, bucket{le: le, n: v})
	}
	slices.SortFunc(out, func(a, b bucket) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	return out
}

// quantile estimates the q-quantile of cumulative buckets as Prometheus'
// histogram_quantile does: linearly within the bucket it falls in; in the +Inf bucket,
// the highest finite bound.
func quantile(b []bucket, q float64) time.Duration {
	total := b[len(b)-1].n
	rank := q * total
	lower, below := 0.0, 0.0
	for _, x := range b {
		if x.n >= rank {
			if math.IsInf(x.le, 1) {
				return seconds(lower)
			}
			if x.n == below {
				return seconds(x.le)
			}
			return seconds(lower + (x.le-lower)*(rank-below)/(x.n-below))
		}
		lower, below = x.le, x.n
	}
	return seconds(lower)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
