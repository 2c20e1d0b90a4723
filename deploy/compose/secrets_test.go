package compose_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/deploy/compose"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsbus"
)

func readSecrets(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range compose.Secrets() {
		path := filepath.Join(dir, s.File)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644 (readable by the containers' users)", s.File, fi.Mode().Perm())
		}
		out[s.File] = strings.TrimSuffix(string(b), "\n")
	}
	return out
}

// TestGenerateKeepsWhatItFinds: a second run changes nothing; a variable replaces its file;
// a deleted file is made new (a rotation) and what is derived from it follows.
func TestGenerateKeepsWhatItFinds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	none := func(string) string { return "" }
	var log bytes.Buffer
	if err := compose.Generate(dir, none, &log); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("secrets directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	first := readSecrets(t, dir)
	for _, s := range compose.Secrets() {
		v := first[s.File]
		if (s.Generated || s.Derived) == (v == "") {
			t.Errorf("%s: %q after a first run (generated %v)", s.File, v, s.Generated)
		}
		if v != "" && strings.Contains(log.String(), v) {
			t.Errorf("the log shows the value of %s", s.File)
		}
	}
	if _, err := epay.ParseKeyring(first["epay-secret-keys"]); err != nil {
		t.Errorf("epay-secret-keys: %v", err)
	}
	if want := "initiator:operate:" + first["initiator-worker-key"] + ",operator:read:" + first["worker-operator-key"]; first["worker-read-keys"] != want {
		t.Errorf("worker-read-keys %q, want the initiator's and the operator's keys", first["worker-read-keys"])
	}
	for _, r := range natsbus.Roles() {
		if line := r.PasswordVar() + `: "` + first[compose.NATSPasswordFile(r)] + `"`; !strings.Contains(first[compose.NATSUsersFile], line) {
			t.Errorf("nats-users.conf lacks %s", r.PasswordVar())
		}
	}

	if err := compose.Generate(dir, none, &log); err != nil {
		t.Fatal(err)
	}
	if second := readSecrets(t, dir); !equal(first, second) {
		t.Fatal("a second run changed the secrets")
	}

	given := map[string]string{"EPAY_CLIENT_ID": "shop-client-id", "NATS_WORKER_PASSWORD": strings.Repeat("w", 20)}
	os.Remove(filepath.Join(dir, "worker-operator-key"))
	if err := compose.Generate(dir, func(k string) string { return given[k] }, &log); err != nil {
		t.Fatal(err)
	}
	third := readSecrets(t, dir)
	if third["epay-client-id"] != "shop-client-id" || third["nats-worker-password"] != given["NATS_WORKER_PASSWORD"] {
		t.Error("a value from the environment did not replace the file")
	}
	if !strings.Contains(third[compose.NATSUsersFile], `WORKER_PASSWORD: "`+given["NATS_WORKER_PASSWORD"]+`"`) {
		t.Error("nats-users.conf does not follow the new worker password")
	}
	if op := third["worker-operator-key"]; op == "" || op == first["worker-operator-key"] || !strings.HasSuffix(third["worker-read-keys"], ":"+op) {
		t.Error("a deleted key was not made new, or worker-read-keys does not follow it")
	}
	if third["epay-secret-keys"] != first["epay-secret-keys"] {
		t.Error("a kept secret changed")
	}
}

// TestGenerateRefusesWhatTheServicesWould: a NATS password that cannot stand in quotes,
// a malformed signing keyring.
func TestGenerateRefusesWhatTheServicesWould(t *testing.T) {
	noKID := strings.Repeat("k", 20) // a keyring entry without its KID
	for name, env := range map[string]map[string]string{
		"NATS_INGEST_PASSWORD": {"NATS_INGEST_PASSWORD": `short"quote`},
		"EPAY_SECRET_KEYS":     {"EPAY_SECRET_KEYS": noKID},
	} {
		err := compose.Generate(t.TempDir(), func(k string) string { return env[k] }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), env[name]) {
			t.Errorf("%s: err %v, want one naming the variable, not its value", name, err)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
