// Package devstacktest starts the local stack (make run) in a test: on free ports, with
// its data in a temporary directory, stopped when the test ends.
package devstacktest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
)

// Options of Start; the zero value is a stack with an empty environment, no banner and
// no log.
type Options struct {
	Env map[string]string // the whole environment the services see
	Log *slog.Logger
	Out io.Writer // the ready banner
	// NATSMonitor serves the NATS server's monitoring endpoints on a free port
	// (URLs.NATSMonitor).
	NATSMonitor bool
	// OnControl is given the stack's Control (devstack.Config).
	OnControl func(*devstack.Control)
}

// Start runs the stack until the test ends and returns its URLs once it is ready. A stop
// that fails is a test error.
func Start(t testing.TB, o Options) devstack.URLs {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan devstack.URLs, 1)
	done := make(chan error, 1)
	cfg := devstack.Config{
		DataDir: t.TempDir(), NATSPort: -1, InitiatorPort: -1, IngestPort: -1, WorkerPort: -1, SandboxPort: -1, WebhooksPort: -1,
		Getenv:  func(k string) string { return o.Env[k] },
		Out:     o.Out,
		OnReady: func(u devstack.URLs) { ready <- u },

		OnControl: o.OnControl,
	}
	if o.NATSMonitor {
		cfg.NATSMonitorAddr = "127.0.0.1:0"
	}
	go func() { done <- devstack.Run(ctx, cfg, o.Log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("devstack stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("devstack did not stop within 30s")
		}
	})
	select {
	case u := <-ready:
		return u
	case err := <-done:
		t.Fatalf("devstack: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("devstack not ready within 60s")
	}
	return devstack.URLs{}
}
