package worker

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// metricValue reads one sample from /metrics ("name{labels}" exactly as exposed); 0 when absent.
func metricValue(t testing.TB, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// An alert's increase() over a series first scraped at N sees nothing: a worker's first
// flood past the bound (EpayflowCallbackFlood) or first poisoned message after its start
// would never page. Every kind and outcome is exported at 0 from the start.
func TestEveryMessageOutcomeIsExportedFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "epayflow_worker_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if m.GetCounter().GetValue() == 0 {
				seen[labels["kind"]+"/"+labels["outcome"]] = true
			}
		}
	}
	for _, k := range []string{inbox.KindPostlink, inbox.KindInvoice, inbox.KindStatus, inbox.KindResolve, inbox.KindOperation} {
		for _, o := range []string{OutcomeApplied, OutcomeDuplicate, OutcomePoisoned, OutcomeRetried, OutcomeOverLimit} {
			if !seen[k+"/"+o] {
				t.Errorf(`epayflow_worker_messages_total{kind=%q,outcome=%q} is not exported at 0 before any message`, k, o)
			}
		}
	}
}

// EPAY_INBOX refuses every publish once it holds its max bytes (a flood of signed
// callbacks did it: review of session 28), and the NATS servers' storage alert does not
// see it (the stream's bound is far below the server's): the worker samples each bounded
// stream's fill for EpayflowStreamFilling.
func TestTheWorkerSamplesHowFullEachBoundedStreamIs(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	e.publishCreated(createdFor("10000000071", 10000))
	waitState(t, w.url, "10000000071", invoice.StateCreated)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	want := float64(info.State.Bytes) / float64(info.Config.MaxBytes)
	if info.Config.MaxBytes <= 0 || want <= 0 {
		t.Fatalf("EPAY_INBOX: %d bytes of %d", info.State.Bytes, info.Config.MaxBytes)
	}
	series := `epayflow_worker_stream_used_ratio{stream="EPAY_INBOX"}`
	waitFor(t, 10*time.Second, series, func() bool { return metricValue(t, w.url, series) == want })
	resp, err := http.Get(w.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for _, s := range []string{natsbus.StreamEvents, natsbus.StreamDLQ, natsbus.StreamDLQDiscarded} {
		if !strings.Contains(string(text), `epayflow_worker_stream_used_ratio{stream="`+s+`"}`) {
			t.Errorf("no fill sampled for %s", s)
		}
	}
}
