package suite

import (
	"context"
	"fmt"
	"path/filepath"
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
// the baseline pipeline with the same hops and none of the work.
func (s *suite) endToEnd(ctx context.Context) error {
	plan := load.Plan{Conns: fixedConns, Rate: e2eRate, Duration: s.sz.e2eFor}
	var err error
	if s.res.E2E.Service, err = s.e2eService(ctx, plan); err != nil {
		return err
	}
	if s.res.E2E.Pipeline, err = s.e2ePipeline(ctx, plan); err != nil {
		return err
	}
	s.logf("   %d/s end to end: p99 %s (pipeline baseline p99 %s)", e2eRate,
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

func (s *suite) e2eService(ctx context.Context, plan load.Plan) (E2EResult, error) {
	var r E2EResult
	c, err := s.corpusFor(plan)
	if err != nil {
		return r, err
	}
	ns, err := s.startNATS(ctx, "nats-e2e")
	if err != nil {
		return r, err
	}
	defer ns.stop()
	if err := natsbus.EnsureStreams(ctx, ns.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ); err != nil {
		return r, err
	}
	w, wURL, err := s.startWorker(ctx, "worker-e2e", ns.url, filepath.Join(s.cfg.Dir, "worker-e2e.db"))
	if err != nil {
		return r, err
	}
	defer w.Stop(30 * time.Second)
	ing, ingURL, err := s.startIngest(ctx, "ingest-e2e", ns.url)
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
func (s *suite) e2ePipeline(ctx context.Context, plan load.Plan) (E2EResult, error) {
	var r E2EResult
	c, err := s.corpusFor(plan)
	if err != nil {
		return r, err
	}
	ns, err := s.startNATS(ctx, "nats-pipeline")
	if err != nil {
		return r, err
	}
	defer ns.stop()
	if err := baseline.PipelineStreams(ctx, ns.js); err != nil {
		return r, err
	}
	p, url, err := s.startSelf(ctx, "pipeline", "pipeline", "-nats-url", ns.url, "-db", filepath.Join(s.cfg.Dir, "pipeline.db"))
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
