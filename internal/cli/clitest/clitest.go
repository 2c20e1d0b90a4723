// Package clitest holds what the services' tests share about their command lines: secrets
// of a test's own, environments, and the checks every service's configuration must pass.
package clitest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/envflag"
)

// OwnSecret is a secret no file of the repository holds: what production takes.
func OwnSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "own-" + hex.EncodeToString(b)
}

// Env is the environment of base with the pairs kv (name, value, ...) over it.
func Env(base map[string]string, kv ...string) func(string) string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// AssertRefusal checks that err is service's configuration error (wrapping sentinel,
// exit status 2), on one line naming variable, without quoting value.
func AssertRefusal(t testing.TB, service string, sentinel, err error, variable, value string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	if code := cli.Status(io.Discard, service, err, sentinel); code != cli.ExitUsage {
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

// EveryFlagHasAVariable checks the -h output usage of a command: it lists at least min
// flags, and each with the variable envNames gives it (a deployment sets every flag from
// the environment).
func EveryFlagHasAVariable(t testing.TB, usage string, envNames map[string]string, min int) {
	t.Helper()
	flags := envflag.UsageFlags(usage)
	if len(flags) < min {
		t.Fatalf("-h shows %d flags:\n%s", len(flags), usage)
	}
	for name, env := range flags {
		if env == "" || env != envNames[name] {
			t.Errorf("-%s: variable %q in -h, %q in envNames; want one", name, env, envNames[name])
		}
	}
}
