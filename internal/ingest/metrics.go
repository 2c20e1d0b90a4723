package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/httpmetrics"
)

// Metrics are the ingest's Prometheus metrics.
type Metrics struct {
	http            *httpmetrics.Routes // epayflow_ingest_requests_total, _request_duration_seconds
	rejections      *prometheus.CounterVec
	publishDuration prometheus.Histogram
	publishFailures *prometheus.CounterVec
	unverified      *prometheus.CounterVec
	duplicates      prometheus.Counter
	inFlight        prometheus.Gauge

	// Children resolved once, so the hot path does no label hashing.
	rejected [numRejections]prometheus.Counter
	failed   [numCauses]prometheus.Counter
}

// NewMetrics registers the ingest's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		http: httpmetrics.New("ingest"),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_ingest_rejections_total",
			Help: "Callbacks refused with a 4xx, by reason; none of them was published.",
		}, []string{"reason"}),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "epayflow_ingest_publish_duration_seconds",
			Help:    "Time from publishing a callback to JetStream's acknowledgement or failure.",
			Buckets: publishBuckets(),
		}),
		publishFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_ingest_publish_failures_total",
			Help: "Callbacks answered 503 because they could not be stored, by cause.",
		}, []string{"cause"}),
		unverified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_ingest_unverified_total",
			Help: "Callbacks published marked unverified (accept-unverified policy), by why secret_hash failed.",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_ingest_duplicates_total",
			Help: "Callbacks JetStream already had (same Nats-Msg-Id): answered 200, stored once.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "epayflow_ingest_in_flight_requests",
			Help: "Callback requests being handled now.",
		}),
	}
	for _, c := range []prometheus.Collector{m.http, m.rejections, m.publishDuration, m.publishFailures, m.unverified, m.duplicates, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for r := range numRejections {
		m.rejected[r] = m.rejections.WithLabelValues(r.reason())
	}
	for c := range numCauses {
		m.failed[c] = m.publishFailures.WithLabelValues(c.String())
	}
	for _, reason := range []string{"missing", "malformed", "unknown_key", "mismatch"} {
		m.unverified.WithLabelValues(reason)
	}
	return m, nil
}

// publishBuckets run from 0.25 ms to 5 s, each at most twice the one before: fine enough
// to tell a 1 ms publish from a 2 ms one, and a slow NATS from a dead one.
func publishBuckets() []float64 {
	return []float64{0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025,
		0.04, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 1.5, 2, 3, 5}
}

// callbackCodes are the statuses a callback route answers: their request counters are
// there, at 0, before the first callback.
var callbackCodes = []int{200, 400, 401, 403, 405, 413, 429, 503}
