package ingest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// TestConfigReadsTheNATSIdentity: -nats-user, -nats-password (or NATS_PASSWORD_FILE) and
// -nats-ca, the same variables as every service; errors name the variables, never the
// password.
func TestConfigReadsTheNATSIdentity(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	os.WriteFile(pwFile, []byte("pw-from-a-file-123\n"), 0o600)
	caFile := filepath.Join(dir, "ca.crt")
	os.WriteFile(caFile, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600)
	env := map[string]string{"EPAY_SECRET_KEYS": testKeys, "NATS_USER": "ingest", "NATS_PASSWORD_FILE": pwFile, "NATS_CA": caFile}
	c, err := ParseFlagsTo("ingest", nil, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS != (natsbus.Auth{User: "ingest", Password: "pw-from-a-file-123", CA: caFile}) {
		t.Fatalf("NATS = %s (password %q)", c.NATS, c.NATS.Password)
	}
	c, err = ParseFlagsTo("ingest", []string{"-nats-user", "ingest", "-nats-password", "flag-pw-4567"}, func(k string) string {
		return map[string]string{"EPAY_SECRET_KEYS": testKeys}[k]
	}, nil)
	if err != nil || c.NATS.User != "ingest" || c.NATS.Password != "flag-pw-4567" {
		t.Fatalf("flags: %v %s", err, c.NATS)
	}
	env = map[string]string{"EPAY_SECRET_KEYS": testKeys, "NATS_USER": "ingest"}
	if _, err := ParseFlagsTo("ingest", nil, func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), "NATS_PASSWORD_FILE") {
		t.Fatalf("a user without a password: %v, want an error naming NATS_PASSWORD_FILE", err)
	}
	env = map[string]string{"EPAY_SECRET_KEYS": testKeys, "NATS_PASSWORD": "lonely-pw-890"}
	if _, err := ParseFlagsTo("ingest", nil, func(k string) string { return env[k] }, nil); err == nil || strings.Contains(err.Error(), "lonely-pw-890") {
		t.Fatalf("a password without a user: %v, want an error without the password", err)
	}
}

// TestIngestWaitsForTheWorkerThenDoesItsJobAsItsNATSUser: under production permissions
// the ingest may not create EPAY_INBOX; started before the worker it waits for it (not
// ready, saying why, callbacks 503), then, once the worker made it, is ready and stores a
// callback. With a wrong password it is never ready.
func TestIngestWaitsForTheWorkerThenDoesItsJobAsItsNATSUser(t *testing.T) {
	ns := natstest.StartSecure(t)
	ti := mustStartIngestOn(t, ns, func(c *Config) { c.NATS = ns.Auth(natsbus.RoleIngest) })
	eventually(t, 10*time.Second, "/readyz says it waits for the worker", func() bool {
		r := get(t, ti.URL+"/readyz")
		return r.status == http.StatusServiceUnavailable && strings.Contains(r.body, "`worker streams` creates it")
	})
	if r := post(t, ti.URL, RoutePostlink, callback(ti.Keys, "123456789", "tx-0", "ok")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("callback before the worker made EPAY_INBOX: %d %s, want 503", r.status, r.body)
	}
	ns.EnsureAll(t) // `worker streams` runs
	ti.waitReady(t)
	if r := post(t, ti.URL, RoutePostlink, callback(ti.Keys, "123456789", "tx-1", "ok")); r.status != http.StatusOK {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	w := ns.Auth(natsbus.RoleWorker)
	nc, err := nats.Connect(ns.URL(), nats.UserInfo(w.User, w.Password), nats.CustomInboxPrefix(natsbus.RoleWorker.InboxPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, natsbus.StreamInbox)
	if err != nil || st.CachedInfo().State.Msgs != 1 {
		t.Fatalf("EPAY_INBOX: %v, want the callback stored", err)
	}

	bad := ns.Auth(natsbus.RoleIngest)
	bad.Password = "not-the-password"
	wrong := mustStartIngestOn(t, ns, func(c *Config) { c.NATS = bad })
	time.Sleep(time.Second)
	if got := get(t, wrong.URL+"/readyz").status; got == http.StatusOK {
		t.Fatal("ready with a password NATS refuses")
	}
	if r := post(t, wrong.URL, RoutePostlink, callback(ti.Keys, "123456789", "tx-2", "ok")); r.status != http.StatusServiceUnavailable {
		t.Fatalf("callback while NATS refuses the ingest: %d, want 503", r.status)
	}
}
