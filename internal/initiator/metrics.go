package initiator

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the initiator.
type Metrics struct {
	created     *prometheus.CounterVec
	requests    *prometheus.CounterVec
	idempotency *prometheus.CounterVec
}

// NewMetrics registers the initiator's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_initiator_payments_created_total",
			Help: "Payments created (invoice.created acknowledged, payment object returned), by kind.",
		}, []string{"kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_initiator_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		idempotency: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_initiator_idempotency_keys_total",
			Help: "POST /v1/payments with an Idempotency-Key, by outcome: new (a payment created), replayed (the same request again: the same invoice), conflict (another request with a used key: 409).",
		}, []string{"outcome"}),
	}
	m.created.WithLabelValues(KindPayment)
	m.created.WithLabelValues(KindP2P)
	for _, o := range []string{"new", "replayed", "conflict"} {
		m.idempotency.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.created, m.requests, m.idempotency)
	}
	return m
}

// instrument counts each request by the pattern that served it (bounded cardinality).
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
