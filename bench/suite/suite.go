package suite

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/proctest"
)

// Config is one run of the suite.
type Config struct {
	Quick   bool      // smaller counts and shorter loads (bench-quick), no 1M-invoice row
	Dir     string    // scratch directory (data of nats-server and the worker, logs, binaries)
	Out     string    // where the Markdown report goes
	Self    string    // this executable, started again for the baseline servers
	Command string    // the command line, for the report
	Notes   string    // file of hand-written analysis appended to the report, read at the end ("" or missing: none)
	Log     io.Writer // progress
	// ProfileDir, when set, runs the ingest and the worker through Self's serve-profiled
	// (same code, same configuration) and keeps their CPU profiles there, one per process.
	ProfileDir string
	// Phases, when set, runs only the phases named (besides the build), for working on
	// one figure; the report then holds only theirs.
	Phases []string
}

// sizes are the counts and durations of a run.
type sizes struct {
	microTime      string        // go test -benchtime
	flatFor        time.Duration // each flat-out run
	fixedFor       time.Duration // the 2,000/s ingest runs
	conns          []int         // growth of the ingest
	drainInvoices  int           // worker drain: invoice.created messages
	drainCallbacks int           // and callbacks
	growth         []int         // invoices pre-filled in bbolt
	growthDrain    int           // callbacks drained at each size
	growthRateFor  time.Duration // fixed-rate run at each size
	e2eFor         time.Duration // the 1,000/s end-to-end run
	e2eRounds      int           // end-to-end runs of the service and the pipeline each, one after the other
	restoreRecords int           // records of the shard a worker restores
	stallDrains    int           // drains besides the drain and growth phases', for the longest pause
	shapeFill      int           // paid invoices a store filled in a worker's transaction shapes takes (storageShapes)
}

func sizesFor(quick bool) sizes {
	if quick {
		return sizes{microTime: "100ms", flatFor: 2 * time.Second, fixedFor: 3 * time.Second, conns: []int{1, 16, 64, 256},
			drainInvoices: 5_000, drainCallbacks: 5_000, growth: []int{10_000, 100_000}, growthDrain: 5_000,
			growthRateFor: 3 * time.Second, e2eFor: 5 * time.Second, e2eRounds: 1, restoreRecords: 20_000, stallDrains: 3, shapeFill: 20_000}
	}
	return sizes{microTime: "1s", flatFor: 6 * time.Second, fixedFor: 12 * time.Second, conns: []int{1, 16, 64, 256},
		drainInvoices: 20_000, drainCallbacks: 20_000, growth: []int{10_000, 100_000, 1_000_000}, growthDrain: 20_000,
		growthRateFor: 8 * time.Second, e2eFor: 15 * time.Second, e2eRounds: 3, restoreRecords: 100_000, stallDrains: 16, shapeFill: 100_000}
}

// Rates of the fixed-rate runs (issue 6).
const (
	ingestRate = 2000
	e2eRate    = 1000
	workerRate = 1000
	fixedConns = 64
)

// keySpec signs every callback of the run (a bench key, never a real one).
const keySpec = "B:loadgen-bench-signing-key-0001"

// statusKey is the workers' status key (WORKER_STATUS_KEY) in every run: the key
// EPAY_STATE's records are signed with, as one Secret gives it to every worker.
const statusKey = "loadgen-bench-status-key-0001"

// eventsKey signs the workers' events in every run (WORKER_EVENTS_KEY), as in prod: the
// signature is part of what a worker spends on an event.
const eventsKey = "whsk_bG9hZGdlbi1iZW5jaC1ldmVudHMta2V5LTAwMDAwMSE="

type suite struct {
	cfg      Config
	sz       sizes
	bins     map[string]string // by name, from proctest.Builder.Build
	keys     *epay.Keyring
	res      *Results
	nextBase int64 // first invoice number of the next corpus
	// workerRuns counts workerRun's runs (the stall drains repeat the empty-store one).
	workerRuns int
}

// Run runs the whole suite and writes the report to cfg.Out.
func Run(ctx context.Context, cfg Config) error {
	start := time.Now()
	keys, err := epay.ParseKeyring(keySpec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	s := &suite{cfg: cfg, sz: sizesFor(cfg.Quick), keys: keys, res: newResults(cfg, start), nextBase: 100_000_000_000}
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"build", s.build},
		{"micro-benchmarks", s.micro},
		{"ingest", s.ingest},
		{"worker drain", s.drain},
		{"growth (invoices in bbolt)", s.growth},
		{"drain stalls", s.stalls},
		{"end to end", s.endToEnd},
		{"shard restore", s.restore},
		{"peer: PostgreSQL", s.peer},
	}
	for _, p := range phases {
		if len(cfg.Phases) > 0 && p.name != "build" && !slices.Contains(cfg.Phases, p.name) {
			continue
		}
		t := time.Now()
		s.logf("== %s", p.name)
		if err := p.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		s.res.Phases = append(s.res.Phases, Phase{Name: p.name, Took: time.Since(t)})
		s.logf("   %s took %s", p.name, time.Since(t).Round(time.Second))
	}
	s.res.Wall = time.Since(start)
	if len(cfg.Phases) > 0 {
		s.logf("(only some phases ran: no report written; the figures are above)")
		return nil
	}
	if cfg.Notes != "" {
		if text, err := os.ReadFile(cfg.Notes); err == nil {
			s.res.Notes = string(text)
		}
	}
	return s.res.write(cfg.Out)
}

func (s *suite) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		fmt.Fprintf(s.cfg.Log, format+"\n", args...)
	}
}

func (s *suite) build(ctx context.Context) error {
	var err error
	s.bins, err = proctest.Builder{Dir: s.cfg.Dir}.Build(ctx, proctest.NATSServer, "ingest", "worker")
	return err
}

// base reserves n invoice numbers for a corpus, so that no two runs share a Msg-Id.
func (s *suite) base(n int64) int64 {
	b := s.nextBase
	s.nextBase += n + 1000
	return b
}
