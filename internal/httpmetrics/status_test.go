package httpmetrics_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/epayflow/epayflow/internal/httpmetrics"
)

// statusFromHeader answers the status its request's Status header names.
type statusFromHeader struct{}

func (statusFromHeader) ServeHTTPStatus(w http.ResponseWriter, r *http.Request) int {
	code, _ := strconv.Atoi(r.Header.Get("Status"))
	w.WriteHeader(code)
	return code
}

// A StatusHandler's route has the same series as Handle's: each code's counter there at
// 0 before the first request, every answer counted and timed under its code, one of a
// code not bound beforehand too.
func TestHandleStatusCountsAndTimesLikeHandle(t *testing.T) {
	reg := prometheus.NewRegistry()
	rt := httpmetrics.New("test")
	reg.MustRegister(rt)
	mux := http.NewServeMux()
	rt.HandleStatus(mux, "POST /cb", statusFromHeader{}, 200, 400, 503)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if v, ok := scrape(t, srv.URL+"/metrics")[`epayflow_test_requests_total{code="503",route="POST /cb"}`]; !ok || v != 0 {
		t.Fatalf("503 before any request: %v (present %v), want 0", v, ok)
	}
	for _, code := range []int{200, 200, 400, 418} {
		if got := do(t, "POST", srv.URL+"/cb", http.Header{"Status": {strconv.Itoa(code)}}); got != code {
			t.Fatalf("status %d, want %d", got, code)
		}
	}
	got := scrape(t, srv.URL+"/metrics")
	for series, want := range map[string]float64{
		`requests_total{code="200",route="POST /cb"}`:                            2,
		`requests_total{code="400",route="POST /cb"}`:                            1,
		`requests_total{code="418",route="POST /cb"}`:                            1,
		`requests_total{code="503",route="POST /cb"}`:                            0,
		`request_duration_seconds_count{code="200",route="POST /cb"}`:            2,
		`request_duration_seconds_count{code="418",route="POST /cb"}`:            1,
		`request_duration_seconds_bucket{code="400",route="POST /cb",le="+Inf"}`: 1,
	} {
		series = "epayflow_test_" + series
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}
