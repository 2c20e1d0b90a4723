package epayapi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the client. Scopes are labelled payment, transfer and service.
type Metrics struct {
	tokenDuration  *prometheus.HistogramVec
	tokenErrors    *prometheus.CounterVec
	statusDuration prometheus.Histogram
}

// Error causes of epayflow_epay_token_errors_total.
const (
	CauseUnauthorized = "unauthorized"
	CauseRejected     = "rejected" // another 4xx
	CauseUnavailable  = "unavailable"
	CauseTimeout      = "timeout"
	CauseBadResponse  = "bad_response"
	CauseCanceled     = "canceled"
)

// NewMetrics registers the client's metrics on reg (nil: not registered anywhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		tokenDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "epayflow_epay_token_request_duration_seconds",
			Help:    "Time to get an ePay token, retries included, by scope.",
			Buckets: buckets,
		}, []string{"scope"}),
		tokenErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epayflow_epay_token_errors_total",
			Help: "ePay token requests that failed, by cause.",
		}, []string{"cause"}),
		statusDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "epayflow_epay_status_request_duration_seconds",
			Help:    "Time of an ePay status check (service token and status call), retries included.",
			Buckets: buckets,
		}),
	}
	for _, c := range []string{CauseUnauthorized, CauseRejected, CauseUnavailable, CauseTimeout, CauseBadResponse, CauseCanceled} {
		m.tokenErrors.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(m.tokenDuration, m.tokenErrors, m.statusDuration)
	}
	return m
}

// Cause names the cause of a client error, as the errors metric labels it.
func Cause(err error) string {
	var api *APIError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnauthorized):
		return CauseUnauthorized
	case errors.As(err, &api):
		return CauseRejected
	case errors.Is(err, ErrTimeout):
		return CauseTimeout
	case errors.Is(err, ErrBadResponse):
		return CauseBadResponse
	case errors.Is(err, ErrEPayUnavailable):
		return CauseUnavailable
	default:
		return CauseCanceled
	}
}
