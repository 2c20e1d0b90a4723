package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/proctest"
)

// The real alert rules, loaded by a real Prometheus (Debian's prometheus package)
// scraping the running stack every second, must fire for the faults they are written
// for and resolve once the fault ends. Their durations are divided by timeScale (every
// for:, every range and offset of every expression; nothing else of them is changed) so
// that a 5-minute for: is 10 seconds and the whole test takes about two minutes.
//
// The faults are real: ePay's token endpoint answers 503, the worker is stopped (its port
// closed, devstack.Control), the NATS server is shut down; each is then undone. NATS's
// health reaches Prometheus as in deploy/k8s, through the exporter's
// gnatsd_healthz_status under job nats-headless (newHealthzExporter).
const (
	timeScale = 30
	interval  = time.Second // scrape and rule evaluation
	rulesPath = "../../deploy/observability/prometheus-rules.yml"
)

func TestPrometheusAlertsFireOnFaultsAndResolve(t *testing.T) {
	if os.Getenv("EPAYFLOW_PROMETHEUS_E2E") == "" {
		t.Skip("about two minutes: make prometheus-e2e (EPAYFLOW_PROMETHEUS_E2E=1) runs it")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: install Debian's prometheus package (apt-get install prometheus); .ci/run does")
	}
	token := newTokenEndpoint(t)
	var ctl *devstack.Control
	urls := devstacktest.Start(t, devstacktest.Options{
		Env:         map[string]string{"EPAY_TOKEN_URL": token.url + "/oauth2/token"},
		NATSMonitor: true,
		OnControl:   func(c *devstack.Control) { ctl = c },
	})
	token.to(urls.Sandbox)
	exporter := newHealthzExporter(t, urls.NATSMonitor)
	rulesYAML, rules := loadScaledRules(t)
	prom := startPrometheus(t, bin, rulesYAML, map[string]string{
		"ingest": hostPort(t, urls.Ingest), "initiator": hostPort(t, urls.Initiator), "worker": hostPort(t, urls.Worker),
		"nats-headless": exporter,
	})
	prom.waitUp(t, 4)

	// Healthy, and evaluated a few times: nothing pending, nothing firing.
	prom.waitEvaluations(t, 5)
	if as := prom.alerts(t); len(as) > 0 {
		t.Fatalf("a healthy stack has alerts: %+v", as)
	}

	p := createPayment(t, urls.Initiator)
	keys, _ := epay.ParseKeyring(devstack.DevSecretKeys)
	callback, _ := json.Marshal(genuine(t, p, keys, "success"))

	for _, f := range []struct {
		name         string
		alerts       []string
		start, end   func(*testing.T)
		load         func(context.Context)
		loadInterval time.Duration
	}{
		{"ePay's token endpoint fails", []string{"EpayflowEpayTokenErrors", "EpayflowInitiator5xxRatioHigh"},
			func(*testing.T) { token.fail() }, func(*testing.T) { token.heal() },
			func(ctx context.Context) { post(ctx, urls.Initiator+"/v1/payments", paymentBody, devstack.DevAPIKey) }, 100 * time.Millisecond},
		// The worker process stopped (its port closed, its file closed), then started again.
		{"the worker is stopped", []string{"EpayflowWorkerAbsent", "EpayflowTargetDown"},
			func(t *testing.T) { must(t, ctl.StopWorker(30*time.Second)) }, func(t *testing.T) { must(t, ctl.StartWorker()) }, nil, 0},
		// The NATS server shut down (the services lose their connections; /healthz does
		// not answer), then started again on its port with its data.
		{"NATS is stopped", []string{"EpayflowNATSDown", "EpayflowIngest5xxRatioHigh", "EpayflowIngestPublishFailures"},
			func(*testing.T) { ctl.StopNATS() }, func(t *testing.T) { must(t, ctl.StartNATS()) },
			func(ctx context.Context) { post(ctx, urls.Ingest+"/epay/postlink", string(callback), "") }, 100 * time.Millisecond},
	} {
		t.Run(f.name, func(t *testing.T) {
			ctx, stopLoad := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer stopLoad()
			if f.load != nil { // the traffic that meets the fault, and after it the traffic that heals the ratios
				wg.Go(func() { every(ctx, f.loadInterval, f.load) })
			}
			start := time.Now()
			f.start(t)
			for _, name := range f.alerts {
				r := rules[name]
				a := prom.waitAlert(t, name, "firing", start.Add(r.detect+r.forDur+2*interval+5*time.Second))
				t.Logf("%s firing %.1fs after the fault began (pending at %.1fs, for: %s)",
					name, time.Since(start).Seconds(), a.ActiveAt.Sub(start).Seconds(), r.forDur)
				// Prometheus' own clock: from pending to firing in for: plus two evaluations.
				if late := time.Since(a.ActiveAt) - r.forDur - 2*interval; late > interval {
					t.Errorf("%s: firing %s after its for: plus two evaluation intervals", name, late)
				}
			}
			f.end(t)
			healed := time.Now()
			for _, name := range f.alerts {
				prom.waitAlert(t, name, "", healed.Add(rules[name].detect+2*interval+5*time.Second))
				t.Logf("%s resolved %.1fs after the fault ended", name, time.Since(healed).Seconds())
			}
		})
	}
}

const paymentBody = `{"amount":100,"currency":"KZT","description":"Order 42","kind":"payment","email":"a@example.kz"}`

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newHealthzExporter serves, at each scrape, the NATS server's /healthz as
// prometheus-nats-exporter -healthz does (collector/healthz.go): gnatsd_healthz_status 0
// when the server answers "ok", 1 for another answer, and no sample at all when it does
// not answer. It stands in for the exporter, which the module proxy does not offer, the
// way the sidecar stands beside each server in deploy/k8s. It returns its host:port.
func newHealthzExporter(t *testing.T, monitorURL string) string {
	t.Helper()
	if monitorURL == "" {
		t.Fatal("the stack has no NATS monitoring URL")
	}
	client := &http.Client{Timeout: 500 * time.Millisecond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE gnatsd_healthz_status gauge")
		resp, err := client.Get(monitorURL + "/healthz")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		var h struct {
			Status string `json:"status"`
		}
		if json.NewDecoder(resp.Body).Decode(&h) != nil {
			return
		}
		status := 1
		if h.Status == "ok" {
			status = 0
		}
		fmt.Fprintf(w, "gnatsd_healthz_status{server_id=%q} %d\n", "epayflow-embedded", status)
	}))
	t.Cleanup(srv.Close)
	return hostPort(t, srv.URL)
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// post sends body, answers ignored: the metrics count them.
func post(ctx context.Context, url, body, key string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("%q: not a URL with a host", raw)
	}
	return u.Host
}

// tokenEndpoint stands between the services and the sandbox's token endpoint, and
// answers 503 while failing, as ePay's does when it is down.
type tokenEndpoint struct {
	url     string
	srv     *http.Server
	failing atomic.Bool
	proxy   atomic.Pointer[httputil.ReverseProxy]
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	te := &tokenEndpoint{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	te.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := te.proxy.Load(); p != nil && !te.failing.Load() {
			p.ServeHTTP(w, r)
			return
		}
		http.Error(w, `{"message":"service unavailable"}`, http.StatusServiceUnavailable)
	})}
	go te.srv.Serve(ln)
	te.url = "http://" + ln.Addr().String()
	t.Cleanup(func() { te.srv.Close() })
	return te
}

func (te *tokenEndpoint) to(sandboxURL string) {
	u, _ := url.Parse(sandboxURL)
	te.proxy.Store(httputil.NewSingleHostReverseProxy(u))
}
func (te *tokenEndpoint) fail() { te.failing.Store(true) }
func (te *tokenEndpoint) heal() { te.failing.Store(false) }

// scaledRule is what the test needs to know of an alert rule, its durations scaled.
type scaledRule struct {
	forDur time.Duration
	detect time.Duration // the longest range plus the longest offset of its expression
}

var (
	promDuration = regexp.MustCompile(`^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$`)
	durPart      = regexp.MustCompile(`([0-9]+)(ms|s|m|h|d|w|y)`)
	exprRange    = regexp.MustCompile(`\[([0-9a-z]+)(:[0-9a-z]*)?\]`)
	exprOffset   = regexp.MustCompile(`\boffset\s+([0-9a-z]+)`)
	durUnits     = map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute,
		"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}
)

// parsePromDuration reads a Prometheus duration (1h30m, 5m, 500ms).
func parsePromDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	if !promDuration.MatchString(s) {
		t.Fatalf("%q is not a Prometheus duration", s)
	}
	var d time.Duration
	for _, m := range durPart.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		d += time.Duration(n) * durUnits[m[2]]
	}
	return d
}

func scale(t *testing.T, s string) (string, time.Duration) {
	d := parsePromDuration(t, s) / timeScale
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms", d
}

// loadScaledRules reads the rules file, divides its durations by timeScale and returns
// the result, a rules file, with what the test needs of each alert.
func loadScaledRules(t *testing.T) ([]byte, map[string]scaledRule) {
	t.Helper()
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string           `json:"name"`
			Rules []map[string]any `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	out := map[string]scaledRule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			var sr scaledRule
			for _, k := range []string{"for", "keep_firing_for"} {
				if v, ok := r[k].(string); ok {
					var d time.Duration
					r[k], d = scale(t, v)
					if k == "for" {
						sr.forDur = d
					}
				}
			}
			expr, _ := r["expr"].(string)
			var maxRange, maxOffset time.Duration
			expr = exprRange.ReplaceAllStringFunc(expr, func(m string) string {
				sub := exprRange.FindStringSubmatch(m)
				s, d := scale(t, sub[1])
				maxRange = max(maxRange, d)
				if sub[2] != "" && sub[2] != ":" {
					step, _ := scale(t, sub[2][1:])
					return "[" + s + ":" + step + "]"
				}
				return "[" + s + sub[2] + "]"
			})
			expr = exprOffset.ReplaceAllStringFunc(expr, func(m string) string {
				s, d := scale(t, exprOffset.FindStringSubmatch(m)[1])
				maxOffset = max(maxOffset, d)
				return "offset " + s
			})
			r["expr"] = expr
			sr.detect = maxRange + maxOffset + 2*interval
			if name, ok := r["alert"].(string); ok {
				out[name] = sr
			}
		}
	}
	b, err := yaml.Marshal(rf)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

type prometheusServer struct {
	url string
	log string
}

// startPrometheus runs Prometheus with the scaled rules, scraping each job's target
// every interval with the labels of a namespace and a pod, until the test ends.
func startPrometheus(t *testing.T, bin string, rulesYAML []byte, jobs map[string]string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rulesYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: 900ms\n  evaluation_interval: %s\nrule_files: [rules.yml]\nscrape_configs:\n", interval, interval)
	for job, target := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n        labels: {namespace: e2e, pod: %s-0}\n", job, target, job)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	ps := &prometheusServer{url: "http://" + addr, log: logPath}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	return ps
}

// api GETs path of the Prometheus HTTP API into v; false while it does not answer.
func (p *prometheusServer) api(path string, v any) bool {
	resp, err := http.Get(p.url + path)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Status != "success" {
		return false
	}
	return json.Unmarshal(body.Data, v) == nil
}

// poll calls cond every 200ms until it is true; false at deadline.
func poll(deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUp waits until n targets are scraped and up.
func (p *prometheusServer) waitUp(t *testing.T, n int) {
	t.Helper()
	var last any
	if !poll(time.Now().Add(30*time.Second), func() bool {
		var res struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		}
		if !p.api("/api/v1/query?query="+url.QueryEscape(`up == 1`), &res) {
			return false
		}
		last = res.Result
		return len(res.Result) == n
	}) {
		t.Fatalf("prometheus: %d targets up not reached in 30s (last %v)", n, last)
	}
}

// waitEvaluations waits until every rule group has been evaluated n times since now.
func (p *prometheusServer) waitEvaluations(t *testing.T, n int) {
	t.Helper()
	since := time.Now()
	if !poll(since.Add(time.Duration(n)*interval+20*time.Second), func() bool {
		var res struct {
			Groups []struct {
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		}
		if !p.api("/api/v1/rules", &res) || len(res.Groups) == 0 {
			return false
		}
		for _, g := range res.Groups {
			if g.LastEvaluation.Before(since.Add(time.Duration(n-1) * interval)) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("prometheus: rules not evaluated %d times", n)
	}
}

type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
}

func (p *prometheusServer) alerts(t *testing.T) []promAlert {
	t.Helper()
	var res struct {
		Alerts []promAlert `json:"alerts"`
	}
	if !p.api("/api/v1/alerts", &res) {
		t.Fatal("prometheus: /api/v1/alerts did not answer")
	}
	return res.Alerts
}

// waitAlert waits until alert name is in state ("" for neither pending nor firing:
// resolved) and returns it; a test error at deadline.
func (p *prometheusServer) waitAlert(t *testing.T, name, state string, deadline time.Time) promAlert {
	t.Helper()
	var got promAlert
	var seen []promAlert
	ok := poll(deadline, func() bool {
		got, seen = promAlert{}, p.alerts(t)
		for _, a := range seen {
			if a.Labels["alertname"] == name {
				got = a
			}
		}
		return got.State == state
	})
	if !ok {
		want := state
		if want == "" {
			want = "resolved"
		}
		t.Fatalf("%s not %s by the deadline; alerts: %+v", name, want, seen)
	}
	return got
}
