package suite

import (
	"testing"
	"time"
)

func TestStagesBetweenTakesTheRunsOwnObservations(t *testing.T) {
	before := map[string]float64{
		`epayflow_worker_apply_stage_seconds_bucket{stage="commit",le="0.001"}`: 100,
		`epayflow_worker_apply_stage_seconds_bucket{stage="commit",le="0.01"}`:  100,
		`epayflow_worker_apply_stage_seconds_bucket{stage="commit",le="+Inf"}`:  100,
		"go_gc_duration_seconds_count":                                          10, "go_gc_duration_seconds_sum": 0.5,
	}
	after := map[string]float64{
		// the run's 100: 50 at most 1 ms, 40 in (1 ms, 10 ms], 10 above
		`epayflow_worker_apply_stage_seconds_bucket{stage="commit",le="0.001"}`: 150,
		`epayflow_worker_apply_stage_seconds_bucket{stage="commit",le="0.01"}`:  190,
		`epayflow_worker_apply_stage_seconds_bucket{stage="commit",le="+Inf"}`:  200,
		`epayflow_worker_apply_stage_seconds_bucket{stage="events",le="0.001"}`: 0,
		`epayflow_worker_apply_stage_seconds_bucket{stage="events",le="+Inf"}`:  0,
		`epayflow_worker_commit_duration_seconds_bucket{le="0.002"}`:            4,
		`epayflow_worker_commit_duration_seconds_bucket{le="0.004"}`:            8,
		`epayflow_worker_commit_duration_seconds_bucket{le="+Inf"}`:             8,
		"go_gc_duration_seconds_count":                                          13, "go_gc_duration_seconds_sum": 0.53,
	}
	stages, cycles, pause := stagesBetween(before, after)
	if len(stages) != 2 { // no changelog series, and no events in the run: left out
		t.Fatalf("stages %+v, want commit and the transaction", stages)
	}
	c := stages[0]
	if c.Count != 100 || c.P50 != time.Millisecond || c.P90 != 10*time.Millisecond || c.P99 != 10*time.Millisecond {
		t.Errorf("commit %+v: want 100, p50 1ms (the 50th at the first bound), p90 10ms, p99 past the last bound: 10ms", c)
	}
	if tx := stages[1]; tx.Count != 8 || tx.P50 != 2*time.Millisecond || tx.P99 != 3960*time.Microsecond {
		t.Errorf("transaction %+v: want 8, p50 2ms, p99 3.96ms (interpolated)", tx)
	}
	if cycles != 3 || pause != 30*time.Millisecond {
		t.Errorf("GC: %v cycles, %v; want 3 and 30ms", cycles, pause)
	}
}
