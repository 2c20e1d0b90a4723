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
	Held       prometheus.Counter       // events put back after a restart (Dispatcher.HoldBack)
	Stranded   prometheus.Counter       // queue heads whose message was settled already, delivered from the stream
	Refused    prometheus.Counter       // events without the workers' signature: never delivered
	Unreadable prometheus.Gauge         // endpoints whose entry cannot be read: every event waits meanwhile
	Copies     prometheus.Counter       // genuine events published again: never delivered again
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
		Held: prometheus.NewCounter(prometheus.CounterOpts{Name: "epayflow_webhooks_held_back_total",
			Help: "Events put back after a restart until the events an earlier process left unacked have come back (per-invoice order)."}),
		Stranded: prometheus.NewCounter(prometheus.CounterOpts{Name: "epayflow_webhooks_stranded_total",
			Help: "Events found at the head of an invoice's queue with no message left to bring them back, delivered from PAYMENT_EVENTS instead."}),
		Refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "epayflow_webhooks_events_refused_total",
			Help: "Events on PAYMENT_EVENTS without the workers' signature (WEBHOOKS_EVENTS_PUBLIC_KEYS): never delivered. A forgery, or a worker with another WORKER_EVENTS_KEY."}),
		Copies: prometheus.NewCounter(prometheus.CounterOpts{Name: "epayflow_webhooks_event_copies_total",
			Help: "Events on PAYMENT_EVENTS whose id was stored before at another sequence (a genuine event published again): not delivered again."}),
		Unreadable: prometheus.NewGauge(prometheus.GaugeOpts{Name: "epayflow_webhooks_endpoints_unreadable",
			Help: "Endpoints whose entry in EPAY_WEBHOOKS this process cannot read (another WEBHOOKS_SECRETS_KEY, or changed outside the API): no event is delivered while it is above 0 (this process)."}),
	}
	if reg != nil {
		reg.MustRegister(m.Deliveries, m.Latency, m.Backlog, m.Paused, m.Opened, m.Dead, m.Held, m.Stranded, m.Refused, m.Unreadable, m.Copies)
	}
	return m
}

// forget drops a deleted endpoint's series, so that no alert keeps reading them.
func (m *Metrics) forget(id string) {
	for _, v := range []*prometheus.MetricVec{m.Deliveries.MetricVec, m.Latency.MetricVec, m.Backlog.MetricVec,
		m.Paused.MetricVec, m.Opened.MetricVec, m.Dead.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{"endpoint": id})
	}
}

// known makes an endpoint's series exist at 0 from its registration on: an alert's ratio
// or "paused == 1" has a series to read before the first failure, not a gap.
func (m *Metrics) known(id string) {
	for _, r := range []string{"delivered", "failed", "paused"} {
		m.Deliveries.WithLabelValues(id, r).Add(0)
	}
	m.Backlog.WithLabelValues(id).Add(0)
	m.Paused.WithLabelValues(id).Add(0)
	m.Dead.WithLabelValues(id).Add(0)
	m.Opened.WithLabelValues(id).Add(0)
}
