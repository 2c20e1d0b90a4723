package worker

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/inbox"
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
