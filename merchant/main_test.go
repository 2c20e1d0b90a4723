package merchant_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
)

// The local stack (make run's) the tests and the examples run against, started on free
// ports at the first call of localStack and stopped after the last test: the examples
// have no *testing.T to start their own, and the fuzz targets need none.
var (
	stackOnce sync.Once
	theStack  devstack.URLs
	stackErr  error
	stopStack = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopStack()
	os.Exit(code)
}

// localStack starts the stack once and returns its URLs; it panics when the stack does
// not start (a test or an example cannot go on without it).
func localStack() devstack.URLs {
	stackOnce.Do(func() { theStack, stackErr = startStack() })
	if stackErr != nil {
		panic(stackErr)
	}
	return theStack
}

// initiatorURL, workerURL and readKey are where the examples find the stack.
func initiatorURL() string { return localStack().Initiator }
func workerURL() string    { return localStack().Worker }
func readKey() string      { return localStack().WorkerReadKey }

func startStack() (devstack.URLs, error) {
	dir, err := os.MkdirTemp("", "merchant-test-")
	if err != nil {
		return devstack.URLs{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan devstack.URLs, 1)
	done := make(chan error, 1)
	cfg := devstack.Config{
		DataDir: dir, NATSPort: -1, InitiatorPort: -1, IngestPort: -1, WorkerPort: -1, SandboxPort: -1, WebhooksPort: -1,
		Getenv: func(string) string { return "" }, Out: io.Discard,
		OnReady: func(u devstack.URLs) { ready <- u },
	}
	go func() { done <- devstack.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	stopStack = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "devstack did not stop within 30s")
		}
		os.RemoveAll(dir)
	}
	select {
	case u := <-ready:
		return u, workerReady(u.Worker, time.Minute)
	case err := <-done:
		return devstack.URLs{}, fmt.Errorf("devstack: %w", err)
	case <-time.After(60 * time.Second):
		return devstack.URLs{}, fmt.Errorf("devstack not ready within 60s")
	}
}

// workerReady waits until the worker's /readyz says 200: the stack is ready before the
// worker has taken its shards, and until then it answers 503 for every invoice.
func workerReady(worker string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(worker + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker not ready within %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
