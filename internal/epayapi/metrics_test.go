package epayapi

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metric finds one series of name whose labels include labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == k && l.GetValue() == v
				}
				if !found {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return nil
}

func TestMetricsCountTokenLatencyByScopeAndErrorsByCause(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, `{"resultCode":"100"}`)))
	c, err := New(testConfig(f), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PaymentToken(context.Background(), paymentRequest()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PaymentStatus(context.Background(), "100000000001"); err != nil {
		t.Fatal(err)
	}
	bad := startFake(t, answer(401, `{}`))
	c2, _ := New(testConfig(bad), m, nil)
	c2.TransferToken(context.Background(), TokenRequest{SecretHash: "X"})

	for scope, want := range map[string]uint64{"payment": 1, "service": 1, "transfer": 1} {
		h := metric(t, reg, "epayflow_epay_token_request_duration_seconds", map[string]string{"scope": scope})
		if got := h.GetHistogram().GetSampleCount(); got != want {
			t.Fatalf("token duration{scope=%s} count %d, want %d", scope, got, want)
		}
	}
	if got := metric(t, reg, "epayflow_epay_token_errors_total", map[string]string{"cause": "unauthorized"}).GetCounter().GetValue(); got != 1 {
		t.Fatalf("errors{cause=unauthorized} = %v, want 1", got)
	}
	if got := metric(t, reg, "epayflow_epay_token_errors_total", map[string]string{"cause": "timeout"}).GetCounter().GetValue(); got != 0 {
		t.Fatalf("errors{cause=timeout} = %v, want 0", got)
	}
	if got := metric(t, reg, "epayflow_epay_status_request_duration_seconds", nil).GetHistogram().GetSampleCount(); got != 1 {
		t.Fatalf("status duration count %d, want 1", got)
	}
}
