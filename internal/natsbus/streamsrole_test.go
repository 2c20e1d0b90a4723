package natsbus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// The worker's password alone may not change a stream or a bucket: with STREAM.UPDATE
// one could seal EPAY_INBOX (for good: a sealed stream is never unsealed, every callback
// refused from then on), cap EPAY_STATE to one message (the records discarded) or give
// KV_EPAY_WEBHOOKS a RePublish (its endpoint secrets read); with STREAM.CREATE make a
// bucket its own way. The streams identity (`worker streams`) alone may, and the worker
// checks what it made (CheckAll), refusing a stream configured otherwise.
func TestTheWorkerCannotCreateOrChangeAStreamOnlyTheStreamsIdentityCan(t *testing.T) {
	s, w := setup(t)
	live := func(c *client, name string) jetstream.StreamConfig {
		t.Helper()
		st, err := c.js.Stream(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config
	}
	w.apiRefused("the worker seals EPAY_INBOX", "$JS.API.STREAM.UPDATE.EPAY_INBOX", func(ctx context.Context) error {
		c := live(w, natsbus.StreamInbox)
		c.Sealed = true
		_, err := w.js.UpdateStream(ctx, c)
		return err
	})
	w.apiRefused("the worker caps EPAY_STATE to one message", "$JS.API.STREAM.UPDATE.EPAY_STATE", func(ctx context.Context) error {
		c := live(w, natsbus.StreamState)
		c.MaxMsgs = 1
		_, err := w.js.UpdateStream(ctx, c)
		return err
	})
	w.apiRefused("the worker caps EPAY_INBOX to one message", "$JS.API.STREAM.UPDATE.EPAY_INBOX", func(ctx context.Context) error {
		c := live(w, natsbus.StreamInbox)
		c.MaxMsgs = 1
		_, err := w.js.UpdateStream(ctx, c)
		return err
	})
	w.apiRefused("the worker republishes KV_EPAY_WEBHOOKS", "$JS.API.STREAM.UPDATE.KV_EPAY_WEBHOOKS", func(ctx context.Context) error {
		c := live(w, "KV_"+natsbus.WebhooksBucket)
		c.RePublish = &jetstream.RePublish{Source: "$KV." + natsbus.WebhooksBucket + ".>", Destination: "_INBOX.worker.stolen.>"}
		_, err := w.js.UpdateStream(ctx, c)
		return err
	})
	owners := jetstream.KeyValueConfig{Bucket: natsbus.ShardOwnersBucket, History: 1, TTL: 30 * time.Second, Storage: jetstream.FileStorage, Replicas: 1}
	w.apiRefused("the worker creates its shard owners bucket", "$JS.API.STREAM.CREATE.KV_EPAY_SHARD_OWNERS", func(ctx context.Context) error {
		_, err := w.js.CreateKeyValue(ctx, owners)
		return err
	})
	for _, name := range []string{natsbus.StreamInbox, natsbus.StreamState} {
		if c := live(w, name); c.Sealed || c.MaxMsgs == 1 {
			t.Errorf("%s changed by the worker: sealed %v, max msgs %d", name, c.Sealed, c.MaxMsgs)
		}
	}
	if c := live(w, "KV_"+natsbus.WebhooksBucket); c.RePublish != nil {
		t.Errorf("KV_EPAY_WEBHOOKS has the worker's RePublish %+v", *c.RePublish)
	}
	// The ingest still publishes callbacks: EPAY_INBOX was not sealed.
	publishJS(t, connect(t, s, natsbus.RoleIngest), inbox.Subject(0, inbox.KindPostlink), "cb:after-the-seal")

	// What the worker may do: look (CheckAll, CheckBucket).
	if err := natsbus.CheckAll(ctx(t), w.js, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatalf("the worker checks the streams and buckets: %v\n%s", err, w.log())
	}
	if _, err := natsbus.CheckBucket(ctx(t), w.js, owners); !errors.Is(err, natsbus.ErrNotCreated) {
		t.Fatalf("the worker checks a missing owners bucket: %v, want ErrNotCreated", err)
	}

	// The streams identity creates and updates.
	st := connect(t, s, natsbus.RoleStreams)
	if _, err := natsbus.EnsureBucket(ctx(t), st.js, nil, owners); err != nil {
		t.Fatalf("the streams identity creates the owners bucket: %v\n%s", err, st.log())
	}
	if _, err := natsbus.CheckBucket(ctx(t), w.js, owners); err != nil {
		t.Fatalf("the worker checks the owners bucket made: %v", err)
	}
	changed := natsbus.DefaultStreamsConfig()
	changed.MaxAge = 48 * time.Hour
	if err := natsbus.EnsureStreams(ctx(t), st.js, nil, changed, natsbus.StreamInbox); err != nil {
		t.Fatalf("the streams identity updates EPAY_INBOX: %v\n%s", err, st.log())
	}
	if got := live(w, natsbus.StreamInbox).MaxAge; got != changed.MaxAge {
		t.Fatalf("EPAY_INBOX MaxAge %s after the streams identity's update, want %s", got, changed.MaxAge)
	}
	// The worker configured with the defaults refuses the stream configured otherwise,
	// until `worker streams` brings it back.
	if err := natsbus.CheckAll(ctx(t), w.js, natsbus.DefaultStreamsConfig()); !errors.Is(err, natsbus.ErrNotAsConfigured) {
		t.Fatalf("the worker checks an EPAY_INBOX configured otherwise: %v, want ErrNotAsConfigured", err)
	}
	c := live(st, natsbus.StreamInbox)
	c.MaxMsgs = 1
	if _, err := st.js.UpdateStream(ctx(t), c); err != nil {
		t.Fatalf("the streams identity may update EPAY_INBOX: %v", err)
	}
	if err := natsbus.EnsureAll(ctx(t), st.js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
	if err := natsbus.CheckAll(ctx(t), w.js, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatalf("the worker checks after `worker streams`: %v", err)
	}
}

// Before `worker streams`, the worker's check says what is missing (ErrNotCreated), and
// the worker cannot make it.
func TestTheWorkerWaitsForTheStreamsIdentity(t *testing.T) {
	s := natstest.StartSecure(t)
	w := connect(t, s, natsbus.RoleWorker)
	if err := natsbus.CheckAll(ctx(t), w.js, natsbus.DefaultStreamsConfig()); !errors.Is(err, natsbus.ErrNotCreated) {
		t.Fatalf("CheckAll before the streams are made: %v, want ErrNotCreated", err)
	}
	w.apiRefused("the worker creates EPAY_INBOX", "$JS.API.STREAM.CREATE.EPAY_INBOX", func(ctx context.Context) error {
		return natsbus.EnsureStreams(ctx, w.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox)
	})
	if err := natsbus.EnsureAll(ctx(t), connect(t, s, natsbus.RoleStreams).js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
	if err := natsbus.CheckAll(ctx(t), w.js, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatalf("CheckAll after: %v", err)
	}
}
