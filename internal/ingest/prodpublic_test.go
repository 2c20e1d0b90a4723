package ingest

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/epay"
)

// prodEnv is an EPAY_ENV=prod environment the ingest takes, with kv over it.
func prodEnv(t *testing.T, kv ...string) func(string) string {
	m := map[string]string{"EPAY_ENV": "prod", "EPAY_SECRET_KEYS": "A:" + clitest.OwnSecret(t),
		"NATS_USER": "ingest", "NATS_PASSWORD": clitest.OwnSecret(t)}
	return clitest.Env(m, kv...)
}

func TestProdAcceptsSecretsOfItsOwn(t *testing.T) {
	if _, err := ParseFlagsTo("ingest", nil, prodEnv(t), io.Discard); err != nil {
		t.Fatal(err)
	}
}

// One refusal a case: what the repository publishes, given to the ingest in prod.
func TestProdRefusesWhatTheRepositoryPublishes(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keysFile, []byte("D:dev-only-signing-key-do-not-use-in-prod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, variable, secret string
		env                    []string
	}{
		{"the devstack's signing key (make run)", "EPAY_SECRET_KEYS", "dev-only-signing-key-do-not-use-in-prod",
			[]string{"EPAY_SECRET_KEYS", "D:dev-only-signing-key-do-not-use-in-prod"}},
		{"the devstack's signing key from a file", "EPAY_SECRET_KEYS", "dev-only-signing-key-do-not-use-in-prod",
			[]string{"EPAY_SECRET_KEYS", "", "EPAY_SECRET_KEYS_FILE", keysFile}},
		{"docs/SANDBOX.md's key, second", "EPAY_SECRET_KEYS", "dev-only-change-me-0123",
			[]string{"EPAY_SECRET_KEYS", "B:" + clitest.OwnSecret(t) + ",A:dev-only-change-me-0123"}},
		{"a test's signing key", "EPAY_SECRET_KEYS", "ingest-test-signing-key-000001",
			[]string{"EPAY_SECRET_KEYS", "A:ingest-test-signing-key-000001"}},
		{"a test's NATS password", "NATS_PASSWORD", "pw-from-a-file-123", []string{"NATS_PASSWORD", "pw-from-a-file-123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFlagsTo("ingest", nil, prodEnv(t, tt.env...), io.Discard)
			clitest.AssertRefusal(t, "ingest", ErrConfig, err, tt.variable, tt.secret)
		})
	}
	t.Run("a test's NATS password as a flag", func(t *testing.T) {
		_, err := ParseFlagsTo("ingest", []string{"-nats-password", "flag-pw-4567"}, prodEnv(t), io.Discard)
		clitest.AssertRefusal(t, "ingest", ErrConfig, err, "-nats-password", "flag-pw-4567")
	})
}

// Every secret the repository publishes (epay.PublicSecrets), in each of the ingest's
// secret settings.
func TestProdRefusesEverySecretTheRepositoryPublishes(t *testing.T) {
	for _, s := range epay.PublicSecrets() {
		for variable, value := range map[string]string{"EPAY_SECRET_KEYS": "A:" + s, "NATS_PASSWORD": s} {
			_, err := ParseFlagsTo("ingest", nil, prodEnv(t, variable, value), io.Discard)
			if err == nil {
				t.Errorf("%s=%s accepted in prod", variable, value)
				continue
			}
			clitest.AssertRefusal(t, "ingest", ErrConfig, err, variable, s)
		}
	}
}
