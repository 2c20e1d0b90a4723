package worker

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/dlq"
	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/httpserver"
)

// TestEveryFlagHasAVariable: each flag of the worker (and of worker dlq) can be set from
// the environment, as a Kubernetes or compose deployment does, and -h shows it.
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, err := parseFlags("worker", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	clitest.EveryFlagHasAVariable(t, usage.String(), envNames, 30)
	flags := envflag.UsageFlags(usage.String())
	for name, env := range map[string]string{"lock-timeout": "WORKER_LOCK_TIMEOUT", "stream-max-age": "NATS_STREAM_MAX_AGE",
		"stream-max-bytes": "NATS_STREAM_MAX_BYTES", "log-level": "LOG_LEVEL", "log-format": "LOG_FORMAT"} {
		if flags[name] != env {
			t.Errorf("-%s: variable %q, want %s", name, flags[name], env)
		}
	}
	var dlqUsage bytes.Buffer
	if err := dlq.Run(context.Background(), []string{"-h"}, func(string) string { return "" }, &dlqUsage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for name, env := range envflag.UsageFlags(dlqUsage.String()) {
		if env == "" {
			t.Errorf("worker dlq -%s has no variable", name)
		}
	}
}

func TestLockTimeoutFromItsVariable(t *testing.T) {
	env := map[string]string{"EPAY_SECRET_KEYS": "A:worker-config-test-key-0001", "WORKER_LOCK_TIMEOUT": "7s"}
	cfg, err := parseFlags("worker", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.LockTimeout != 7*time.Second {
		t.Fatalf("lock timeout %s, err %v; want 7s from WORKER_LOCK_TIMEOUT", cfg.LockTimeout, err)
	}
}

// TestEveryMissingSettingIsNamedAtOnce: in prod the worker needs its signing keys, its
// status key and ePay's credentials: one line names all of them.
func TestEveryMissingSettingIsNamedAtOnce(t *testing.T) {
	env := map[string]string{"EPAY_ENV": "prod"}
	_, err := parseFlags("worker", nil, func(k string) string { return env[k] }, io.Discard)
	want := "worker config: EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL, EPAY_SECRET_KEYS, WORKER_STATUS_KEY and WORKER_EVENTS_KEY are required"
	if !errors.Is(err, ErrConfig) || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	_, err = parseFlags("worker", nil, func(string) string { return "" }, io.Discard)
	if want := "worker config: EPAY_SECRET_KEYS is required"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// TestHelpListsDLQ: -h and help list `worker dlq`.
func TestHelpListsDLQ(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}} {
		var usage bytes.Buffer
		_, err := parseFlags("worker", args, func(string) string { return "" }, &usage)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "Subcommands (each has its own -h):\n  worker dlq list|show <seq>|replay <seq>|replay -all\n") {
			t.Errorf("%v: err %v, usage:\n%s", args, err, usage.String())
		}
	}
}

// TestRunMakesTheDirectoryOfItsDatabase: the default ./var/worker.db works where ./var
// does not exist yet.
func TestRunMakesTheDirectoryOfItsDatabase(t *testing.T) {
	t.Chdir(t.TempDir())
	env := map[string]string{"EPAY_SECRET_KEYS": "A:worker-config-test-key-0001", "WORKER_ADDR": "127.0.0.1:0", "NATS_URL": "nats://127.0.0.1:1"}
	cfg, err := parseFlags("worker", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "./var/worker.db" {
		t.Fatalf("default db %q", cfg.DB)
	}
	listening := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httpserver.WithListenHook(ctx, func(url string) { listening <- url })
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening within 10s")
	}
	if _, err := os.Stat(filepath.Join("var", "worker.db")); err != nil {
		t.Errorf("database: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestDLQHelp: worker dlq -h and worker dlq help print the verbs and the flags, exit 0.
func TestDLQHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}} {
		var out bytes.Buffer
		err := dlq.Run(context.Background(), args, func(string) string { return "" }, &out)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "worker dlq [-nats-url URL] [-nats-user dlq] list [-limit N]") ||
			!strings.Contains(out.String(), "-nats-url string  (env NATS_URL)") {
			t.Errorf("%v: err %v, output:\n%s", args, err, out.String())
		}
	}
}
