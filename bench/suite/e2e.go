package suite

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/bench/baseline"
	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// endToEnd sends callbacks at e2eRate to the ingest of a running stack (the invoices
// created first) and times each to its event on PAYMENT_EVENTS; then the same through
// the baseline pipeline with the same hops and none of the work. It runs e2eRounds
// rounds of the two, each on new processes and files, and keeps each side's median
// round by p99: a stall of the machine's disk in one run (a full run's pipeline once
// had a p99 of 247 ms, its other hops under 2 ms; bench/NOTES.md, session 20) moves
// neither side's figure, nor the ratio of the two.
func (s *suite) endToEnd(ctx context.Context) error {
	plan := load.Plan{Conns: fixedConns, Rate: e2eRate, Duration: s.sz.e2eFor}
	var svc, pipe []E2EResult
	for round := range max(s.sz.e2eRounds, 1) {
		sr, err := s.e2eService(ctx, plan, round)
		if err != nil {
			return err
		}
		pr, err := s.e2ePipeline(ctx, plan, round)
		if err != nil {
			return err
		}
		svc, pipe = append(svc, sr), append(pipe, pr)
		s.res.E2E.Rounds = append(s.res.E2E.Rounds, E2ERound{Service: sr.Latency.Quantile(.99), Pipeline: pr.Latency.Quantile(.99)})
		s.logf("   round %d: %d/s end to end p99 %s, pipeline baseline p99 %s", round+1, e2eRate,
			sr.Latency.Quantile(.99), pr.Latency.Quantile(.99))
	}
	s.res.E2E.Service, s.res.E2E.Pipeline = medianRound(svc), medianRound(pipe)
	s.logf("   %d/s end to end: p99 %s (pipeline baseline p99 %s; the median round of each)", e2eRate,
		s.res.E2E.Service.Latency.Quantile(.99), s.res.E2E.Pipeline.Latency.Quantile(.99))
	for _, h := range s.res.E2E.Service.Hops {
		s.logf("     %s: p50 %s, p99 %s", h.Name, h.Latency.Quantile(.5), h.Latency.Quantile(.99))
	}
	for _, st := range s.res.E2E.Service.Stages {
		s.logf("     worker, %s: p50 %s, p99 %s", st.Name, st.P50, st.P99)
	}
	s.logf("     worker GC: %.0f cycles, %s stopped", s.res.E2E.Service.GCCycles, s.res.E2E.Service.GCPause)
	return nil
}

// medianRound is the round whose p99 is the median of rounds' (of an even count, the
// higher of the two middle ones).
func medianRound(rounds []E2EResult) E2EResult {
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b E2EResult) int {
		return cmp.Compare(a.Latency.Quantile(.99), b.Latency.Quantile(.99))
	})
	return sorted[len(sorted)/2]
}

// roundName names a round's process or file: the first round's as before, the others'
// with their number.
func roundName(name string, round int) string {
	if round == 0 {
		return name
	}
	return name + "-" + strconv.Itoa(round+1)
}

func (s *suite) e2eService(ctx context.Context, plan load.Plan, round int) (E2EResult, error) {
	var r E2EResult
	c, err := s.corpusFor(plan)
	if err != nil {
		return r, err
	}
	ns, err := s.startNATS(ctx, roundName("nats-e2e", round))
	if err != nil {
		return r, err
	}
	defer ns.stop()
	if err := natsbus.EnsureStreams(ctx, ns.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ); err != nil {
		return r, err
	}
	w, wURL, err := s.startWorker(ctx, roundName("worker-e2e", round), ns.url, filepath.Join(s.cfg.Dir, roundName("worker-e2e", round)+".db"))
	if err != nil {
		return r, err
	}
	defer w.Stop(30 * time.Second)
	ing, ingURL, err := s.startIngest(ctx, roundName("ingest-e2e", round), ns.url)
	if err != nil {
		return r, err
	}
	defer ing.Stop(10 * time.Second)
	msgs, ids := load.CreatedMsgs(c.Invoices, s.keys, inbox.DefaultShards)
	stored, err := load.PublishAll(ctx, ns.js, msgs, ids, 1024)
	if err != nil {
		return r, err
	}
	if _, _, err := waitDrained(ctx, wURL, stored, 2*time.Minute); err != nil {
		return r, fmt.Errorf("invoice.created: %w", err)
	}
	watch, err := watchEvents(ctx, ns.js, natsbus.StreamEvents, "payments.>")
	if err != nil {
		return r, err
	}
	inboxAt, err := stampStream(ctx, ns.js, natsbus.StreamInbox, "epay.inbox.>", idInData)
	if err != nil {
		return r, err
	}
	stateAt, err := stampStream(ctx, ns.js, natsbus.StreamState, "epay.state.>", idInLastToken)
	if err != nil {
		return r, err
	}
	eventAt, err := stampStream(ctx, ns.js, natsbus.StreamEvents, "payments.>", idInData)
	if err != nil {
		return r, err
	}
	client := load.NewHTTPClient(plan.Conns)
	defer client.CloseIdleConnections()
	before, err := metrics(wURL)
	if err != nil {
		return r, err
	}
	flushDirtyPages()
	r.Sent = load.Drive(ctx, plan, watch.track(c.Callbacks, load.PostCallbacks(client, ingURL, c.Callbacks)))
	r.Events, r.Missing = watch.wait(15 * time.Second)
	if after, err := metrics(wURL); err == nil {
		r.Stages, r.GCCycles, r.GCPause = stagesBetween(before, after)
	}
	r.Latency = watch.h
	r.Hops = hops(watch, serviceHops, inboxAt.stop(), stateAt.stop(), eventAt.stop())
	s.rss("ingest (end to end)", ing)
	s.rss("worker (end to end)", w)
	return r, nil
}

// e2ePipeline runs on a nats-server of its own: JetStream reserves every stream's
// MaxBytes of disk, and the real streams already reserve most of a small disk.
func (s *suite) e2ePipeline(ctx context.Context, plan load.Plan, round int) (E2EResult, error) {
	var r E2EResult
	c, err := s.corpusFor(plan)
	if err != nil {
		return r, err
	}
	ns, err := s.startNATS(ctx, roundName("nats-pipeline", round))
	if err != nil {
		return r, err
	}
	defer ns.stop()
	if err := baseline.PipelineStreams(ctx, ns.js); err != nil {
		return r, err
	}
	p, url, err := s.startSelf(ctx, roundName("pipeline", round), "pipeline", "-nats-url", ns.url, "-db", filepath.Join(s.cfg.Dir, roundName("pipeline", round)+".db"))
	if err != nil {
		return r, err
	}
	defer p.Stop(10 * time.Second)
	if err := warmPipeline(ctx, ns.js, c, len(c.Invoices)); err != nil {
		return r, err
	}
	watch, err := watchEvents(ctx, ns.js, baseline.PipelineEvents, baseline.PipelineEventsF)
	if err != nil {
		return r, err
	}
	inboxAt, err := stampStream(ctx, ns.js, baseline.PipelineInbox, "base.inbox.>", idInData)
	if err != nil {
		return r, err
	}
	eventAt, err := stampStream(ctx, ns.js, baseline.PipelineEvents, baseline.PipelineEventsF, idInData)
	if err != nil {
		return r, err
	}
	client := load.NewHTTPClient(plan.Conns)
	defer client.CloseIdleConnections()
	flushDirtyPages()
	r.Sent = load.Drive(ctx, plan, watch.track(c.Callbacks, load.PostCallbacks(client, url, c.Callbacks)))
	r.Events, r.Missing = watch.wait(15 * time.Second)
	r.Latency = watch.h
	r.Hops = hops(watch, pipelineHops, inboxAt.stop(), eventAt.stop())
	return r, nil
}

// warmPipeline sends n messages through the pipeline before its timed run, unmeasured,
// and waits until each is out on its events stream: the service's timed run comes after
// its invoices' creation (as many messages, applied), and the pipeline gets the same
// start, its file and streams grown first. (The pipeline's p99 tails of 85-250 ms at
// 1000/s in the runs of 2026-12-02 were not this but the writeback of the run before
// it, which flushDirtyPages takes out; bench/NOTES.md, session 19.)
func warmPipeline(ctx context.Context, js jetstream.JetStream, c *load.Corpus, n int) error {
	msgs, ids := make([]*nats.Msg, n), make([]string, n)
	for i := range msgs {
		ids[i] = "warm-" + strconv.Itoa(i)
		msgs[i] = &nats.Msg{Subject: baseline.PipelineInSubj, Data: c.Callbacks[i%len(c.Callbacks)].Body,
			Header: nats.Header{nats.MsgIdHdr: {ids[i]}}}
	}
	if _, err := load.PublishAll(ctx, js, msgs, ids, 1024); err != nil {
		return fmt.Errorf("warm the pipeline: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		info, err := js.Stream(ctx, baseline.PipelineEvents)
		if err == nil {
			var st *jetstream.StreamInfo
			if st, err = info.Info(ctx); err == nil && st.State.Msgs >= uint64(n) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm the pipeline: %d messages not out on %s within 2 min (%v)", n, baseline.PipelineEvents, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// flushDirtyPages writes every dirty page of the machine to disk (sync(2)) before a
// timed run, so that no run pays for an earlier one's writes: a file system flushes
// what other processes left in the page cache, nats-server's streams of the run before
// (it fsyncs every 2 min only), while the timed run's commits wait on their fsyncs.
func flushDirtyPages() { syscall.Sync() }

// The hops of each path, in order (hops' points: the stored times in each stream).
var (
	serviceHops = []string{
		"callback -> EPAY_INBOX (HTTP, ingest: decode, verify, publish, PubAck)",
		"EPAY_INBOX -> EPAY_STATE (worker: fetch, decode, prepare, changelog write)",
		"EPAY_STATE -> PAYMENT_EVENTS (bbolt commit and fsync, outbox relay, PubAck)",
		"PAYMENT_EVENTS -> subscriber (delivery to an ordered consumer)",
	}
	pipelineHops = []string{
		"callback -> inbox stream (HTTP, publish, PubAck)",
		"inbox stream -> events stream (consume, bbolt Batch and fsync, publish, PubAck)",
		"events stream -> subscriber (delivery to an ordered consumer)",
	}
)
