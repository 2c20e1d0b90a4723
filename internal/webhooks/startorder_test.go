package webhooks_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// signal is a log writer that closes seen once a line contains want.
type signal struct {
	want string
	once sync.Once
	seen chan struct{}
}

func (s *signal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), s.want) {
		s.once.Do(func() { close(s.seen) })
	}
	return len(p), nil
}

// TestStartsBeforeTheWorkerAndWaitsForPaymentEvents: the service may start before the
// worker has created PAYMENT_EVENTS and the EPAY_WEBHOOKS bucket (a pod, make run): its
// NATS user may create neither, so it waits for each instead of failing, saying so, then
// delivers.
func TestStartsBeforeTheWorkerAndWaitsForPaymentEvents(t *testing.T) {
	users, auth := natsembed.RoleUsers()
	ns, err := natsembed.Start(natsembed.Config{Dir: t.TempDir(), Port: -1, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	cfg := testConfig()
	cfg.NATSURL, cfg.Auth, cfg.Addr, cfg.APIKeys = ns.ClientURL(), auth[natsbus.RoleWebhooks], "127.0.0.1:0", []string{apiKey}
	waiting := &signal{want: "stream PAYMENT_EVENTS failed; retrying", seen: make(chan struct{})}
	bucketWait := &signal{want: "bucket EPAY_WEBHOOKS: not created yet: `worker streams` creates it", seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- webhooks.Run(httpserver.WithListenHook(ctx, func(u string) { urls <- u }), cfg, slog.New(slog.NewTextHandler(io.MultiWriter(waiting, bucketWait), nil)))
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not stop within 15s")
		}
	}()
	select {
	case <-waiting.seen:
	case err := <-done:
		done <- nil // for the deferred stop
		t.Fatalf("Run without PAYMENT_EVENTS: %v, want it to wait", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no word of waiting for PAYMENT_EVENTS within 15s")
	}

	nc, err := natsbus.ConnectAs(ns.ClientURL(), "test-worker", natsbus.RoleWorker, auth[natsbus.RoleWorker], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	snc, err := natsbus.ConnectAs(ns.ClientURL(), "test-streams", natsbus.RoleStreams, auth[natsbus.RoleStreams], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer snc.Close()
	sjs, _ := jetstream.New(snc) // `worker streams`
	ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ecancel()
	if err := natsbus.EnsureStreams(ectx, sjs, nil, natsbus.DefaultStreamsConfig(), events.Stream); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bucketWait.seen:
	case err := <-done:
		done <- nil
		t.Fatalf("Run without its bucket: %v, want it to wait", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no word of waiting for the bucket within 15s")
	}
	if err := natsbus.EnsureBuckets(ectx, sjs, nil, natsbus.DefaultStreamsConfig(), natsbus.WebhooksBucket); err != nil {
		t.Fatal(err)
	}
	s := &stack{worker: js}
	select {
	case s.api = <-urls:
	case err := <-done:
		done <- nil
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("webhooks did not listen within 20s of PAYMENT_EVENTS")
	}
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	s.publish(t, "ev-1", "paid", "000000001")
	waitFor(t, "the event delivered", func() bool { return len(rc.delivered()) == 1 })
}
