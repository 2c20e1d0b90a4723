package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epayflow/epayflow/bench/hist"
)

// Plan is how much load to make and how.
type Plan struct {
	Conns    int           // concurrent senders (connections)
	Rate     float64       // requests per second; 0 sends flat out
	Duration time.Duration // no request starts after this
	Max      int           // nor after this many (0: only Duration bounds it)
}

// Op makes request i, due at due (its intended send time at a fixed rate, its actual one
// flat out), and returns its status (an HTTP status, or 200/503 for a publish).
type Op func(ctx context.Context, i int, due time.Time) (status int, err error)

// Result is what a run measured.
type Result struct {
	Plan     Plan
	Requests int           // requests completed, answered or not
	Elapsed  time.Duration // first start to last completion
	Latency  *hist.Histogram
	Status   map[int]int // answers by status
	Errors   int         // requests with no answer (transport errors, timeouts)
	FirstErr string
	// Late counts fixed-rate requests that started more than 1 ms after their intended
	// time: the senders could not keep up (their delay is in Latency all the same).
	Late int
}

// Throughput is completed requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// OK is the number of 200 answers.
func (r Result) OK() int { return r.Status[200] }

// Drive runs op under plan and returns what it measured. Latency is from the intended
// send time at a fixed rate, from the actual send time flat out.
func Drive(ctx context.Context, plan Plan, op Op) Result {
	plan.Conns = max(plan.Conns, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	senders := make([]*sender, plan.Conns)
	for i := range senders {
		senders[i] = &sender{lat: hist.New(), status: map[int]int{}}
	}
	start := time.Now()
	deadline := start.Add(plan.Duration)
	var wg sync.WaitGroup
	if plan.Rate > 0 {
		jobs := make(chan job, max(plan.Conns, int(plan.Rate)))
		for _, s := range senders {
			wg.Go(func() {
				for j := range jobs {
					s.do(ctx, op, j.i, j.due)
				}
			})
		}
		schedule(ctx, plan, start, jobs)
		close(jobs)
	} else {
		var next atomic.Int64
		for _, s := range senders {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(deadline) {
					i := int(next.Add(1) - 1)
					if plan.Max > 0 && i >= plan.Max {
						return
					}
					s.do(ctx, op, i, time.Time{})
				}
			})
		}
	}
	wg.Wait()
	return collect(plan, senders, time.Since(start))
}

type job struct {
	i   int
	due time.Time
}

// schedule emits request i at start + i/rate until the plan's end. It never waits for
// the senders' answers: when they fall behind, the jobs queue up with their due times.
func schedule(ctx context.Context, plan Plan, start time.Time, jobs chan<- job) {
	interval := time.Duration(float64(time.Second) / plan.Rate)
	for i := 0; plan.Max == 0 || i < plan.Max; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= plan.Duration {
			return
		}
		if wait := time.Until(due); wait > 50*time.Microsecond {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
		select {
		case jobs <- job{i: i, due: due}:
		case <-ctx.Done():
			return
		}
	}
}

// sender is one connection's share of the measurements.
type sender struct {
	lat    *hist.Histogram
	status map[int]int
	errs   int
	late   int
	first  string
	n      int
}

func (s *sender) do(ctx context.Context, op Op, i int, due time.Time) {
	begin := time.Now()
	if due.IsZero() {
		due = begin
	} else if begin.Sub(due) > time.Millisecond {
		s.late++
	}
	status, err := op(ctx, i, due)
	s.lat.Record(time.Since(due))
	s.n++
	if err != nil {
		s.errs++
		if s.first == "" {
			s.first = err.Error()
		}
		return
	}
	s.status[status]++
}

func collect(plan Plan, senders []*sender, elapsed time.Duration) Result {
	r := Result{Plan: plan, Elapsed: elapsed, Latency: hist.New(), Status: map[int]int{}}
	for _, s := range senders {
		r.Latency.Merge(s.lat)
		for k, v := range s.status {
			r.Status[k] += v
		}
		r.Errors += s.errs
		r.Late += s.late
		r.Requests += s.n
		if r.FirstErr == "" {
			r.FirstErr = s.first
		}
	}
	return r
}
