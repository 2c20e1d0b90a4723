package initiator

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// TestConfigReadsTheNATSIdentity: the initiator takes -nats-user, -nats-password (or
// NATS_PASSWORD_FILE) and -nats-ca like every service.
func TestConfigReadsTheNATSIdentity(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pwFile, []byte("initiator-pw-from-file\n"), 0o600)
	env := baseEnv()
	env["NATS_USER"], env["NATS_PASSWORD_FILE"] = "initiator", pwFile
	cfg, err := parseFlags("initiator", nil, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS != (natsbus.Auth{User: "initiator", Password: "initiator-pw-from-file"}) {
		t.Fatalf("NATS = %s", cfg.NATS)
	}
	delete(env, "NATS_PASSWORD_FILE")
	if _, err := parseFlags("initiator", nil, envOf(env), io.Discard); err == nil || !strings.Contains(err.Error(), "NATS_PASSWORD_FILE") {
		t.Fatalf("a user without a password: %v, want an error naming NATS_PASSWORD_FILE", err)
	}
}

// The initiator's NATS user is granted its buckets by name (natsbus.Role.Permissions).
func TestBucketsAreTheOnesItsNATSUserMayUse(t *testing.T) {
	if IdempotencyBucket != natsbus.IdempotencyBucket || defaultIDs().Bucket != natsbus.SequenceBucket {
		t.Fatalf("buckets %s and %s; the initiator's NATS permissions name %s and %s",
			IdempotencyBucket, defaultIDs().Bucket, natsbus.IdempotencyBucket, natsbus.SequenceBucket)
	}
}
