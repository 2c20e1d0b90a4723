package suite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/bench/load"
)

// The report says what the least implementation of a target's contract reached, and
// whether that leaves the target within reach, from the run's own figures.
func TestBoundsSayWhatTheLeastImplementationReached(t *testing.T) {
	render := func(naive, plain, floor, bbolt, worker int, floorChangelog ...int) string {
		r := &Results{
			IngestConns: []ConnRow{{Conns: fixedConns, Naive: load.Result{Requests: naive, Elapsed: time.Second}}},
			Plain64:     load.Result{Requests: plain, Elapsed: time.Second},
			Drain: DrainResult{Messages: worker, Elapsed: time.Second, Baseline: BoltFigure{Messages: bbolt, Elapsed: time.Second},
				Floor: DrainFigure{Messages: floor, Elapsed: time.Second}},
		}
		for _, n := range floorChangelog {
			r.Drain.FloorChangelog = DrainFigure{Messages: n, Elapsed: time.Second}
		}
		var b strings.Builder
		r.renderBounds(func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) })
		return b.String()
	}
	out := render(15000, 32000, 24000, 56000, 7000, 14000)
	for _, want := range []string{
		"naive handler (HTTP, one sync publish, 200; nothing else) reached **0.47** of the plain HTTP handler at 64 connections, below the target (0.5)",
		"reached **0.43** of the bbolt baseline, below the target (0.5)",
		"the worker reached 0.29 of it",
		"a fenced changelog record a message before its bbolt write reached **0.25** of the bbolt baseline, below the target (0.5)",
		"the worker reached 0.50 of it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bounds lack %q:\n%s", want, out)
		}
	}
	out = render(17000, 32000, 30000, 56000, 7000)
	if strings.Count(out, "the target (0.5) is within reach") != 2 || strings.Contains(out, "falls short") {
		t.Errorf("bounds above the targets should say them within reach:\n%s", out)
	}
	if out := render(0, 32000, 0, 56000, 7000); out != "" {
		t.Errorf("bounds without a naive handler or a floor in the run: %q, want nothing", out)
	}
}
