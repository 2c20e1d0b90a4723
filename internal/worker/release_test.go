package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/inbox"
)

// A renewal that landed without this worker seeing its answer (a stop cancelled it in
// flight) moves the lease's revision on; a clean stop must still release the lease, or
// the others wait a whole lease for the shard (a CI run of
// TestWorkersShareTheShardsAsTheyJoinAndLeave found a stopped worker still holding
// one). Another worker's lease is left alone.
func TestReleaseFreesALeaseRenewedBehindItsBack(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := NewMetrics(prometheus.NewRegistry())
	mine, err := newLeases(ctx, e.js, "store-a", "a.db", "", inbox.StatusSigner{}, 15*time.Second, 1, m, e.log)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newLeases(ctx, e.js, "store-b", "b.db", "", inbox.StatusSigner{}, 15*time.Second, 1, m, e.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{0, 1} {
		if err := mine.take(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.take(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// shard 0 renewed by a write whose answer never came back: the kept revision is old
	if _, err := mine.kv.Update(ctx, shardKey(0), mine.value(shardKey(0)), mine.rev[0]); err != nil {
		t.Fatal(err)
	}
	mine.mu.Lock()
	mine.rev[2] = 1 // and a stale belief about a shard another worker owns
	mine.mu.Unlock()
	mine.release(ctx, mine.held())
	for _, s := range []int{0, 1} {
		if _, err := mine.kv.Get(ctx, shardKey(s)); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("shard %d's lease after release: %v, want it gone", s, err)
		}
	}
	if _, err := mine.kv.Get(ctx, shardKey(2)); err != nil {
		t.Errorf("another worker's lease after this one's release: %v, want it kept", err)
	}
}
