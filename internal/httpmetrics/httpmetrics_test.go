package httpmetrics_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/epayflow/epayflow/internal/httpmetrics"
	"github.com/epayflow/epayflow/internal/httpserver"
)

const invoiceID = "000123456789"

// newServer serves two instrumented routes, the probes and /metrics, the way the
// services wire them.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	rt := httpmetrics.New("test")
	reg.MustRegister(rt)
	mux := http.NewServeMux()
	rt.Handle(mux, "POST /v1/payments", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Fail") != "" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}), http.StatusCreated, http.StatusBadGateway)
	rt.Handle(mux, "GET /v1/invoices/{invoiceId}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.PathValue("invoiceId"))) // an implicit 200
	}), http.StatusOK, http.StatusNotFound)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	httpserver.Health(mux, map[string]httpserver.Check{"ok": func(context.Context) error { return nil }})
	srv := httptest.NewServer(rt.Unmatched(mux))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scrape reads a text exposition over HTTP: each sample by its series as written
// (name{labels}, the labels sorted by name).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestCodesAreThereBeforeTheFirstRequest(t *testing.T) {
	srv := newServer(t)
	got := scrape(t, srv.URL+"/metrics")
	for _, series := range []string{
		`test_requests_total{code="201",route="POST /v1/payments"}`,
		`test_requests_total{code="502",route="POST /v1/payments"}`,
		`test_requests_total{code="200",route="GET /v1/invoices/{invoiceId}"}`,
		`test_requests_total{code="404",route="unmatched"}`,
	} {
		series = "epayflow_" + series
		if v, ok := got[series]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0 before any request", series, v, ok)
		}
	}
}

func TestEachRouteCountsAndTimesItsRequests(t *testing.T) {
	srv := newServer(t)
	for _, r := range []struct {
		method, path string
		fail         bool
		want         int
	}{
		{"POST", "/v1/payments", false, 201},
		{"POST", "/v1/payments", false, 201},
		{"POST", "/v1/payments", true, 502},
		{"GET", "/v1/invoices/" + invoiceID, false, 200},
		{"GET", "/v1/invoices/" + invoiceID + "1", false, 200},
		{"GET", "/v1/payments", false, 405},  // the mux: no such method
		{"GET", "/" + invoiceID, false, 404}, // the mux: no such path
		{"GET", "/livez", false, 200},        // probes and /metrics: not counted
		{"GET", "/readyz", false, 200},
		{"GET", "/metrics", false, 200},
	} {
		h := http.Header{}
		if r.fail {
			h.Set("Fail", "1")
		}
		if got := do(t, r.method, srv.URL+r.path, h); got != r.want {
			t.Fatalf("%s %s: %d, want %d", r.method, r.path, got, r.want)
		}
	}
	got := scrape(t, srv.URL+"/metrics")
	for series, want := range map[string]float64{
		`requests_total{code="201",route="POST /v1/payments"}`:                                       2,
		`requests_total{code="502",route="POST /v1/payments"}`:                                       1,
		`requests_total{code="200",route="GET /v1/invoices/{invoiceId}"}`:                            2,
		`requests_total{code="404",route="GET /v1/invoices/{invoiceId}"}`:                            0,
		`requests_total{code="405",route="unmatched"}`:                                               1,
		`requests_total{code="404",route="unmatched"}`:                                               1,
		`request_duration_seconds_count{code="201",route="POST /v1/payments"}`:                       2,
		`request_duration_seconds_count{code="502",route="POST /v1/payments"}`:                       1,
		`request_duration_seconds_count{code="200",route="GET /v1/invoices/{invoiceId}"}`:            2,
		`request_duration_seconds_bucket{code="200",route="GET /v1/invoices/{invoiceId}",le="+Inf"}`: 2,
	} {
		series = "epayflow_test_" + series
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	for series := range got {
		if strings.Contains(series, invoiceID) {
			t.Errorf("%s: an invoice id in a label value", series)
		}
		for _, probe := range []string{"/livez", "/readyz", "/metrics"} {
			if strings.HasPrefix(series, "epayflow_test_") && strings.Contains(series, probe) {
				t.Errorf("%s: %s counted", series, probe)
			}
		}
	}
}

// failing is a collector whose every collection fails, as the worker's store stats or
// the webhooks' dead-letter listing do when their source cannot be read.
type failing struct{ desc *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("the store cannot be read"))
}

// A collector that fails leaves out its own metrics, counted, and the scrape still
// answers 200 with every other metric: a failed scrape would be up=0, a page for a
// service that is running.
func TestAFailingCollectorDoesNotFailTheScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	ok := prometheus.NewCounter(prometheus.CounterOpts{Name: "epayflow_test_applied_total", Help: "x"})
	ok.Inc()
	reg.MustRegister(ok, failing{prometheus.NewDesc("epayflow_test_store_bytes", "x", nil, nil)})
	srv := httptest.NewServer(httpmetrics.Handler(reg))
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get()
	code, body := get()
	if code != http.StatusOK || !strings.Contains(body, "epayflow_test_applied_total 1") || strings.Contains(body, "epayflow_test_store_bytes") ||
		!strings.Contains(body, `promhttp_metric_handler_errors_total{cause="gathering"} 1`) {
		t.Fatalf("scrape with a failing collector: %d\n%s", code, body)
	}
}
