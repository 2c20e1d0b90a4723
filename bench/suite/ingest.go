package suite

import (
	"context"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
)

// maxFlatRate bounds the corpus of a flat-out run: no run here goes faster, and a run
// that does simply ends on its count before its time.
const maxFlatRate = 20_000

// corpus makes n fresh callbacks (10% duplicates, 10% failures) on invoices of their own.
func (s *suite) corpus(n int) (*load.Corpus, error) {
	return load.NewCorpus(load.CorpusConfig{Keys: s.keys, FirstInvoice: s.base(int64(n)), Callbacks: n,
		DuplicateShare: 0.1, FailureShare: 0.1, Seed: uint64(n)})
}

// naiveConns are the connection counts at which the naive handler runs beside the
// ingest (issue 17: the ingest at 0.95x of it or better at each).
var naiveConns = map[int]bool{16: true, 64: true, 256: true}

// ingest measures the ingest flat out at each connection count and at 2,000/s, each
// beside a raw JetStream publish of the same messages at the same concurrency, the
// naive handler (baseline.Naive, on the same stream) at naiveConns, and a plain HTTP
// handler at 64 connections and at 2,000/s. One nats-server serves all.
func (s *suite) ingest(ctx context.Context) error {
	ns, err := s.startNATS(ctx, "nats-ingest")
	if err != nil {
		return err
	}
	defer ns.stop()
	if err := natsbus.EnsureStreams(ctx, ns.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox); err != nil {
		return err
	}
	ing, ingURL, err := s.startIngest(ctx, "ingest", ns.url)
	if err != nil {
		return err
	}
	defer ing.Stop(10 * time.Second)
	plain, plainURL, err := s.startSelf(ctx, "plain-http", "plain-http")
	if err != nil {
		return err
	}
	defer plain.Stop(10 * time.Second)
	naive, naiveURL, err := s.startSelf(ctx, "naive-http", "naive-http", "-nats-url", ns.url)
	if err != nil {
		return err
	}
	defer naive.Stop(10 * time.Second)

	// warm up: connections, the stream's first blocks, the ingest's pools
	for _, u := range []string{ingURL, naiveURL} {
		if _, err := s.httpRun(ctx, u, load.Plan{Conns: 64, Duration: time.Second, Max: 2000}); err != nil {
			return err
		}
	}
	flatMax := int(s.sz.flatFor.Seconds() * maxFlatRate)
	for _, conns := range s.sz.conns {
		plan := load.Plan{Conns: conns, Duration: s.sz.flatFor, Max: flatMax}
		row := ConnRow{Conns: conns}
		if row.Raw, err = s.rawRun(ctx, ns, plan); err != nil {
			return err
		}
		if naiveConns[conns] {
			a := turnTaker{"ingest", ingURL, cpuMeter{ing.Pid(), ns.Pid()}, ns}
			b := turnTaker{"naive", naiveURL, cpuMeter{naive.Pid(), ns.Pid()}, ns}
			if row.Ingest, row.Naive, row.IngestCPU, row.NaiveCPU, err = s.interleaved(ctx, a, b, plan); err != nil {
				return err
			}
		} else if row.Ingest, err = s.httpRun(ctx, ingURL, plan); err != nil {
			return err
		}
		s.logf("   %3d conns: ingest %6.0f/s  raw publish %6.0f/s  naive handler %6.0f/s", conns, row.Ingest.Throughput(), row.Raw.Throughput(), row.Naive.Throughput())
		if row.Naive.Requests > 0 {
			s.logf("             CPU us/request (server + nats-server + load generator): ingest %s, naive %s",
				cpuSplit(row.IngestCPU, row.Ingest.Requests), cpuSplit(row.NaiveCPU, row.Naive.Requests))
		}
		if conns == fixedConns {
			if s.res.Plain64, err = s.httpRun(ctx, plainURL, plan); err != nil {
				return err
			}
		}
		s.res.IngestConns = append(s.res.IngestConns, row)
	}
	fixed := load.Plan{Conns: fixedConns, Rate: ingestRate, Duration: s.sz.fixedFor}
	f := &s.res.IngestFixed
	if f.Raw, err = s.rawRun(ctx, ns, fixed); err != nil {
		return err
	}
	if f.Ingest, err = s.httpRun(ctx, ingURL, fixed); err != nil {
		return err
	}
	if f.Plain, err = s.httpRun(ctx, plainURL, fixed); err != nil {
		return err
	}
	s.logf("   %d/s: ingest p99 %s  raw publish p99 %s  plain p99 %s", ingestRate,
		f.Ingest.Latency.Quantile(.99), f.Raw.Latency.Quantile(.99), f.Plain.Latency.Quantile(.99))
	s.rss("ingest", ing)
	s.rss("nats-server (ingest runs)", ns.Proc)
	return nil
}

// naiveRounds is how many times the ingest and the naive handler take turns at one
// connection count: on a shared machine a single run each measures the neighbours as
// much as the code, and turns spread the neighbours' load over both. An even count:
// each goes first as often as the other.
const naiveRounds = 4

// turnTaker is a server that takes turns in interleaved: its name, where it listens,
// the CPU meter of it and its nats-server, and that nats-server (profiled during the
// server's first turn when the suite profiles: nats-<name>-<conns>.pprof).
type turnTaker struct {
	name string
	url  string
	cpu  cpuMeter
	ns   *natsServer
}

// interleaved runs plan against a and b in turns, naiveRounds times each, and returns
// each one's runs added up, and the CPU time each one's runs cost. The order changes
// every round (a b, b a, a b, ...), and each turn starts once the machine's dirty pages
// are written: a turn's published messages are otherwise written back during the next
// turn, which paid for them (the order used to be the same in every round, and the
// ingest went first).
func (s *suite) interleaved(ctx context.Context, a, b turnTaker, plan load.Plan) (ra, rb load.Result, ca, cb CPUShare, err error) {
	type turn struct {
		turnTaker
		res  *load.Result
		used *CPUShare
	}
	for round := range naiveRounds {
		turns := []turn{{a, &ra, &ca}, {b, &rb, &cb}}
		if round%2 == 1 {
			turns[0], turns[1] = turns[1], turns[0]
		}
		for _, t := range turns {
			flushDirtyPages()
			wait := func() {}
			if round == 0 {
				wait = t.ns.profile(s.cfg.ProfileDir, fmt.Sprintf("nats-%s-%d", t.name, plan.Conns), plan.Duration)
			}
			var r load.Result
			c, err := t.cpu.during(func() (err error) {
				r, err = s.httpRun(ctx, t.url, plan)
				return err
			})
			wait()
			if err != nil {
				return ra, rb, ca, cb, err
			}
			*t.res, *t.used = addResults(*t.res, r), t.used.add(c)
		}
	}
	return ra, rb, ca, cb, nil
}

// addResults is two runs as one: their requests, times, answers and latencies added.
func addResults(a, b load.Result) load.Result {
	if a.Latency == nil {
		return b
	}
	a.Requests += b.Requests
	a.Elapsed += b.Elapsed
	a.Latency.Merge(b.Latency)
	if a.Status == nil {
		a.Status = map[int]int{}
	}
	for code, n := range b.Status {
		a.Status[code] += n
	}
	a.Errors += b.Errors
	a.Late += b.Late
	if a.FirstErr == "" {
		a.FirstErr = b.FirstErr
	}
	return a
}

// corpusFor makes the callbacks a plan can send.
func (s *suite) corpusFor(plan load.Plan) (*load.Corpus, error) {
	n := plan.Max
	if plan.Rate > 0 {
		n = int(plan.Rate*plan.Duration.Seconds()) + 1
	}
	c, err := s.corpus(n)
	if err == nil && s.res.BodySize == 0 {
		s.res.BodySize = c.MeanBodySize()
	}
	return c, err
}

func (s *suite) httpRun(ctx context.Context, base string, plan load.Plan) (load.Result, error) {
	c, err := s.corpusFor(plan)
	if err != nil {
		return load.Result{}, err
	}
	client := load.NewHTTPClient(plan.Conns)
	defer client.CloseIdleConnections()
	return load.Drive(ctx, plan, load.PostCallbacks(client, base, c.Callbacks)), nil
}

func (s *suite) rawRun(ctx context.Context, ns *natsServer, plan load.Plan) (load.Result, error) {
	c, err := s.corpusFor(plan)
	if err != nil {
		return load.Result{}, err
	}
	return load.Drive(ctx, plan, load.PublishCallbacks(ns.js, c.Callbacks, inbox.DefaultShards)), nil
}

// rss records the peak resident set of a process under name.
func (s *suite) rss(name string, p *proctest.Proc) {
	v, err := p.PeakRSS()
	if err != nil {
		return
	}
	for i := range s.res.RSS {
		if s.res.RSS[i].Name == name { // a process run again (the end-to-end rounds): its highest peak
			s.res.RSS[i].Bytes = max(s.res.RSS[i].Bytes, v)
			return
		}
	}
	s.res.RSS = append(s.res.RSS, RSS{Name: name, Bytes: v})
}
