package webhooks

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The dispatcher's sweep removes what a deleted endpoint left in the bucket (a delivery
// under way wrote it after DeleteEndpoint's own sweep, or its process died before it
// could drop it) and nothing of an endpoint that exists.
func TestTheSweepRemovesTheKeysOfDeletedEndpointsOnly(t *testing.T) {
	ctx, store, d := newDispatcher(t, 30*time.Second)
	const live, deleted = "ep_00000000000000a1", "ep_00000000000000d1"
	if err := store.PutEndpoint(ctx, Endpoint{ID: live, URL: "https://merchant.example/hook"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{live, deleted} {
		if err := store.AddAttempt(ctx, id, Attempt{EventID: "ev-1", Result: "failed"}); err != nil {
			t.Fatal(err)
		}
		if err := store.PutDead(ctx, id, DeadLetter{Seq: 1, EventID: "ev-1", Event: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := store.PutRetry(ctx, id, 2, Retry{Failures: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Enqueue(ctx, id, "SU5WLTE", 2); err != nil {
			t.Fatal(err)
		}
	}
	n, err := d.sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := store.keys(ctx, ">")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{"attempts." + live, "dead." + live + ".1", "endpoints." + live, "pending." + live + ".SU5WLTE", "retry." + live + ".2"}
	if n != 4 || !slices.Equal(keys, want) {
		t.Errorf("after the sweep (%d removed) the bucket holds %v, want %v", n, keys, want)
	}
	if n, err := d.sweep(ctx); n != 0 || err != nil {
		t.Errorf("a second sweep removed %d (%v), want none", n, err)
	}
}
