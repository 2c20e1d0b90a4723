package devstack_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epay"
)

// samples reads a text exposition: each sample by its series as written (name{labels},
// labels sorted by name).
func samples(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", url, line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// Every route of the three services is counted and timed under its mux pattern, never
// its path: a request shows up as one more in its route and code's series, an invoice id
// is in no label value, and the probes and /metrics are not counted.
func TestEveryRouteIsCountedByItsPatternNeverByItsPath(t *testing.T) {
	urls := startStack(t)
	svcs := map[string]string{"initiator": urls.Initiator, "ingest": urls.Ingest, "worker": urls.Worker}

	// The series an alert or a panel needs are there, at 0, before any traffic.
	for svc, series := range map[string]string{
		"initiator": `epayflow_initiator_requests_total{code="502",route="POST /v1/payments"}`,
		"ingest":    `epayflow_ingest_requests_total{code="503",route="/epay/postlink"}`,
		"worker":    `epayflow_worker_requests_total{code="500",route="GET /v1/invoices/{invoiceId}"}`,
	} {
		if v, ok := samples(t, svcs[svc]+"/metrics")[series]; !ok || v != 0 {
			t.Errorf("%s before any request: %v (present %v), want 0", series, v, ok)
		}
	}

	p := createPayment(t, urls.Initiator)
	id := p.InvoiceID
	waitState(t, urls.Worker, id, "created") // the read routes answer 200 from here on
	keys, _ := epay.ParseKeyring(devstack.DevSecretKeys)
	callback, _ := json.Marshal(genuine(t, p, keys, "success"))
	api := "Bearer " + devstack.DevAPIKey
	read := "Bearer " + urls.WorkerReadKey
	for _, r := range []struct {
		svc, method, path, auth string
		body                    []byte
		route                   string
		code                    int
	}{
		{"initiator", "POST", "/v1/payments", api, []byte(`{"amount":1}`), "POST /v1/payments", 400},
		{"initiator", "POST", "/v1/payments", "", nil, "POST /v1/payments", 401},
		{"initiator", "GET", "/v1/invoices/" + id, api, nil, "GET /v1/invoices/{invoiceId}", 200},
		{"initiator", "GET", "/return/success?invoiceId=" + id, "", nil, "GET /return/success", 404},
		{"initiator", "GET", "/return/failure?invoiceId=" + id, "", nil, "GET /return/failure", 404},
		{"initiator", "GET", "/static/" + id, "", nil, "GET /static/", 404},
		{"initiator", "GET", "/", "", nil, "GET /{$}", 200},
		{"initiator", "GET", "/v1/payments", "", nil, "unmatched", 405},
		{"initiator", "GET", "/v1/invoices/" + id + "/history", "", nil, "unmatched", 404},
		{"ingest", "POST", "/epay/postlink", "", callback, "/epay/postlink", 200},
		{"ingest", "POST", "/epay/failure-postlink", "", []byte("{"), "/epay/failure-postlink", 400},
		{"ingest", "GET", "/epay/" + id, "", nil, "unmatched", 404},
		{"worker", "GET", "/v1/invoices/" + id, read, nil, "GET /v1/invoices/{invoiceId}", 200},
		{"worker", "GET", "/v1/invoices/" + id, "", nil, "GET /v1/invoices/{invoiceId}", 401},
		{"worker", "GET", "/v1/invoices/x" + id, read, nil, "GET /v1/invoices/{invoiceId}", 400},
		{"worker", "DELETE", "/v1/invoices/" + id, read, nil, "unmatched", 405},
	} {
		base := svcs[r.svc]
		labels := `{code="` + strconv.Itoa(r.code) + `",route="` + r.route + `"}`
		count := "epayflow_" + r.svc + "_requests_total" + labels
		timed := "epayflow_" + r.svc + "_request_duration_seconds_count" + labels
		before := samples(t, base+"/metrics")
		req, _ := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
		if r.auth != "" {
			req.Header.Set("Authorization", r.auth)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.code {
			t.Errorf("%s %s %s: %d, want %d", r.svc, r.method, r.path, resp.StatusCode, r.code)
			continue
		}
		after := samples(t, base+"/metrics")
		for _, s := range []string{count, timed} {
			if d := after[s] - before[s]; d != 1 {
				t.Errorf("%s %s %s: %s went up by %v, want 1", r.svc, r.method, r.path, s, d)
			}
		}
	}
	for svc, base := range svcs {
		for _, probe := range []string{"/livez", "/readyz", "/metrics"} {
			if resp, err := http.Get(base + probe); err == nil {
				resp.Body.Close()
			}
		}
		for series := range samples(t, base+"/metrics") {
			if strings.Contains(series, id) {
				t.Errorf("%s: %s has the invoice id %s in a label value", svc, series, id)
			}
			if strings.Contains(series, "_request") && (strings.Contains(series, "livez") ||
				strings.Contains(series, "readyz") || strings.Contains(series, "/metrics")) {
				t.Errorf("%s: %s counts a probe or a scrape", svc, series)
			}
		}
	}
}
