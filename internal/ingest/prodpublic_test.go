package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/epay"
)

// prodOwnSecret is a secret no file of the repository holds: what production takes.
func prodOwnSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "own-" + hex.EncodeToString(b)
}

// prodEnv is an EPAY_ENV=prod environment the ingest takes, with kv over it.
func prodEnv(t *testing.T, kv ...string) func(string) string {
	m := map[string]string{"EPAY_ENV": "prod", "EPAY_SECRET_KEYS": "A:" + prodOwnSecret(t),
		"NATS_USER": "ingest", "NATS_PASSWORD": prodOwnSecret(t)}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// assertProdRefusal checks err is the exit-2 configuration error, one line, naming
// variable and not quoting value.
func assertProdRefusal(t *testing.T, err error, variable, value string) {
	t.Helper()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	if code := cli.Status(io.Discard, "ingest", err, ErrConfig); code != cli.ExitUsage {
		t.Errorf("exit status %d, want %d", code, cli.ExitUsage)
	}
	msg := err.Error()
	t.Log(msg)
	if !strings.Contains(msg, variable) || strings.Contains(msg, "\n") {
		t.Errorf("%q does not name %s on one line", msg, variable)
	}
	if strings.IndexFunc(value, func(r rune) bool { return !unicode.IsLetter(r) }) >= 0 && strings.Contains(msg, value) {
		t.Errorf("%q quotes the secret", msg)
	}
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
			[]string{"EPAY_SECRET_KEYS", "B:" + prodOwnSecret(t) + ",A:dev-only-change-me-0123"}},
		{"a test's signing key", "EPAY_SECRET_KEYS", "ingest-test-signing-key-000001",
			[]string{"EPAY_SECRET_KEYS", "A:ingest-test-signing-key-000001"}},
		{"a test's NATS password", "NATS_PASSWORD", "pw-from-a-file-123", []string{"NATS_PASSWORD", "pw-from-a-file-123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFlagsTo("ingest", nil, prodEnv(t, tt.env...), io.Discard)
			assertProdRefusal(t, err, tt.variable, tt.secret)
		})
	}
	t.Run("a test's NATS password as a flag", func(t *testing.T) {
		_, err := ParseFlagsTo("ingest", []string{"-nats-password", "flag-pw-4567"}, prodEnv(t), io.Discard)
		assertProdRefusal(t, err, "-nats-password", "flag-pw-4567")
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
			assertProdRefusal(t, err, variable, s)
		}
	}
}
