package sandbox

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the sandbox's own counters.
type Metrics struct {
	tokens      *prometheus.CounterVec
	tokenErrors *prometheus.CounterVec
	payments    *prometheus.CounterVec
	attempts    *prometheus.CounterVec
}

// NewMetrics registers the sandbox metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_sandbox_tokens_issued_total", Help: "Access tokens issued, by scope kind.",
		}, []string{"scope"}),
		tokenErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_sandbox_token_errors_total", Help: "Token requests refused, by OAuth error code.",
		}, []string{"error"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_sandbox_payments_total", Help: "Card form submissions that made a transaction, by outcome (approved, declined, not_final).",
		}, []string{"outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_sandbox_callback_attempts_total", Help: "Callback POSTs, by result (ok, status, error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.tokens, m.tokenErrors, m.payments, m.attempts)
	return m
}
