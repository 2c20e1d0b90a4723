package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// takenAddr is an address another listener holds until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestEveryMissingSettingIsNamedAtOnce: the three settings a sandbox initiator needs,
// in one line, not only the first.
func TestEveryMissingSettingIsNamedAtOnce(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), nil, func(string) string { return "" }, &stderr)
	want := "initiator: invalid config: PUBLIC_BASE_URL, INITIATOR_API_KEYS and EPAY_SECRET_KEYS are required\n"
	if code != 2 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 2, %q", code, stderr.String(), want)
	}
}

// TestDevLoopErrorsExit2WithOneLineSayingWhat: a taken port, a listen address that is
// not one, a variable that is not a number, a NATS_URL that is not one.
func TestDevLoopErrorsExit2WithOneLineSayingWhat(t *testing.T) {
	taken := takenAddr(t)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"taken port", map[string]string{"INITIATOR_ADDR": taken}, "initiator: invalid config: INITIATOR_ADDR: " + taken + ": address in use (another process listens there)\n"},
		{"taken metrics port", map[string]string{"INITIATOR_ADDR": "127.0.0.1:0", "INITIATOR_METRICS_ADDR": taken}, "INITIATOR_METRICS_ADDR: " + taken + ": address in use"},
		{"bad address", map[string]string{"INITIATOR_ADDR": "8080"}, `INITIATOR_ADDR "8080" is not host:port (such as :8080 or 127.0.0.1:8080)`},
		{"shards not a number", map[string]string{"EPAY_SHARDS": "abc"}, `EPAY_SHARDS: "abc" is not an integer`},
		{"NATS_URL not a URL", map[string]string{"NATS_URL": "nats://initiator:SECRETVALUE@:4222"}, `-nats-url (NATS_URL) "nats://initiator:xxxxx@:4222": no host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{
				"PUBLIC_BASE_URL": "https://ingest.example.kz", "INITIATOR_API_KEYS": "merchant-key-0123456789",
				"EPAY_SECRET_KEYS": "K:0123456789abcdef0123456789abcdef", "NATS_URL": "nats://127.0.0.1:1",
			}
			for k, v := range tt.env {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			code := run(ctx, nil, func(k string) string { return env[k] }, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) || strings.Count(stderr.String(), "\n") != 1 || strings.Contains(stderr.String(), "SECRETVALUE") {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tt.want)
			}
		})
	}
}

func TestHelpWordExitsZero(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"help"}, func(string) string { return "" }, &stderr); code != 0 || !strings.Contains(stderr.String(), "(env INITIATOR_ADDR)") {
		t.Fatalf("exit %d, %q", code, stderr.String())
	}
}
