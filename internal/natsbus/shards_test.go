package natsbus_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// recordedShards is the shard count EPAY_INBOX records ("" for none).
func recordedShards(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	st, err := js.Stream(ctx(t), natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().Config.Metadata[natsbus.MetadataShards]
}

// The shard count is part of the data's layout: the worker records it on EPAY_INBOX
// when it makes the stream, and from then on a worker, an ingest or an initiator
// configured with another count is refused, with the count to set; a tool that makes the
// streams without a count (0) keeps the one recorded. Each role with its own permissions.
func TestTheInboxRecordsItsShardCountAndEveryServiceIsHeldToIt(t *testing.T) {
	s := natstest.StartSecure(t)
	w := connect(t, s, natsbus.RoleStreams)
	cfg := natsbus.DefaultStreamsConfig()
	cfg.Shards = 16
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, cfg); err != nil {
		t.Fatalf("the worker makes the streams: %v\n%s", err, w.log())
	}
	if got := recordedShards(t, w.js); got != "16" {
		t.Fatalf("EPAY_INBOX records %q shards, want 16", got)
	}
	// the running worker checks the count too (it may not change the stream)
	wk := connect(t, s, natsbus.RoleWorker)
	if err := natsbus.CheckAll(ctx(t), wk.js, cfg); err != nil {
		t.Errorf("the worker with the recorded count: %v", err)
	}
	if err := natsbus.CheckAll(ctx(t), wk.js, func() natsbus.StreamsConfig { c := cfg; c.Shards = 8; return c }()); !errors.Is(err, natsbus.ErrShardsDiffer) {
		t.Errorf("the worker with 8 shards: %v, want ErrShardsDiffer", err)
	}
	for _, role := range []natsbus.Role{natsbus.RoleIngest, natsbus.RoleInitiator} {
		c := connect(t, s, role)
		if err := natsbus.BindInbox(ctx(t), c.js, 16); err != nil {
			t.Errorf("%s with the recorded count: %v", role, err)
		}
		err := natsbus.BindInbox(ctx(t), c.js, 64)
		if !errors.Is(err, natsbus.ErrShardsDiffer) || !strings.Contains(err.Error(), "EPAY_SHARDS=16") {
			t.Errorf("%s with 64 shards: %v, want ErrShardsDiffer saying EPAY_SHARDS=16", role, err)
		}
	}
	other := cfg
	other.Shards = 8
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, other); !errors.Is(err, natsbus.ErrShardsDiffer) {
		t.Fatalf("a worker with 8 shards: %v, want ErrShardsDiffer", err)
	}
	if got := recordedShards(t, w.js); got != "16" {
		t.Fatalf("after a worker with 8 shards EPAY_INBOX records %q, want 16 still", got)
	}
	tool := cfg
	tool.Shards, tool.MaxAge = 0, 48*time.Hour // and a changed configuration: the stream is updated
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, tool); err != nil {
		t.Fatal(err)
	}
	if got := recordedShards(t, w.js); got != "16" {
		t.Fatalf("after an update without a count EPAY_INBOX records %q, want 16 still", got)
	}
}

// A stream made before counts were recorded carries none: the worker then looks for the
// consumer of the first shard past its count, and refuses when it is there (the inbox was
// consumed with more shards); without it, it records its count. Services bind to an
// inbox without a record whatever their count: there is nothing to compare.
func TestAnInboxWithoutARecordedCountIsJudgedByItsShardsConsumers(t *testing.T) {
	s := natstest.StartSecure(t)
	w, sx := connect(t, s, natsbus.RoleWorker), connect(t, s, natsbus.RoleStreams)
	if err := natsbus.EnsureAll(ctx(t), sx.js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
	if got := recordedShards(t, w.js); got != "" {
		t.Fatalf("EPAY_INBOX made without a count records %q", got)
	}
	in := connect(t, s, natsbus.RoleIngest)
	if err := natsbus.BindInbox(ctx(t), in.js, 5); err != nil {
		t.Fatalf("bind an inbox without a record: %v", err)
	}
	for _, shard := range []int{3, 16} { // the shards of a deployment run with 17 or more
		if _, err := w.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamInbox, jetstream.ConsumerConfig{
			Durable: natsbus.ShardConsumerPrefix + strconv.Itoa(shard), FilterSubject: inbox.ShardFilter(shard), AckPolicy: jetstream.AckExplicitPolicy,
		}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := natsbus.DefaultStreamsConfig()
	cfg.Shards = 16
	err := natsbus.EnsureAll(ctx(t), sx.js, nil, cfg)
	if !errors.Is(err, natsbus.ErrShardsDiffer) || !strings.Contains(err.Error(), "worker-shard-16") {
		t.Fatalf("a worker with 16 shards on an inbox with worker-shard-16: %v, want ErrShardsDiffer naming it", err)
	}
	if got := recordedShards(t, w.js); got != "" {
		t.Fatalf("a refused worker recorded %q", got)
	}
	cfg.Shards = 17
	if err := natsbus.EnsureAll(ctx(t), sx.js, nil, cfg); err != nil {
		t.Fatalf("a worker with 17 shards: %v", err)
	}
	if got := recordedShards(t, w.js); got != "17" {
		t.Fatalf("EPAY_INBOX records %q, want 17", got)
	}
	if err := natsbus.BindInbox(ctx(t), in.js, 16); !errors.Is(err, natsbus.ErrShardsDiffer) {
		t.Fatalf("an ingest with 16 shards once 17 is recorded: %v, want ErrShardsDiffer", err)
	}
}

// Two workers making the inbox at once with different counts: one count is recorded and
// the other worker is refused, never made to overwrite it.
func TestWorkersMakingTheInboxAtOnceAgreeOnOneCount(t *testing.T) {
	s := natstest.StartSecure(t)
	a, b := connect(t, s, natsbus.RoleStreams), connect(t, s, natsbus.RoleStreams)
	errs := make(chan error, 2)
	for i, c := range []*client{a, b} {
		cfg := natsbus.DefaultStreamsConfig()
		cfg.Shards = 16 + i
		go func() { errs <- natsbus.EnsureStreams(ctx(t), c.js, nil, cfg, natsbus.StreamInbox) }()
	}
	var refused int
	for range 2 {
		if err := <-errs; err != nil {
			refused++
		}
	}
	got := recordedShards(t, a.js)
	if refused != 1 || (got != "16" && got != "17") {
		t.Fatalf("%d of 2 refused, %q recorded: want one refused and its count not recorded", refused, got)
	}
}
