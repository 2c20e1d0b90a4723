package webhooks

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the webhooks' Prometheus metrics. Their only label is the endpoint id
// (bounded by the endpoints registered): never a URL, which may carry a token, nor an
// invoice id.
type Metrics struct {
	Deliveries *prometheus.CounterVec   // by endpoint and result
	Latency    *prometheus.HistogramVec // by endpoint
	Backlog    *prometheus.GaugeVec     // events in retry, by endpoint
	Paused     *prometheus.GaugeVec     // 1 while the endpoint's circuit is open
	Opened     *prometheus.CounterVec   // circuit openings, by endpoint
	Dead       *prometheus.CounterVec   // events moved to the dead letter, by endpoint
}

// NewMetrics registers the metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "epayflow_webhooks_deliveries_total",
			Help: "Delivery attempts by endpoint and result (delivered, failed, paused, waiting, dead)."}, []string{"endpoint", "result"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "epayflow_webhooks_delivery_duration_seconds",
			Help:    "Duration of delivery requests by endpoint.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"endpoint"}),
		Backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "epayflow_webhooks_backlog",
			Help: "Events waiting for a retry, by endpoint (this process)."}, []string{"endpoint"}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "epayflow_webhooks_endpoint_paused",
			Help: "1 while the endpoint's circuit breaker is open (this process)."}, []string{"endpoint"}),
		Opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "epayflow_webhooks_circuit_opened_total",
			Help: "Times the endpoint's circuit breaker opened."}, []string{"endpoint"}),
		Dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "epayflow_webhooks_dead_letters_total",
			Help: "Events moved to the endpoint's dead letter."}, []string{"endpoint"}),
	}
	if reg != nil {
		reg.MustRegister(m.Deliveries, m.Latency, m.Backlog, m.Paused, m.Opened, m.Dead)
	}
	return m
}
