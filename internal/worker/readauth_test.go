package worker

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/proctest"
)

// The read API answers only its readers, and shows personal data only to the pii scope:
// sequential invoice ids are no way to read every customer's email and phone.
func TestReadAPIRequiresAKeyAndMasksPersonalDataByScope(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	e.publishCreated(createdFor("10000000001", 10000))
	e.publish(callbackMsg(t, sample(t, "failure.json"), true, "")) // email ch@example.kz, phone, IP, name
	waitState(t, w.url, "10000000001", invoice.StateFailed)

	for name, key := range map[string]string{"no key": "", "a wrong key": "not-a-reader-key-at-all", "a key's prefix": testReadKey[:10]} {
		if code, _ := getAs(t, w.url, "10000000001", key); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	body := func(key string) string {
		code, got := getAs(t, w.url, "10000000001", key)
		if code != http.StatusOK || len(got.History) != 2 {
			t.Fatalf("%d, %d history entries", code, len(got.History))
		}
		return string(got.History[1].Body)
	}
	personal := []string{"ch@example.kz", "77777777777", "5.188.155.135", "CARD HOLDER", "Almaty"}
	masked := body(testSupportKey)
	for _, p := range personal {
		if strings.Contains(masked, p) {
			t.Errorf("the read scope sees %q: %s", p, masked)
		}
	}
	if !strings.Contains(masked, `"[masked]"`) || !strings.Contains(masked, "4444...4444") {
		t.Errorf("masked view %s: want the personal fields masked and the card mask kept", masked)
	}
	full := body(testReadKey)
	for _, p := range personal {
		if !strings.Contains(full, p) {
			t.Errorf("the pii scope does not see %q: %s", p, full)
		}
	}
}

func TestReadKeysAreParsedStrictly(t *testing.T) {
	keys, err := ParseReadKeys("support:read:0123456789abcdef, audit:pii:fedcba9876543210")
	if err != nil || len(keys) != 2 || keys[0].Name != "support" || keys[1].Scope != ScopePII {
		t.Fatalf("%+v %v", keys, err)
	}
	for _, bad := range []string{"support:read", "support:write:0123456789abcdef", "s:read:short", ":read:0123456789abcdef",
		"a:read:0123456789abcdef,a:pii:0123456789abcdeX", "a:read:0123456789abcdef,b:pii:0123456789abcdef"} {
		_, err := ParseReadKeys(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%q: error %q shows the key", bad, err)
		}
	}
}

// With WORKER_METRICS_ADDR, /metrics is served there only: the read API's port is not
// one a monitoring namespace needs.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MetricsAddr = "127.0.0.1:" + strconv.Itoa(proctest.Port(t))
	w := e.start(cfg)
	resp, err := http.Get(w.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the read API's port: %d, want 404", resp.StatusCode)
	}
	if v := metricValue(t, "http://"+cfg.MetricsAddr, `epayflow_worker_awaiting_final_oldest_seconds`); v != 0 {
		t.Errorf("metrics listener: awaiting_final_oldest_seconds %v", v)
	}
}
