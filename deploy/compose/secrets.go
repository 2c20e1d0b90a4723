// Package compose holds what deploy/compose/compose.yaml needs besides its files: the
// secrets it mounts, written by `go run ./deploy/compose/gen` (Generate), and the tests
// that check the compose file against the code.
package compose

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Secret is one file of the secrets directory: the compose file mounts it at
// /run/secrets/<name> (nats-users.conf: /etc/nats/users.conf) and a service reads it as
// X_FILE.
type Secret struct {
	// File is its name in the secrets directory.
	File string
	// Env is the variable that gives its value to Generate (the same name as the
	// service's, or NATS_<ROLE>_PASSWORD as for deploy/k8s/secrets/make-secrets.sh).
	Env string
	// Generated: Generate makes a new random value when none is given or kept. Not
	// generated: an empty file (the ePay credentials: outside prod the services then use
	// ePay's published test ones).
	Generated bool
	// Derived from other files, rewritten on every run unless Env gives it.
	Derived bool
}

// Secrets are every file Generate writes.
func Secrets() []Secret {
	s := []Secret{
		{File: "epay-client-id", Env: "EPAY_CLIENT_ID"},
		{File: "epay-client-secret", Env: "EPAY_CLIENT_SECRET"},
		{File: "epay-terminal", Env: "EPAY_TERMINAL"},
		{File: "epay-secret-keys", Env: "EPAY_SECRET_KEYS", Generated: true},
		{File: "initiator-api-keys", Env: "INITIATOR_API_KEYS", Generated: true},
		{File: "initiator-operate-keys", Env: "INITIATOR_OPERATE_KEYS", Generated: true},
		{File: "initiator-worker-key", Env: "INITIATOR_WORKER_KEY", Generated: true},
		{File: "worker-operator-key", Env: "WORKER_OPERATOR_KEY", Generated: true},
		{File: "worker-status-key", Env: "WORKER_STATUS_KEY", Generated: true},
		{File: "worker-status-key-previous", Env: "WORKER_STATUS_KEY_PREVIOUS"},
		{File: "worker-events-key", Env: "WORKER_EVENTS_KEY", Generated: true},
		{File: "worker-read-keys", Env: "WORKER_READ_KEYS", Derived: true},
		{File: "grafana-admin-password", Env: "GRAFANA_ADMIN_PASSWORD", Generated: true},
	}
	for _, r := range natsbus.Roles() {
		s = append(s, Secret{File: NATSPasswordFile(r), Env: "NATS_" + r.PasswordVar(), Generated: true})
	}
	return append(s, Secret{File: NATSUsersFile, Derived: true}, Secret{File: "events-public-keys", Env: "WEBHOOKS_EVENTS_PUBLIC_KEYS", Derived: true})
}

// NATSUsersFile is the secret the NATS servers include as /etc/nats/users.conf: each
// role's password as the variable auth.conf refers to.
const NATSUsersFile = "nats-users.conf"

// NATSPasswordFile is the secret file of role r's NATS password ("nats-ingest-password").
func NATSPasswordFile(r natsbus.Role) string { return "nats-" + string(r) + "-password" }

// The readers of the worker's read API that worker-read-keys names.
const (
	ReaderInitiator = "initiator" // the initiator's return pages (initiator-worker-key)
	ReaderOperator  = "operator"  // people and scripts/smoke.sh (worker-operator-key)
)

// natsPassword is what a NATS password may hold: it stands in quotes in nats-users.conf.
var natsPassword = regexp.MustCompile(`^[A-Za-z0-9._~-]{16,}$`)

// Generate writes every secret of Secrets into dir (created 0700; files 0644, so the
// containers' users can read them through their bind mounts while dir keeps other users
// of this host out). A value in the environment (getenv(Env)) is written; otherwise an
// existing file is kept, so running it again changes nothing; otherwise a generated
// secret is made new and a not-generated one is left empty. Derived files are made again
// from the others. It logs one line per file, never a value.
func Generate(dir string, getenv func(string) string, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	values := map[string]string{}
	for _, s := range Secrets() {
		if s.Derived {
			continue
		}
		v, how, err := value(dir, s, getenv)
		if err != nil {
			return err
		}
		if err := check(s, v); err != nil {
			return err
		}
		values[s.File] = v
		if err := write(dir, s.File, v); err != nil {
			return err
		}
		fmt.Fprintf(log, "%-26s %s\n", s.File, how)
	}
	readKeys := getenv("WORKER_READ_KEYS")
	how := "from WORKER_READ_KEYS"
	if readKeys == "" {
		readKeys = ReaderInitiator + ":operate:" + values["initiator-worker-key"] + "," + ReaderOperator + ":read:" + values["worker-operator-key"]
		how = "made from initiator-worker-key and worker-operator-key"
	}
	if err := write(dir, "worker-read-keys", readKeys); err != nil {
		return err
	}
	fmt.Fprintf(log, "%-26s %s\n", "worker-read-keys", how)
	var users strings.Builder
	users.WriteString("# Each NATS user's password, included by auth.conf. Written by go run ./deploy/compose/gen.\n")
	for _, r := range natsbus.Roles() {
		fmt.Fprintf(&users, "%s: %q\n", r.PasswordVar(), values[NATSPasswordFile(r)])
	}
	if err := write(dir, NATSUsersFile, users.String()); err != nil {
		return err
	}
	fmt.Fprintf(log, "%-26s %s\n", NATSUsersFile, "made from the nats-*-password files")
	signer, err := events.ParseSigningKey(values["worker-events-key"])
	if err != nil {
		return err
	}
	if err := write(dir, "events-public-keys", signer.PublicKey()); err != nil {
		return err
	}
	fmt.Fprintf(log, "%-26s %s\n", "events-public-keys", "made from worker-events-key")
	return nil
}

// value is s's value: from the environment, the existing file, or new.
func value(dir string, s Secret, getenv func(string) string) (v, how string, err error) {
	if v := getenv(s.Env); v != "" {
		return v, "from " + s.Env, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, s.File))
	switch {
	case err == nil && len(b) > 0:
		return strings.TrimSuffix(string(b), "\n"), "kept", nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", "", err
	case !s.Generated:
		return "", "empty (set " + s.Env + " and run again to fill it)", nil
	}
	v = random()
	switch s.File {
	case "epay-secret-keys":
		v = "A:" + v
	case "worker-events-key":
		s, err := events.NewSigner()
		if err != nil {
			return "", "", err
		}
		v = s.Key()
	}
	return v, "generated", nil
}

// check refuses a given value the services would refuse at start, naming the variable.
func check(s Secret, v string) error {
	switch {
	case strings.HasPrefix(s.File, "nats-") && strings.HasSuffix(s.File, "-password"):
		if !natsPassword.MatchString(v) {
			return fmt.Errorf("%s: want at least 16 of A-Z a-z 0-9 . _ ~ - (it stands in quotes in nats-users.conf)", s.Env)
		}
	case s.File == "epay-secret-keys":
		if _, err := epay.ParseKeyring(v); err != nil {
			return fmt.Errorf("%s: %v", s.Env, err)
		}
	case s.File == "worker-events-key":
		if _, err := events.ParseSigningKey(v); err != nil {
			return fmt.Errorf("%s: %v", s.Env, err)
		}
	case strings.ContainsAny(v, "\r\n"):
		return fmt.Errorf("%s: one line only", s.Env)
	}
	return nil
}

// write writes v and a newline (one trailing newline is trimmed by the services' X_FILE).
func write(dir, name, v string) error {
	if v != "" && !strings.HasSuffix(v, "\n") {
		v += "\n"
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// random is 32 random bytes, base64url: 43 letters, digits, - and _.
func random() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
