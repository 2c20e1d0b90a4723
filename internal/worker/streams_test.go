package worker

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// lockedBuffer is a log sink the worker's goroutines write to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secureEnv is newEnv on a NATS with the roles' users and permissions, the worker's
// client connected as the worker; logs holds the workers' logs.
func secureEnv(t *testing.T) (*env, *lockedBuffer) {
	t.Helper()
	ns := natstest.StartSecure(t)
	a := ns.Auth(natsbus.RoleWorker)
	nc, err := natsbus.ConnectAs(ns.URL(), "test-worker", natsbus.RoleWorker, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	logs := &lockedBuffer{}
	return &env{t: t, ns: ns, nc: nc, js: js, db: filepath.Join(t.TempDir(), "worker.db"), log: slog.New(slog.NewTextHandler(logs, nil))}, logs
}

func (e *env) secureConfig() Config {
	cfg := e.config()
	cfg.NATS = e.ns.Auth(natsbus.RoleWorker)
	return cfg
}

func ready(url string) bool {
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// On a NATS with the roles' users, the worker's user may not make the streams: a worker
// without the streams identity waits for them, saying `worker streams` makes them, and
// is not ready; `worker streams`, as the user streams, makes them and exits, and the
// worker goes on. EPAY_SHARDS is recorded on EPAY_INBOX by `worker streams` and checked
// by the worker.
func TestTheWorkerWaitsForWorkerStreams(t *testing.T) {
	e, logs := secureEnv(t)
	r := e.startListening(e.secureConfig())
	waitFor(t, 10*time.Second, "the worker saying it waits for `worker streams`", func() bool {
		return strings.Contains(logs.String(), "worker streams")
	})
	if ready(r.url) {
		t.Fatal("the worker is ready without its streams")
	}
	if l := logs.String(); strings.Contains(l, "Permissions Violation") {
		t.Fatalf("the worker tried to make a stream:\n%s", l)
	}

	pw := filepath.Join(t.TempDir(), "streams-password")
	os.WriteFile(pw, []byte(e.ns.Auth(natsbus.RoleStreams).Password+"\n"), 0o600)
	env := map[string]string{"NATS_URL": e.ns.URL(), "EPAY_SHARDS": strconv.Itoa(inbox.DefaultShards),
		// the worker's own identity in the environment, the streams one beside it (a local
		// stack's worker): `worker streams` takes the streams one
		"NATS_USER": "worker", "NATS_PASSWORD": e.ns.Auth(natsbus.RoleWorker).Password,
		"WORKER_STREAMS_NATS_USER": "streams", "WORKER_STREAMS_NATS_PASSWORD_FILE": pw}
	var out lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Streams(ctx, nil, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("worker streams: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "streams and buckets made") {
		t.Errorf("worker streams said:\n%s", out.String())
	}
	// as docs/WORKER.md shows it: NATS_USER=streams NATS_PASSWORD_FILE=... worker streams
	// (run again: nothing to change)
	asDocs := map[string]string{"NATS_URL": e.ns.URL(), "EPAY_SHARDS": env["EPAY_SHARDS"], "NATS_USER": "streams", "NATS_PASSWORD_FILE": pw}
	if err := Streams(ctx, nil, func(k string) string { return asDocs[k] }, &out); err != nil {
		t.Fatalf("NATS_USER=streams worker streams: %v\n%s", err, out.String())
	}
	for deadline := time.Now().Add(20 * time.Second); !ready(r.url); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker not ready 20s after `worker streams` ran:\n%s", logs.String())
		}
	}
	st, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.Metadata[natsbus.MetadataShards]; got != strconv.Itoa(inbox.DefaultShards) {
		t.Errorf("EPAY_INBOX records %q shards, want %d", got, inbox.DefaultShards)
	}
	if _, err := e.js.KeyValue(ctx, natsbus.ShardOwnersBucket); err != nil {
		t.Errorf("the shard owners bucket: %v", err)
	}
	r.stop(t)

	// A worker with another shard count than recorded is refused, as before.
	cfg := e.secureConfig()
	cfg.DB = filepath.Join(t.TempDir(), "other.db")
	cfg.Shards = inbox.DefaultShards * 2
	cfg.OwnShards, _ = ParseShards("all", cfg.Shards)
	logs2 := &lockedBuffer{}
	e.log = slog.New(slog.NewTextHandler(logs2, nil))
	r = e.startListening(cfg)
	waitFor(t, 10*time.Second, "the worker with another shard count refused", func() bool {
		return strings.Contains(logs2.String(), "EPAY_SHARDS")
	})
	if ready(r.url) {
		t.Fatal("a worker with another shard count than recorded is ready")
	}
	// and `worker streams` with it does not change the record (it retries until stopped)
	env["EPAY_SHARDS"] = strconv.Itoa(cfg.Shards)
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if err := Streams(sctx, nil, func(k string) string { return env[k] }, &out); err == nil {
		t.Fatal("worker streams with another shard count than recorded succeeded")
	}
	if !strings.Contains(out.String(), "EPAY_SHARDS="+strconv.Itoa(inbox.DefaultShards)) {
		t.Errorf("worker streams with another shard count did not say which to set:\n%s", out.String())
	}
}

// A worker given the streams identity (WORKER_STREAMS_NATS_USER and its password, as in
// the local stacks) makes the streams itself on a second connection as that user, and
// its own user still may not.
func TestTheWorkerWithTheStreamsIdentityMakesTheStreams(t *testing.T) {
	e, logs := secureEnv(t)
	cfg := e.secureConfig()
	cfg.StreamsNATS = e.ns.Auth(natsbus.RoleStreams)
	e.start(cfg)
	if l := logs.String(); strings.Contains(l, "Permissions Violation") {
		t.Fatalf("a permissions violation:\n%s", l)
	}
	for _, s := range natsbus.StreamsAndBuckets() {
		if _, err := e.js.Stream(context.Background(), s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// The streams identity is read like the worker's (a password from a file), refused half
// configured or equal to the worker's own user.
func TestConfigReadsTheStreamsIdentity(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pw, []byte("streams-pw-from-file\n"), 0o600)
	env := map[string]string{"WORKER_DB": "/data/w.db", "EPAY_SECRET_KEYS": "A:worker-config-test-key-0001",
		"NATS_USER": "worker", "NATS_PASSWORD": "worker-pw-from-file", "WORKER_STREAMS_NATS_USER": "streams", "WORKER_STREAMS_NATS_PASSWORD_FILE": pw}
	get := func(k string) string { return env[k] }
	cfg, err := parseFlags("worker", nil, get, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StreamsNATS != (natsbus.Auth{User: "streams", Password: "streams-pw-from-file"}) {
		t.Fatalf("StreamsNATS = %s", cfg.StreamsNATS)
	}
	delete(env, "WORKER_STREAMS_NATS_PASSWORD_FILE")
	if _, err := parseFlags("worker", nil, get, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "WORKER_STREAMS_NATS_PASSWORD_FILE") {
		t.Fatalf("a streams user without a password: %v", err)
	}
	env["WORKER_STREAMS_NATS_USER"] = "worker"
	env["WORKER_STREAMS_NATS_PASSWORD"] = "pw-0123456789"
	if _, err := parseFlags("worker", nil, get, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "WORKER_STREAMS_NATS_USER") {
		t.Fatalf("the worker's own user as the streams identity: %v", err)
	}
}
