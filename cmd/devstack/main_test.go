package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/devstack"
)

// exitOf is what main does with run's error.
func exitOf(err error, stderr *bytes.Buffer) int {
	if errors.Is(err, errUsage) {
		return cli.ExitUsage
	}
	return cli.Status(stderr, "devstack", err, devstack.ConfigErrors...)
}

// TestHelpAndUnknownArgumentsStartNothing: `devstack help` prints the usage and exits
// 0, `devstack foo` is a usage error (exit 2); neither starts the stack.
func TestHelpAndUnknownArgumentsStartNothing(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "Subcommands (each has its own -h):\n  devstack trigger "},
		{[]string{"-h"}, 0, "-initiator-addr string  (env INITIATOR_ADDR)"},
		{[]string{"foo"}, 2, "devstack: config: unexpected argument \"foo\": the only subcommand is trigger (devstack -h lists the flags and subcommands)\n"},
		{[]string{"-data", "x", "start"}, 2, `unexpected argument "start"`},
	} {
		data := filepath.Join(t.TempDir(), "var")
		env := map[string]string{"DEVSTACK_DATA": data, "NATS_ADDR": "127.0.0.1:0", "INITIATOR_ADDR": "127.0.0.1:0",
			"INGEST_ADDR": "127.0.0.1:0", "WORKER_ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0", "WEBHOOKS_ADDR": "127.0.0.1:0"}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var stdout, stderr bytes.Buffer
		err := run(ctx, tt.args, func(k string) string { return env[k] }, &stdout, &stderr)
		cancel()
		code := exitOf(err, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d with %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) || stdout.Len() > 0 {
			t.Errorf("%v started the stack (data dir: %v; stdout %q)", tt.args, err, stdout.String())
		}
	}
}

// TestConfigErrorsOfTheServicesExit2: a variable a service refuses is a configuration
// error of make run too.
func TestConfigErrorsOfTheServicesExit2(t *testing.T) {
	env := map[string]string{"DEVSTACK_DATA": t.TempDir(), "NATS_ADDR": "127.0.0.1:0", "INITIATOR_ADDR": "127.0.0.1:0",
		"INGEST_ADDR": "127.0.0.1:0", "WORKER_ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0", "WEBHOOKS_ADDR": "127.0.0.1:0", "EPAY_SHARDS": "abc"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	err := run(ctx, nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
	if code := exitOf(err, &stderr); code != 2 || !strings.Contains(stderr.String(), `EPAY_SHARDS: "abc" is not an integer`) {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestTriggerAimsAtINGEST_ADDR: without -url or TRIGGER_URL, devstack trigger posts to
// the stack's ingest where INGEST_ADDR puts it.
func TestTriggerAimsAtINGEST_ADDR(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	env := map[string]string{"INGEST_ADDR": strings.TrimPrefix(srv.URL, "http://")}
	run(context.Background(), []string{"trigger", "-kind", "failure"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "/epay/failure-postlink" {
		t.Fatalf("posts to %v, want the ingest's /epay/failure-postlink at INGEST_ADDR", paths)
	}
	for addr, want := range map[string]string{":18081": "http://localhost:18081", "": "", "bad": ""} {
		if got := ingestBase(addr); got != want {
			t.Errorf("ingestBase(%q) = %q, want %q", addr, got, want)
		}
	}
}
