//lint:file-ignore SA1019 the file is a classic dashboard (schemaVersion 39), the JSON the Grafana sidecar imports; the SDK's dashboardv2 is the other, newer format
package observability_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// loadDashboard decodes the dashboard strictly with Grafana's own Go schema types (the
// foundation SDK, its panel and query plugins registered): a misspelt or unknown field
// of the dashboard, a panel, its options, field config or a Prometheus query is an error.
func loadDashboard(t *testing.T) *dashboard.Dashboard {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := noBuildErrors(d.UnmarshalJSONStrict(mustRead(t, dashboardFile))); err != nil {
		t.Fatalf("%s does not decode strictly into Grafana's dashboard schema: %v", dashboardFile, err)
	}
	// The SDK's PanelOrRowPanel.UnmarshalJSONStrict (v0.0.22) takes the empty error list
	// its Panel returns for an error and keeps neither panel nor row, silently (an empty
	// cog.BuildErrors in an error interface is not nil): decode the panels one by one, as
	// strictly.
	var raw struct{ Panels []json.RawMessage }
	if err := json.Unmarshal(mustRead(t, dashboardFile), &raw); err != nil {
		t.Fatal(err)
	}
	d.Panels = nil
	for i, rp := range raw.Panels {
		var kind struct{ Type string }
		json.Unmarshal(rp, &kind)
		var por dashboard.PanelOrRowPanel
		var err error
		if kind.Type == "row" {
			por.RowPanel = &dashboard.RowPanel{}
			err = por.RowPanel.UnmarshalJSONStrict(rp)
			if err == nil || noBuildErrors(err) == nil && len(por.RowPanel.Panels) > 0 {
				t.Fatalf("%s: panels[%d]: a collapsed row's panels are not checked here; keep rows open", dashboardFile, i)
			}
		} else {
			por.Panel, err = strictPanel(rp)
		}
		if err := noBuildErrors(err); err != nil {
			t.Fatalf("%s: panels[%d]: %v", dashboardFile, i, err)
		}
		d.Panels = append(d.Panels, por)
	}
	if err := noBuildErrors(d.Validate()); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// strictPanel decodes a panel strictly, and its targets as Prometheus queries: the SDK's
// own target decoding (v0.0.22) drops every target for the same empty-error-list reason.
func strictPanel(raw []byte) (*dashboard.Panel, error) {
	var p dashboard.Panel
	if err := noBuildErrors(p.UnmarshalJSONStrict(raw)); err != nil {
		return nil, err
	}
	var targets struct{ Targets []json.RawMessage }
	if err := json.Unmarshal(raw, &targets); err != nil {
		return nil, err
	}
	p.Targets = nil
	for i, rt := range targets.Targets {
		var q prometheus.Dataquery
		if err := noBuildErrors(q.UnmarshalJSONStrict(rt)); err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		p.Targets = append(p.Targets, &q)
	}
	return &p, nil
}

// noBuildErrors is err, or nil for an empty cog.BuildErrors: the SDK returns its error
// list as an error even when the list is empty.
func noBuildErrors(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

// panels returns the panels of d that are not rows (with those of collapsed rows), and
// the rows' titles.
func panels(d *dashboard.Dashboard) (ps []dashboard.Panel, rows []dashboard.RowPanel) {
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			ps = append(ps, *p.Panel)
		case p.RowPanel != nil:
			rows = append(rows, *p.RowPanel)
			ps = append(ps, p.RowPanel.Panels...)
		}
	}
	return ps, rows
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// queries returns a panel's Prometheus queries; any other kind of query is an error.
func queries(t *testing.T, p dashboard.Panel) []*prometheus.Dataquery {
	t.Helper()
	var out []*prometheus.Dataquery
	for i, q := range p.Targets {
		pq, ok := q.(*prometheus.Dataquery)
		if !ok {
			t.Errorf("panel %q target %d: %T, want a Prometheus query", str(p.Title), i, q)
			continue
		}
		out = append(out, pq)
	}
	return out
}

// dashboardExprs returns each panel query by "panel <title> <refId>".
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	ps, _ := panels(loadDashboard(t))
	for _, p := range ps {
		for _, q := range queries(t, p) {
			out[fmt.Sprintf("panel %q %s", str(p.Title), str(q.RefId))] = q.Expr
		}
	}
	return out
}

func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	// template-datasource-rule of grafana/dashboard-linter.
	if ds, ok := vars["datasource"]; !ok || ds.Type != dashboard.VariableTypeDatasource || str(ds.Label) != "Data source" ||
		ds.Query == nil || str(ds.Query.String) != "prometheus" {
		t.Errorf("want a Prometheus data source variable named datasource labelled \"Data source\", got %+v", ds)
	}
	for _, name := range []string{"namespace", "job", "instance"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no %s variable", name)
			continue
		}
		// template-job-rule, template-instance-rule, template-on-time-change-reload-rule.
		if v.Type != dashboard.VariableTypeQuery || v.Datasource == nil || str(v.Datasource.Uid) != "${datasource}" {
			t.Errorf("%s: want a query of the ${datasource} variable, got type %s", name, v.Type)
		}
		if v.Refresh == nil || *v.Refresh != dashboard.VariableRefreshOnTimeRangeChanged {
			t.Errorf("%s: refresh on time range change (2)", name)
		}
		if want := strings.ToUpper(name[:1]) + name[1:]; str(v.Label) != want {
			t.Errorf("%s: label %q, want %q", name, str(v.Label), want)
		}
		if name == "namespace" {
			continue
		}
		if v.Multi == nil || !*v.Multi || v.IncludeAll == nil || !*v.IncludeAll || str(v.AllValue) != ".+" {
			t.Errorf("%s: want multi-select with All meaning .+", name)
		}
	}
}

// The user journeys (issue 18's four and the webhooks' of issue 16), each a row, in this order, then NATS's own.
var journeys = []string{"Callbacks in", "Invoices reconciled", "Events out", "Webhooks out", "Payments started", "NATS JetStream"}

func TestDashboardRowsAreTheUserJourneys(t *testing.T) {
	_, rows := panels(loadDashboard(t))
	var got []string
	for _, r := range rows {
		got = append(got, str(r.Title))
	}
	if len(got) != len(journeys) {
		t.Fatalf("rows %q, want one per journey %q", got, journeys)
	}
	for i, j := range journeys {
		if !strings.HasPrefix(got[i], j) {
			t.Errorf("row %d is %q, want the journey %q", i+1, got[i], j)
		}
	}
}

// Units a panel may have, from Grafana's value formats (the ones a dashboard of
// rates, ratios, latencies, counts and sizes needs).
var units = map[string]string{
	"reqps": "rate", "ops": "rate", "percentunit": "ratio", "s": "time", "short": "count",
	"bytes": "bytes", "decbytes": "bytes", "bool_yes_no": "bool",
}

func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	if d.Editable == nil || *d.Editable { // uneditable-rule: the file is the source
		t.Error("the dashboard must not be editable in Grafana: change grafana-dashboard.json")
	}
	ps, rows := panels(d)
	ids := map[uint32]bool{}
	for _, r := range rows {
		ids[r.Id] = true
	}
	titles := map[string]bool{}
	for _, p := range ps {
		title := str(p.Title)
		if p.Id == nil || ids[*p.Id] {
			t.Errorf("panel %q: no id, or one used twice", title)
		} else {
			ids[*p.Id] = true
		}
		titles[title] = true
		// panel-title-description-rule: and the description says what normal looks like.
		if desc := str(p.Description); title == "" || !strings.Contains(desc, "Normal") {
			t.Errorf("panel %q: needs a title and a description saying what is Normal, got %q", title, desc)
		}
		// panel-datasource-rule.
		if p.Datasource == nil || str(p.Datasource.Uid) != "${datasource}" {
			t.Errorf("panel %q: datasource must be the ${datasource} variable", title)
		}
		// panel-units-rule, and one kind of quantity a panel: no bytes and counts on one axis.
		var unit string
		if p.FieldConfig != nil {
			unit = str(p.FieldConfig.Defaults.Unit)
			for _, o := range p.FieldConfig.Overrides {
				for _, prop := range o.Properties {
					if prop.Id == "unit" {
						t.Errorf("panel %q: an override sets a second unit; split the panel", title)
					}
				}
			}
		}
		kind, ok := units[unit]
		if !ok {
			t.Errorf("panel %q: unit %q, want one of %v", title, unit, slices.Sorted(mapKeys(units)))
		}
		qs := queries(t, p)
		if len(qs) == 0 {
			t.Errorf("panel %q has no query", title)
		}
		for _, q := range qs {
			where := fmt.Sprintf("panel %q %s", title, str(q.RefId))
			checkQuery(t, where, q.Expr)
			if str(q.RefId) == "" {
				t.Errorf("%s: no refId", where)
			}
			for _, n := range metricNames(q.Expr) {
				if bytes := strings.Contains(n, "_bytes"); bytes != (kind == "bytes") {
					t.Errorf("%s: %s on a panel of unit %q: bytes and other quantities on one axis", where, n, unit)
				}
			}
		}
	}
	// What the issues ask the dashboard to show.
	for _, want := range []string{
		"Requests per second by code", "5xx ratio (callbacks not stored)", "Callback latency", "JetStream publish latency",
		"Consumer lag (pending per shard)", "Dead-letter queue", "Invoices by state", "Stream messages", "Stream bytes",
		"Requests per second by route and code", "Request latency by route", "Token request latency by scope", "Status API latency",
	} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
	// Panel 18, the initiator's 5xx ratio, whose code series the initiator creates at 0
	// (internal/devstack's TestEveryRouteIsCountedByItsPatternNeverByItsPath checks them).
	for _, p := range ps {
		if p.Id != nil && *p.Id == 18 {
			if qs := queries(t, p); len(qs) != 1 || !strings.Contains(qs[0].Expr, `code=~"5.."`) ||
				!strings.Contains(qs[0].Expr, "epayflow_initiator_requests_total") {
				t.Errorf("panel 18 is no longer the initiator's 5xx ratio: %q", str(p.Title))
			}
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var (
	rangeSel = regexp.MustCompile(`\[[^\[\]]*\]`)
	counter  = regexp.MustCompile(`_(total|bucket|count|sum)$`)
)

// checkQuery applies grafana/dashboard-linter's target rules to a query: every selector
// has the namespace, job and instance variables (target-job-rule, target-instance-rule),
// every range is $__rate_interval (target-rate-interval-rule), and every counter is
// read through rate() (target-counter-agg-rule).
func checkQuery(t *testing.T, where, expr string) {
	t.Helper()
	for _, r := range rangeSel.FindAllString(expr, -1) {
		if r != "[$__rate_interval]" {
			t.Errorf("%s: range %s, want [$__rate_interval]", where, r)
		}
	}
	for _, n := range metricNames(expr) {
		uses := regexp.MustCompile(`(\w*\(?)\b`+regexp.QuoteMeta(n)+`\b(\{[^{}]*\})?`).FindAllStringSubmatch(expr, -1)
		for _, u := range uses {
			for _, m := range []string{`namespace="$namespace"`, `job=~"$job"`, `instance=~"$instance"`} {
				if !strings.Contains(u[2], m) {
					t.Errorf("%s: %s without %s", where, n, m)
				}
			}
			if counter.MatchString(n) && u[1] != "rate(" && u[1] != "increase(" {
				t.Errorf("%s: counter %s not read through rate()", where, n)
			}
		}
	}
}

// TestDashboardJobVariableListsEveryService: the job variable offers the jobs whose
// series the panels read (epayflow_<service>_…: the job of a ServiceMonitor is its
// Service's name). A service left out of its query cannot be picked, only seen under All.
func TestDashboardJobVariableListsEveryService(t *testing.T) {
	d := loadDashboard(t)
	var jobs []string
	for _, v := range d.Templating.List {
		if v.Name != "job" {
			continue
		}
		m := regexp.MustCompile(`job=~"([^"]+)"`).FindStringSubmatch(str(v.Definition))
		if m == nil {
			t.Fatalf("job variable: no job=~\"…\" in %q", str(v.Definition))
		}
		jobs = strings.Split(m[1], "|")
	}
	if jobs == nil {
		t.Fatal("no job variable with a query")
	}
	metric := regexp.MustCompile(`\bepayflow_(ingest|worker|initiator|webhooks)_`)
	for where, expr := range dashboardExprs(t) {
		for _, m := range metric.FindAllStringSubmatch(expr, -1) {
			if !slices.Contains(jobs, m[1]) {
				t.Errorf("%s reads %s… of job %s, which the job variable (%s) does not offer", where, m[0], m[1], strings.Join(jobs, "|"))
			}
		}
	}
}
