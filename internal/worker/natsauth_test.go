package worker

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/dlq"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// TestConfigReadsTheNATSIdentity: the worker takes -nats-user, -nats-password (or
// NATS_PASSWORD_FILE) and -nats-ca like every service, and so does `worker dlq`.
func TestConfigReadsTheNATSIdentity(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pwFile, []byte("worker-pw-from-file\n"), 0o600)
	env := map[string]string{"WORKER_DB": "/data/w.db", "EPAY_SECRET_KEYS": "A:worker-config-test-key-0001",
		"NATS_USER": "worker", "NATS_PASSWORD_FILE": pwFile}
	cfg, err := parseFlags("worker", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS != (natsbus.Auth{User: "worker", Password: "worker-pw-from-file"}) {
		t.Fatalf("NATS = %s", cfg.NATS)
	}
	delete(env, "NATS_PASSWORD_FILE")
	if _, err := parseFlags("worker", nil, func(k string) string { return env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), "NATS_PASSWORD_FILE") {
		t.Fatalf("a user without a password: %v, want an error naming NATS_PASSWORD_FILE", err)
	}
	// `worker dlq` refuses the same half-configured identity before connecting.
	err = dlq.Run(t.Context(), []string{"list"}, func(k string) string { return env[k] }, io.Discard)
	if !dlq.IsUsageError(err) || !strings.Contains(err.Error(), "NATS_PASSWORD_FILE") {
		t.Fatalf("worker dlq with a user and no password: %v", err)
	}
}
