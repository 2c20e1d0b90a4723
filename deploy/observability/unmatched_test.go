package observability_test

import (
	"regexp"
	"strings"
	"testing"
)

var (
	// requestSeries is a use of a service's request count or duration (httpmetrics).
	requestSeries = regexp.MustCompile(`\b(epayflow_[a-z]+_(?:requests_total|request_duration_seconds(?:_bucket|_count|_sum)?))\b(\{[^{}]*\})?`)
	routeMatcher  = regexp.MustCompile(`\broute\s*(=~|!~|!=|=)\s*"([^"]*)"`)
)

// leavesOutUnmatched reports whether a selector's route matcher refuses the route
// "unmatched" (the mux's 404s and 405s).
func leavesOutUnmatched(selector string) bool {
	m := routeMatcher.FindStringSubmatch(selector)
	if m == nil {
		return false
	}
	full := func(re string) bool { return regexp.MustCompile("^(?:" + re + ")$").MatchString("unmatched") }
	switch m[1] {
	case "=":
		return m[2] != "unmatched"
	case "!=":
		return m[2] == "unmatched"
	case "=~":
		return !full(m[2])
	default: // !~
		return full(m[2])
	}
}

// Every alert over the requests, and every dashboard ratio or latency quantile, leaves out
// route="unmatched": a scanner's 404s must neither page anyone nor dilute the ratio of a
// route that fails. The panels that show traffic by route and code keep it, on purpose.
func TestRequestRatiosLeaveOutUnmatched(t *testing.T) {
	checked := 0
	for where, expr := range exprs(t) {
		if !strings.HasPrefix(where, "rule ") && !strings.Contains(expr, " / ") && !strings.Contains(expr, "histogram_quantile") {
			continue
		}
		for _, u := range requestSeries.FindAllStringSubmatch(expr, -1) {
			checked++
			if !leavesOutUnmatched(u[2]) {
				t.Errorf("%s: %s%s counts route=\"unmatched\"", where, u[1], u[2])
			}
		}
	}
	if checked == 0 {
		t.Fatal("no request series found in the rules and the dashboard: the pattern is stale")
	}
}

func TestLeavesOutUnmatched(t *testing.T) {
	for sel, want := range map[string]bool{
		`{code=~"5.."}`:        false,
		`{route!="unmatched"}`: true,
		`{route!~"unmatched|.*/(livez|readyz|metrics)"}`:   true,
		`{route!~".*/(livez|readyz|metrics)"}`:             false,
		`{route=~"POST /v1/payments|POST /shop/payments"}`: true,
		`{route=~".+"}`:       false,
		`{route="unmatched"}`: false,
	} {
		if got := leavesOutUnmatched(sel); got != want {
			t.Errorf("leavesOutUnmatched(%s) = %v, want %v", sel, got, want)
		}
	}
}
