package webhooks_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// A consumer deleted under the service (an operator's `nats consumer rm`, a restore
// without it) ended the subscription and Run returned nil: the process exited 0, and
// at its restart the consumer was made again from the stream's first event, so every
// endpoint got 30 days of events again, each freshly signed, which a merchant keeping
// event ids for 36 hours takes as new. Run now fails, and the consumer is made again
// from the position the service kept: nothing delivered is sent again, nothing
// published meanwhile is lost.
func TestAConsumerDeletedUnderTheServiceIsMadeAgainFromWhereItWas(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	for _, id := range []string{"ev-a", "ev-b", "ev-c"} {
		s.publish(t, id, "paid", "INV-"+id)
	}
	waitFor(t, "3 delivered", func() bool { return len(rc.delivered()) == 3 })
	s.waitSettled(t)

	kv, err := s.asWebhooks(t, "test-position").KeyValue(context.Background(), webhooks.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the position kept at the third event", func() bool {
		e, err := kv.Get(context.Background(), "position")
		return err == nil && strings.Contains(string(e.Value()), `"seq":3`)
	})

	s.stop()
	cancel, done := s.start(t)
	defer cancel()
	nc, err := natsbus.ConnectAs(s.nats, "test-admin", natsbus.RoleAdmin, s.auth[natsbus.RoleAdmin], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	admin, _ := jetstream.New(nc)
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	waitFor(t, "the service reading its consumer", func() bool { // its pull request waiting
		c, err := admin.Consumer(ctx, events.Stream, "webhooks")
		return err == nil && c.CachedInfo().NumWaiting > 0
	})
	if err := admin.DeleteConsumer(ctx, events.Stream, "webhooks"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, webhooks.ErrSubscriptionEnded) {
			t.Fatalf("Run after its consumer was deleted: %v, want ErrSubscriptionEnded (an exit that says so)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run went on without a consumer")
	}

	s.publish(t, "ev-d", "paid", "INV-ev-d") // while the service is down
	s.stop = s.run(t)                        // the restart
	waitFor(t, "ev-d delivered", func() bool { return slices.Contains(rc.delivered(), "ev-d") })
	s.waitSettled(t)
	time.Sleep(500 * time.Millisecond) // room for a delivery the test must not see
	if got := slices.Sorted(slices.Values(rc.delivered())); !slices.Equal(got, []string{"ev-a", "ev-b", "ev-c", "ev-d"}) {
		t.Errorf("delivered %v, want each event once: [ev-a ev-b ev-c ev-d]", got)
	}

	// The consumer made from a position keeps its deliver policy at the next start (a
	// consumer's cannot change: an update to "all" would be refused).
	s.stop()
	s.stop = s.run(t)
	s.publish(t, "ev-e", "paid", "INV-ev-e")
	waitFor(t, "ev-e delivered", func() bool { return slices.Contains(rc.delivered(), "ev-e") })
	s.waitSettled(t)
	if got := slices.Sorted(slices.Values(rc.delivered())); !slices.Equal(got, []string{"ev-a", "ev-b", "ev-c", "ev-d", "ev-e"}) {
		t.Errorf("delivered %v after another restart, want [ev-a ev-b ev-c ev-d ev-e]", got)
	}
}
