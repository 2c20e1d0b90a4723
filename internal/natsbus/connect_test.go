package natsbus_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

func connectPlain(t *testing.T, s *natstest.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Drain lets a subscription finish what it was given, closes the connection, and
// calls the closed handler the connection had before.
func TestDrainFinishesTheSubscriptionsClosesAndCallsThePreviousClosedHandler(t *testing.T) {
	s := natstest.Start(t)
	prevCalled := make(chan struct{})
	nc := connectPlain(t, s, nats.ClosedHandler(func(*nats.Conn) { close(prevCalled) }))
	var mu sync.Mutex
	got := 0
	release := make(chan struct{})
	if _, err := nc.Subscribe("drain.test", func(*nats.Msg) {
		<-release
		mu.Lock()
		got++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server has the subscription before the publishes
		t.Fatal(err)
	}
	pub := connectPlain(t, s)
	for range 3 {
		if err := pub.Publish("drain.test", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // and the three are delivered before the drain starts
		t.Fatal(err)
	}
	close(release)
	if err := natsbus.Drain(nc, 10*time.Second); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if !nc.IsClosed() {
		t.Fatal("connection not closed after Drain")
	}
	select {
	case <-prevCalled:
	default:
		t.Fatal("the connection's own closed handler was not called")
	}
	mu.Lock()
	defer mu.Unlock()
	if got != 3 {
		t.Fatalf("the subscription handled %d of 3 messages before the close", got)
	}
	if err := natsbus.Drain(nc, time.Second); err != nil {
		t.Fatalf("Drain of a closed connection: %v, want nil", err)
	}
}

// A connection that is reconnecting has nothing to flush: Drain closes it, no error.
func TestDrainClosesAReconnectingConnection(t *testing.T) {
	s := natstest.Start(t)
	nc := connectPlain(t, s, nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	s.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsReconnecting() {
		if time.Now().After(deadline) {
			t.Fatalf("connection %s, not reconnecting within 10s of the server's stop", nc.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := natsbus.Drain(nc, 10*time.Second); err != nil {
		t.Fatalf("Drain of a reconnecting connection: %v, want nil", err)
	}
	if !nc.IsClosed() {
		t.Fatal("reconnecting connection not closed by Drain")
	}
}

// logRecords is a slog handler that keeps each record's message and attributes.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// attr returns the attribute key of each record, as a string.
func (l *logRecords) attr(key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

// EnsureUntil retries a failing set-up, backing off 250ms, 500ms, 1s (doubling), each
// attempt with a deadline of its own of 5s, and returns nil once it succeeds.
func TestEnsureUntilRetriesWithADoublingBackoffUntilItSucceeds(t *testing.T) {
	logs := &logRecords{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	err := natsbus.EnsureUntil(ctx, slog.New(logs), "the streams", func(actx context.Context) error {
		calls++
		dl, ok := actx.Deadline()
		// its own deadline, at most 5s away and not passed (no bound on how long the
		// call took to get here: the machine may be loaded)
		if left := time.Until(dl); !ok || left <= 0 || left > 5*time.Second {
			t.Errorf("attempt %d has %s left (deadline %v), want its own 5s", calls, left, ok)
		}
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("EnsureUntil: %v after %d calls, want nil after the fourth", err, calls)
	}
	if got := strings.Join(logs.attr("backoff"), " "); got != "250ms 500ms 1s" {
		t.Fatalf("backoffs logged %q, want 250ms 500ms 1s", got)
	}
	if got := logs.attr("err"); len(got) != 3 || got[0] != "not yet" {
		t.Fatalf("errors logged %q, want each failure's", got)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if msg := logs.recs[0].Message; msg != "the streams failed; retrying" {
		t.Fatalf("logged %q", msg)
	}
}

// When the context ends during an attempt, EnsureUntil returns its error at once,
// without logging a retry.
func TestEnsureUntilReturnsWhenTheContextEnds(t *testing.T) {
	logs := &logRecords{}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := natsbus.EnsureUntil(ctx, slog.New(logs), "the streams", func(context.Context) error {
		calls++
		cancel()
		return errors.New("cancelled meanwhile")
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("EnsureUntil: %v after %d calls, want context.Canceled after one", err, calls)
	}
	if n := len(logs.attr("err")); n != 0 {
		t.Fatalf("%d retries logged after the context ended", n)
	}
}
