package httpmetrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of the requests no pattern of the mux matches.
const Unmatched = "unmatched"

// Routes is the request count and duration of one service's routes, by route and code:
// epayflow_<service>_requests_total and epayflow_<service>_request_duration_seconds.
// It is a prometheus.Collector: register it where the service registers its metrics.
type Routes struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route, code
}

// New returns the instrumentation of service's routes (service is the name's subsystem:
// initiator, ingest, worker), registered nowhere yet.
func New(service string) *Routes {
	return &Routes{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_" + service + "_requests_total",
			Help: "HTTP requests by route (the mux pattern; unmatched: no pattern matched) and status code. Probes and /metrics are not counted.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "epayflow_" + service + "_request_duration_seconds",
			Help:    "Time to answer an HTTP request, until the handler returns, by route and status code. Probes and /metrics are not timed.",
			Buckets: Buckets(),
		}, []string{"route", "code"}),
	}
}

// Buckets of the request duration, 1 ms to 10 s: enough to tell a callback stored in a
// few milliseconds from one that waited on JetStream, and a payment that waited on
// ePay's token endpoint from one that timed out.
func Buckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Describe implements prometheus.Collector.
func (rt *Routes) Describe(ch chan<- *prometheus.Desc) {
	rt.requests.Describe(ch)
	rt.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (rt *Routes) Collect(ch chan<- prometheus.Metric) {
	rt.requests.Collect(ch)
	rt.duration.Collect(ch)
}

// Handle registers h on mux at pattern, counted and timed under route=pattern. The
// request counters of codes (the statuses the route answers) are created at once with
// the value 0, so that a ratio or a rate over them has its series from the first scrape
// rather than from the first error.
func (rt *Routes) Handle(mux *http.ServeMux, pattern string, h http.Handler, codes ...int) {
	mux.Handle(pattern, rt.instrument(pattern, h, codes...))
}

func (rt *Routes) instrument(route string, h http.Handler, codes ...int) http.Handler {
	labels := prometheus.Labels{"route": route}
	requests := rt.requests.MustCurryWith(labels)
	for _, code := range codes {
		requests.WithLabelValues(strconv.Itoa(code))
	}
	return promhttp.InstrumentHandlerDuration(rt.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(requests, h))
}

// Unmatched returns mux with the requests none of its patterns matches (answered 404 or
// 405 by the mux) counted and timed under route "unmatched". Call it once per mux.
func (rt *Routes) Unmatched(mux *http.ServeMux) http.Handler {
	unmatched := rt.instrument(Unmatched, mux, http.StatusNotFound, http.StatusMethodNotAllowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			unmatched.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Handler serves reg's metrics (/metrics). A collector that fails (a store's stats, a
// bucket's listing) leaves out only its own metrics, counted in
// promhttp_metric_handler_errors_total{cause="gathering"}, never the whole scrape: a
// scrape that fails is up=0, which pages as the service absent, and every other series
// of the service would go with it.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorHandling: promhttp.ContinueOnError})
}
