package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/epayflow/epayflow/bench/baseline"
	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// The worker's concurrency, which the bbolt baseline copies: every shard hands the
// router up to MaxInFlight messages, each applied by its own goroutine, and the store
// batches up to shards x MaxInFlight callers per commit (worker.Run).
const (
	workerShards      = inbox.DefaultShards
	workerMaxInFlight = 64
	workerGoroutines  = workerShards * workerMaxInFlight
	// DB.Batch closes a batch this long after its first call (bbolt's default is 10ms;
	// 2ms was internal/bolt's before its group commit): without a delay it forms none.
	boltBatchDelay = 2 * time.Millisecond
)

// drain is the worker draining a pre-loaded inbox into an empty store, then the bbolt
// Batch baseline with the record sizes that drain wrote.
func (s *suite) drain(ctx context.Context) error {
	row, recs, err := s.workerRun(ctx, workerPlan{records: true, fixedRate: true})
	if err != nil {
		return err
	}
	d := &s.res.Drain
	d.Messages, d.Elapsed, d.Commits, d.StartUp, d.CPU = row.Messages, row.Elapsed, row.Commits, row.StartUp, row.CPU
	cpuBefore, err := cpuTime(os.Getpid())
	if err != nil {
		return err
	}
	b, err := baseline.BoltBatch(baseline.BoltConfig{
		Path: filepath.Join(s.cfg.Dir, "bolt-baseline.db"), Goroutines: workerGoroutines, Messages: row.Messages,
		Records: recs, MaxBatchSize: workerGoroutines, MaxBatchDelay: boltBatchDelay,
	})
	if err != nil {
		return fmt.Errorf("bbolt baseline: %w", err)
	}
	d.Baseline = BoltFigure{Messages: b.Messages, Elapsed: b.Elapsed, Commits: b.Commits, Goroutines: workerGoroutines, Records: describe(recs)}
	if cpuAfter, err := cpuTime(os.Getpid()); err == nil {
		d.Baseline.CPU = cpuAfter - cpuBefore
	}
	s.logf("   drain %d msgs: worker %.0f/s, bbolt Batch baseline %.0f/s (CPU %.0f us/message)", d.Messages, d.Rate(), d.Baseline.Rate(),
		perRequest(d.Baseline.CPU, d.Baseline.Messages))
	if d.Floor, err = s.floor(ctx, recs, false); err != nil {
		return err
	}
	s.logf("   the least JetStream-fed worker: %.0f/s, %.2f of the bbolt baseline (CPU us/message, it + nats-server: %s)", d.Floor.Rate(),
		d.Floor.Rate()/d.Baseline.Rate(), d.Floor.CPU.PerMessage())
	if d.FloorChangelog, err = s.floor(ctx, recs, true); err != nil {
		return err
	}
	s.logf("   the same with a changelog record a message: %.0f/s, %.2f of the bbolt baseline (CPU us/message, it + nats-server: %s)",
		d.FloorChangelog.Rate(), d.FloorChangelog.Rate()/d.Baseline.Rate(), d.FloorChangelog.CPU.PerMessage())
	s.res.Growth = append(s.res.Growth, row)
	// the same drain with the changelog left out: what the shard-restore mechanism costs
	off, _, err := s.workerRun(ctx, workerPlan{noChangelog: true})
	if err != nil {
		return fmt.Errorf("drain without the changelog: %w", err)
	}
	d.NoChangelog = DrainFigure{Messages: off.Messages, Elapsed: off.Elapsed, Commits: off.Commits, CPU: off.CPU}
	s.logf("   drain %d msgs without the changelog: %.0f/s (with it: %.0f/s, %.2f of it)", off.Messages, off.Rate(), d.Rate(), d.Rate()/off.Rate())
	return nil
}

// floor drains the drain's backlog with baseline.Floor: a fresh nats-server, EPAY_INBOX
// pre-loaded with the same messages, then the least consumer writing recs (as the bbolt
// baseline) and publishing as many events of the outbox's size to PAYMENT_EVENTS as the
// worker does. The pre-load is done before it starts and is not in its CPU: nothing the
// floor is spared makes it slower. With changelog, each message also writes a record the
// size of the worker's invoice to EPAY_STATE (its configuration, compression included),
// fenced, before its bbolt write: item 2's shard-restore mechanism at its least.
func (s *suite) floor(ctx context.Context, recs []baseline.Record, changelog bool) (DrainFigure, error) {
	ns, err := s.startNATS(ctx, "nats-floor")
	if err != nil {
		return DrainFigure{}, err
	}
	defer ns.stop()
	if err := natsbus.EnsureStreams(ctx, ns.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamState); err != nil {
		return DrainFigure{}, err
	}
	c, err := s.drainCorpus()
	if err != nil {
		return DrainFigure{}, err
	}
	msgs, ids := load.CreatedMsgs(c.Invoices, s.keys, workerShards)
	cbMsgs, cbIDs := load.CallbackMsgs(c.Callbacks[:s.sz.growthDrain], workerShards)
	stored, err := load.PublishAll(ctx, ns.js, append(msgs, cbMsgs...), append(ids, cbIDs...), 1024)
	if err != nil {
		return DrainFigure{}, fmt.Errorf("floor: pre-load the inbox: %w", err)
	}
	cfg := baseline.FloorConfig{
		JS: ns.js, Stream: natsbus.StreamInbox, Messages: stored, Path: filepath.Join(s.cfg.Dir, "floor.db"),
		EventSubject: events.Subject(invoice.EventPaid), Goroutines: workerGoroutines, Records: recs,
		MaxBatchSize: workerGoroutines, MaxBatchDelay: boltBatchDelay,
	}
	defer os.Remove(cfg.Path)
	for _, r := range recs {
		if r.Bucket == "outbox" { // internal/bolt's outbox: one entry for each event the worker publishes
			cfg.EventsPerMessage, cfg.EventSize = r.PerMessage, r.ValueSize
		}
		if r.Bucket == "invoices" && changelog { // a record carries its invoice (and its events, id and time: spared)
			cfg.StateSize = r.ValueSize
			cfg.StateSubject = func(i int64) string {
				return natsbus.StateSubject(int(i%workerShards), "floor"+strconv.FormatInt(i, 10))
			}
		}
	}
	if changelog && cfg.StateSubject == nil {
		return DrainFigure{}, errors.New("floor: the drain wrote no invoices to size the changelog's records by")
	}
	var res baseline.BoltResult
	cpu, err := cpuMeter{os.Getpid(), ns.Pid()}.during(func() (err error) { res, err = baseline.Floor(ctx, cfg); return err })
	if err != nil {
		return DrainFigure{}, err
	}
	cpu.Load = 0 // the floor runs in this process: counted once, as the Server's
	return DrainFigure{Messages: res.Messages, Elapsed: res.Elapsed, Commits: float64(res.Commits), CPU: DrainCPU{CPUShare: cpu, Messages: res.Messages}}, nil
}

// drainCorpus is the corpus of the drains: the backlog's callbacks, then those sent at
// workerRate after it.
func (s *suite) drainCorpus() (*load.Corpus, error) {
	return s.corpus(s.sz.growthDrain + int(workerRate*s.sz.growthRateFor.Seconds()))
}

// workerPlan is one run of workerRun.
type workerPlan struct {
	prefilled   int  // invoices in the store before the start
	records     bool // also measure what the drain's messages write to bbolt
	fixedRate   bool // after the drain, callbacks at workerRate, each timed to its event
	noChangelog bool // the worker without its changelog (EPAY_STATE)
}

// growth is the worker with 10k, 100k (and 1M) invoices already in its store.
func (s *suite) growth(ctx context.Context) error {
	for _, n := range s.sz.growth {
		row, _, err := s.workerRun(ctx, workerPlan{prefilled: n, fixedRate: true})
		if err != nil {
			return err
		}
		s.res.Growth = append(s.res.Growth, row)
	}
	return nil
}

// workerRun pre-fills a store with prefilled invoices, pre-loads a fresh inbox with
// the invoice.created and callbacks of new invoices, starts the worker and times the
// drain (every message handled, the outbox empty); then, with the worker idle, sends
// callbacks at workerRate straight to the inbox and times each to its payment event.
// With records it also measures what the drain's messages write to bbolt; without
// fixedRate it stops after the drain.
func (s *suite) workerRun(ctx context.Context, plan workerPlan) (GrowthRow, []baseline.Record, error) {
	prefilled, records, fixedRate := plan.prefilled, plan.records, plan.fixedRate
	row := GrowthRow{Invoices: prefilled}
	name := "worker-" + strconv.Itoa(prefilled)
	if plan.noChangelog {
		name += "-nochangelog"
	}
	if s.workerRuns++; s.workerRuns > 1 && prefilled == 0 { // a fresh nats-server each: a drain into an empty store, again
		name += "-" + strconv.Itoa(s.workerRuns)
	}
	dir := filepath.Join(s.cfg.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return row, nil, err
	}
	defer os.RemoveAll(dir) // last, after the worker stopped: a 1M-invoice store is gigabytes
	db := filepath.Join(dir, "worker.db")
	if prefilled > 0 {
		t := time.Now()
		if err := prefill(db, prefilled, s.base(int64(prefilled)), s.keys); err != nil {
			return row, nil, fmt.Errorf("prefill %d: %w", prefilled, err)
		}
		row.PrefillFor = time.Since(t)
		s.logf("   prefilled %d invoices in %s", prefilled, row.PrefillFor.Round(100*time.Millisecond))
		if prefilled == slices.Max(s.sz.growth) {
			if err := s.storage(db, prefilled); err != nil {
				return row, nil, fmt.Errorf("storage of %d invoices: %w", prefilled, err)
			}
			if err := s.storageShapes(dir); err != nil {
				return row, nil, fmt.Errorf("storage in a worker's transactions: %w", err)
			}
		}
	}
	c, err := s.drainCorpus()
	if err != nil {
		return row, nil, err
	}
	drainCbs, fixedCbs := c.Callbacks[:s.sz.growthDrain], c.Callbacks[s.sz.growthDrain:]
	var recs []baseline.Record
	if records {
		if recs, err = recordMix(filepath.Join(dir, "sample.db"), c, drainCbs); err != nil {
			return row, nil, fmt.Errorf("record sizes: %w", err)
		}
	}

	ns, err := s.startNATS(ctx, "nats-"+name)
	if err != nil {
		return row, nil, err
	}
	defer ns.stop()
	if err := natsbus.EnsureStreams(ctx, ns.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ); err != nil {
		return row, nil, err
	}
	// The worker starts first and takes its shards (timed on its own: a start with
	// nothing to restore, from the process's start to its /readyz), then the backlog is
	// published at the raw publish rate, several times the worker's: the drain times the
	// worker reconciling, not the worker taking its shards one by one while it drains.
	t := time.Now()
	w, url, err := s.startWorkerWith(ctx, name, ns.url, db, plan.noChangelog)
	if err != nil {
		return row, nil, err
	}
	defer w.Stop(30 * time.Second)
	if err := w.WaitHTTP(ctx, url+"/readyz", 60*time.Second); err != nil {
		return row, nil, fmt.Errorf("%s: not ready: %w\n%s", name, err, w.Output())
	}
	row.StartUp = time.Since(t)
	defer ns.profile(s.cfg.ProfileDir, "nats-"+name, 5*time.Second)() // the drain's first seconds
	meter := cpuMeter{w.Pid(), ns.Pid()}
	cpuBefore, err := meter.read()
	if err != nil {
		return row, nil, err
	}
	msgs, ids := load.CreatedMsgs(c.Invoices, s.keys, workerShards)
	cbMsgs, cbIDs := load.CallbackMsgs(drainCbs, workerShards)
	stored, err := load.PublishAll(ctx, ns.js, append(msgs, cbMsgs...), append(ids, cbIDs...), 1024)
	if err != nil {
		return row, nil, fmt.Errorf("pre-load the inbox: %w", err)
	}
	dr, err := waitDrainedPauses(ctx, url, stored, time.Duration(stored/200+60)*time.Second)
	if err != nil {
		return row, nil, fmt.Errorf("%s: %w\n%s", name, err, w.Output())
	}
	row.Messages, row.Elapsed, row.MaxPause = dr.handled, dr.elapsed, dr.maxPause
	if after, err := meter.read(); err == nil {
		row.CPU = DrainCPU{CPUShare: after.sub(cpuBefore), Messages: stored}
	}
	if m, err := metrics(url); err == nil {
		row.Commits = sum(m, "epayflow_worker_commit_duration_seconds_count")
	}
	s.logf("   %d invoices in store: ready in %s; drained %d msgs in %s (%.0f/s, %.0f commits, longest pause %s from %s, after %d messages)", prefilled, row.StartUp.Round(time.Millisecond), dr.handled,
		dr.elapsed.Round(time.Millisecond), row.Rate(), row.Commits, dr.maxPause.Round(time.Millisecond), dr.pauseAt.UTC().Format("15:04:05.000"), dr.pauseN)
	s.logf("   CPU us/message (worker + nats-server + load generator): %s", row.CPU.PerMessage())
	if !fixedRate {
		return row, nil, nil
	}

	watch, err := watchEvents(ctx, ns.js, natsbus.StreamEvents, "payments.>")
	if err != nil {
		return row, nil, err
	}
	fixed := load.Plan{Conns: fixedConns, Rate: workerRate, Duration: s.sz.growthRateFor}
	load.Drive(ctx, fixed, watch.track(fixedCbs, load.PublishCallbacks(ns.js, fixedCbs, workerShards)))
	row.Events, row.Missing = watch.wait(15 * time.Second)
	row.Latency = watch.h
	if v, err := w.PeakRSS(); err == nil {
		row.RSS = v
	}
	s.logf("   %d invoices in store: %d/s p99 %s (%d events, %d missing); worker peak RSS %.1f MiB", prefilled, workerRate,
		row.Latency.Quantile(.99), row.Events, row.Missing, float64(row.RSS)/mib)
	if fi, err := os.Stat(db); err == nil {
		row.DBBytes = fi.Size()
	}
	return row, recs, nil
}

// waitDrained polls the worker's metrics until it has handled want messages and its
// outbox is empty. The time runs from the first poll that saw a message handled (the
// worker's start-up is not reconciling), the count from what that poll saw.
func waitDrained(ctx context.Context, url string, want int, timeout time.Duration) (int, time.Duration, error) {
	d, err := waitDrainedPauses(ctx, url, want, timeout)
	return d.handled, d.elapsed, err
}

// drained is a drain as waitDrainedPauses saw it.
type drained struct {
	handled  int
	elapsed  time.Duration
	maxPause time.Duration // the longest time without a message handled, first to last
	pauseAt  time.Time     // when it began
	pauseN   int           // messages handled before it
}

// waitDrainedPauses is waitDrained, and the longest pause between two polls (every
// 20 ms) that saw the handled count grow, from the first message handled to the last:
// a stall of the drain (issue 17) shows as a pause of its length.
func waitDrainedPauses(ctx context.Context, url string, want int, timeout time.Duration) (drained, error) {
	deadline := time.Now().Add(timeout)
	var t0, last time.Time
	var c0, seen float64
	var d drained
	for time.Now().Before(deadline) && ctx.Err() == nil {
		handled, backlog, err := workerProgress(url)
		now := time.Now()
		if err == nil && handled > 0 && t0.IsZero() {
			t0, c0, last, seen = now, handled, now, handled
		}
		if err == nil && handled > seen {
			if p := now.Sub(last); p > d.maxPause {
				d.maxPause, d.pauseAt, d.pauseN = p, last, int(seen-c0)
			}
			last, seen = now, handled
		}
		if err == nil && handled >= float64(want) && backlog == 0 {
			d.handled, d.elapsed = want-int(c0), now.Sub(t0)
			return d, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d, fmt.Errorf("worker did not drain %d messages within %s", want, timeout)
}
