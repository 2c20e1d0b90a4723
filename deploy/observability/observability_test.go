// Package observability_test checks the alert rules and the Grafana dashboard: the
// PrometheusRule is in sync with the plain rules file, promtool accepts and unit-tests
// every alert, every alert has a runbook section, and every metric an alert or a panel
// uses is listed in metrics-used.txt (ours) or metrics-external.txt (Prometheus' own
// and the NATS exporter's), so a scrape of the services can be compared with the list.
package observability_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite rules.yaml from prometheus-rules.yml")

const (
	rulesFile      = "prometheus-rules.yml"
	promRuleFile   = "rules.yaml"
	dashboardFile  = "grafana-dashboard.json"
	usedFile       = "metrics-used.txt"
	externalFile   = "metrics-external.txt"
	runbookFile    = "../../docs/RUNBOOK.md"
	runbookURLBase = "https://github.com/epayflow/epayflow/blob/main/docs/RUNBOOK.md#"
)

// ruleFile is Prometheus' rule file format (the part we use); strict decoding rejects
// anything else, such as a misspelt key.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec ruleFile `json:"spec"`
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	if err := yaml.UnmarshalStrict(mustRead(t, rulesFile), &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if len(rf.Groups) == 0 {
		t.Fatalf("%s: no groups", rulesFile)
	}
	return rf
}

func alerts(rf ruleFile) []rule {
	var out []rule
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

const promRuleHeader = `# GENERATED from prometheus-rules.yml: do not edit. Regenerate with
#   go test ./deploy/observability/ -run TestPrometheusRuleInSync -update
`

func renderPrometheusRule(t *testing.T, rf ruleFile) []byte {
	t.Helper()
	var pr prometheusRule
	pr.APIVersion = "monitoring.coreos.com/v1"
	pr.Kind = "PrometheusRule"
	pr.Metadata.Name = "epayflow"
	pr.Metadata.Labels = map[string]string{"app.kubernetes.io/name": "epayflow-alerts"}
	pr.Spec = rf
	b, err := yaml.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(promRuleHeader), b...)
}

func TestPrometheusRuleInSync(t *testing.T) {
	want := renderPrometheusRule(t, loadRules(t))
	if *update {
		if err := os.WriteFile(promRuleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := mustRead(t, promRuleFile)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with %s; run: go test ./deploy/observability/ -run TestPrometheusRuleInSync -update", promRuleFile, rulesFile)
	}
	var pr prometheusRule
	if err := yaml.UnmarshalStrict(got, &pr); err != nil {
		t.Fatalf("%s: %v", promRuleFile, err)
	}
}

func TestAlertsAreActionable(t *testing.T) {
	runbook := string(mustRead(t, runbookFile))
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\w+)\s*$`).FindAllStringSubmatch(runbook, -1) {
		sections[strings.ToLower(m[1])] = true
	}
	seen := map[string]bool{}
	for _, a := range alerts(loadRules(t)) {
		t.Run(a.Alert, func(t *testing.T) {
			if seen[a.Alert] {
				t.Errorf("alert name used twice")
			}
			seen[a.Alert] = true
			if !strings.HasPrefix(a.Alert, "Epayflow") {
				t.Errorf("alert name should start with Epayflow")
			}
			if s := a.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("severity %q: want critical or warning", s)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(a.Annotations[k]) == "" {
					t.Errorf("annotation %s missing", k)
				}
			}
			anchor := strings.ToLower(a.Alert)
			if want := runbookURLBase + anchor; a.Annotations["runbook_url"] != want {
				t.Errorf("runbook_url %q, want %q", a.Annotations["runbook_url"], want)
			}
			if !sections[anchor] {
				t.Errorf("docs/RUNBOOK.md has no section \"## %s\"", a.Alert)
			}
		})
	}
}

// promTest is the part of promtool's unit test format this check reads.
type promTest struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// Every alert is unit-tested both firing and staying quiet.
func TestEveryAlertIsUnitTested(t *testing.T) {
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in tests/*.yml (%v)", err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		var pt promTest
		if err := yaml.Unmarshal(mustRead(t, f), &pt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range pt.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) > 0 {
					fires[at.Alertname] = true
				} else {
					quiet[at.Alertname] = true
				}
			}
		}
	}
	for _, a := range alerts(loadRules(t)) {
		if !fires[a.Alert] {
			t.Errorf("%s: no promtool test where it fires", a.Alert)
		}
		if !quiet[a.Alert] {
			t.Errorf("%s: no promtool test where it stays quiet", a.Alert)
		}
	}
}

// TestPromtool runs what scripts/rules-check.sh runs, so `go test ./...` covers it too.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (apt-get install prometheus); .ci/run does")
	}
	tests, _ := filepath.Glob("tests/*.yml")
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func readNameList(t *testing.T, path string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for i, line := range strings.Split(string(mustRead(t, path)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !metricName.MatchString(line) {
			t.Errorf("%s:%d: %q is not a metric name", path, i+1, line)
		}
		if names[line] {
			t.Errorf("%s:%d: %q listed twice", path, i+1, line)
		}
		names[line] = true
	}
	return names
}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// exprs returns every PromQL expression of the rules and the dashboard, by where it is.
func exprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			out["rule "+r.Alert+r.Record] = r.Expr
		}
	}
	for where, e := range dashboardExprs(t) {
		out[where] = e
	}
	return out
}

// TestMetricNamesListed: the lists are exactly the names the rules and the dashboard use.
func TestMetricNamesListed(t *testing.T) {
	used, external := readNameList(t, usedFile), readNameList(t, externalFile)
	for n := range used {
		if external[n] {
			t.Errorf("%s is in both %s and %s", n, usedFile, externalFile)
		}
		if !strings.HasPrefix(n, "epayflow_") {
			t.Errorf("%s: %s is for epayflow_ metrics; put %s in %s", usedFile, n, n, externalFile)
		}
	}
	referenced := map[string]bool{}
	for where, e := range exprs(t) {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("%s: no metric name found in %q", where, e)
		}
		for _, n := range names {
			base := n
			if !used[n] && !external[n] {
				base = histogramBase(n)
			}
			if !used[base] && !external[base] {
				t.Errorf("%s uses %s, listed in neither %s nor %s", where, n, usedFile, externalFile)
			}
			referenced[base] = true
		}
	}
	for _, list := range []map[string]bool{used, external} {
		for n := range list {
			if !referenced[n] {
				t.Errorf("%s is listed but no rule or panel uses it", n)
			}
		}
	}
}

func histogramBase(n string) string {
	for _, s := range []string{"_bucket", "_count", "_sum"} {
		if b, ok := strings.CutSuffix(n, s); ok {
			return b
		}
	}
	return n
}

var (
	quoted   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	braces   = regexp.MustCompile(`\{[^{}]*\}`)
	brackets = regexp.MustCompile(`\[[^\[\]]*\]`)
	grouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	tokens   = regexp.MustCompile(`\$?[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?|[0-9][0-9a-zA-Z_.]*`)
	keywords = map[string]bool{
		"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
		"ignoring": true, "group_left": true, "group_right": true, "offset": true, "bool": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true,
		// Aggregations may be followed by "by (...)" rather than "(".
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
		"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
		"quantile": true, "limitk": true, "limit_ratio": true,
	}
)

// metricNames returns the metric names a PromQL expression selects, sorted: it drops
// strings, label matchers, ranges, grouping labels, functions, keywords, numbers and
// Grafana variables, and keeps the identifiers left.
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = braces.ReplaceAllString(s, "{}")
	s = brackets.ReplaceAllString(s, "[]")
	s = grouping.ReplaceAllString(s, "$1()")
	set := map[string]bool{}
	for _, tok := range tokens.FindAllString(s, -1) {
		switch {
		case strings.HasPrefix(tok, "$"), tok[0] >= '0' && tok[0] <= '9', strings.HasSuffix(tok, "("):
			continue // variable, number or duration, function or aggregation
		case keywords[strings.TrimSpace(tok)]:
			continue
		}
		set[strings.TrimSpace(tok)] = true
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestMetricNameExtraction(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`sum by (namespace) (rate(a_total{code=~"5.."}[5m])) / sum(rate(a_total[5m])) > 0.05`, "a_total"},
		{`histogram_quantile(0.99, sum by (le) (rate(h_seconds_bucket{job="x"}[$__rate_interval])))`, "h_seconds_bucket"},
		{`x - y offset 30m > 0 and on (namespace) z unless ignoring(pod) w`, "w x y z"},
		{`absent(up{job="worker"} == 1)`, "up"},
		{`max by (ns, shard) (deriv(p{namespace="$namespace"}[10m])) > 1e3`, "p"},
		{`sum(a) / on (namespace) group_left (reason) sum(b)`, "a b"},
	} {
		if got := strings.Join(metricNames(tc.expr), " "); got != tc.want {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}
