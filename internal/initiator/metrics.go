package initiator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/httpmetrics"
)

// Metrics of the initiator.
type Metrics struct {
	created     *prometheus.CounterVec
	http        *httpmetrics.Routes // epayflow_initiator_requests_total, _request_duration_seconds
	idempotency *prometheus.CounterVec
	idTaken     prometheus.Counter
}

// NewMetrics registers the initiator's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_initiator_payments_created_total",
			Help: "Payments created (invoice.created acknowledged, payment object returned), by kind.",
		}, []string{"kind"}),
		http: httpmetrics.New("initiator"),
		idempotency: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_initiator_idempotency_keys_total",
			Help: "POST /v1/payments with an Idempotency-Key, by outcome: new (a payment created), replayed (the same request again: the same invoice), conflict (another request with a used key: 409), forged (its record not signed with the initiator's keys: 503, nothing replayed).",
		}, []string{"outcome"}),
		idTaken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epayflow_initiator_invoice_id_taken_total",
			Help: "Payments refused (503) because EPAY_INBOX already held the invoice.created of their freshly allocated invoiceId (a duplicate PubAck): an id used twice or a leaked EPAY_SECRET_KEYS. Should stay 0.",
		}),
	}
	m.created.WithLabelValues(KindPayment)
	m.created.WithLabelValues(KindP2P)
	for _, o := range []string{"new", "replayed", "conflict", "forged"} {
		m.idempotency.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.created, m.http, m.idempotency, m.idTaken)
	}
	return m
}
