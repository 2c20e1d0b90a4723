package webhooks_test

import (
	"github.com/epayflow/epayflow/internal/proctest"
	"io"
	"net/http"
	"strings"
	"testing"
)

// With WEBHOOKS_METRICS_ADDR, /metrics is served there only: the API's port answers 404
// for it, so a NetworkPolicy can open the metrics port to monitoring and nothing else.
func TestMetricsAddrServesMetricsApartFromTheAPI(t *testing.T) {
	addr := proctest.Addr(t)
	cfg := testConfig()
	cfg.MetricsAddr = addr
	s := startStack(t, cfg)
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + addr + "/metrics"); code != http.StatusOK || !strings.Contains(body, "promhttp_metric_handler_errors_total") {
		t.Errorf("metrics port: %d, want 200 with the registry's metrics:\n%.300s", code, body)
	}
	if code, _ := get(s.api + "/metrics"); code != http.StatusNotFound {
		t.Errorf("the API's port serves /metrics (%d) although WEBHOOKS_METRICS_ADDR is set", code)
	}
	if code, _ := get("http://" + addr + "/v1/webhooks/endpoints"); code != http.StatusNotFound {
		t.Errorf("the metrics port serves the API (%d)", code)
	}
}
