package natsembed

import (
	"encoding/json"
	"net/http"
	"testing"
)

// With MonitorPort the server answers its /healthz (what prometheus-nats-exporter and an
// operator's curl read); without, it serves no monitoring port at all.
func TestMonitorPortServesHealthz(t *testing.T) {
	s, err := Start(Config{Dir: t.TempDir(), Port: -1, MonitorPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if s.MonitorURL() == "" {
		t.Fatal("MonitorURL is empty with MonitorPort -1")
	}
	resp, err := http.Get(s.MonitorURL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != http.StatusOK || h.Status != "ok" {
		t.Fatalf("/healthz: %d %+v %v, want 200 ok", resp.StatusCode, h, err)
	}

	quiet, err := Start(Config{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Shutdown()
	if u := quiet.MonitorURL(); u != "" {
		t.Fatalf("MonitorURL %q without MonitorPort, want none", u)
	}
}
