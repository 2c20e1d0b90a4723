package natsbus_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// A service binds to what the worker made and to nothing else: before the worker's
// EnsureAll, the stream and the bucket are errors wrapping ErrNotCreated (the services wait
// on them); after it, they open.
func TestServicesBindOnlyToWhatTheWorkerMade(t *testing.T) {
	s := natstest.StartSecure(t)
	in := connect(t, s, natsbus.RoleIngest)
	ini := connect(t, s, natsbus.RoleInitiator)
	if err := natsbus.BindStreams(ctx(t), in.js, natsbus.StreamInbox); !errors.Is(err, natsbus.ErrNotCreated) || !strings.Contains(err.Error(), natsbus.StreamInbox) {
		t.Fatalf("bind EPAY_INBOX before the worker: %v, want ErrNotCreated naming it", err)
	}
	if _, err := natsbus.BindBucket(ctx(t), ini.js, natsbus.IdempotencyBucket); !errors.Is(err, natsbus.ErrNotCreated) || !strings.Contains(err.Error(), natsbus.IdempotencyBucket) {
		t.Fatalf("bind %s before the worker: %v, want ErrNotCreated naming it", natsbus.IdempotencyBucket, err)
	}
	w := connect(t, s, natsbus.RoleStreams)
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatalf("the streams identity makes the streams and buckets: %v\n%s", err, w.log())
	}
	if err := natsbus.BindStreams(ctx(t), in.js, natsbus.StreamInbox); err != nil {
		t.Fatalf("bind EPAY_INBOX: %v", err)
	}
	for _, b := range []string{natsbus.SequenceBucket, natsbus.IdempotencyBucket} {
		if _, err := natsbus.BindBucket(ctx(t), ini.js, b); err != nil {
			t.Fatalf("bind %s: %v", b, err)
		}
	}
	if _, err := natsbus.BindBucket(ctx(t), connect(t, s, natsbus.RoleWebhooks).js, natsbus.WebhooksBucket); err != nil {
		t.Fatalf("bind %s: %v", natsbus.WebhooksBucket, err)
	}
}

// The buckets are as replicated as the streams, and the Idempotency-Keys live for the
// inbox's duplicate window (a key replayed later would make a second invoice that the
// inbox would not drop).
func TestTheBucketsFollowTheStreamsConfig(t *testing.T) {
	cfg := natsbus.StreamsConfig{Replicas: 3, DuplicateWindow: 20 * time.Minute, MaxAge: 48 * time.Hour, MaxBytes: -1}
	for _, b := range natsbus.Buckets() {
		kv, err := cfg.BucketConfig(b)
		if err != nil {
			t.Fatal(err)
		}
		if kv.Bucket != b || kv.Replicas != 3 || kv.History != 1 || kv.Storage != jetstream.FileStorage || kv.RePublish != nil {
			t.Errorf("%s: %+v", b, kv)
		}
	}
	if kv, _ := cfg.BucketConfig(natsbus.IdempotencyBucket); kv.TTL != cfg.DuplicateWindow || kv.MaxBytes != natsbus.IdempotencyBucketBytes {
		t.Errorf("%s: TTL %s, max bytes %d", natsbus.IdempotencyBucket, kv.TTL, kv.MaxBytes)
	}
	if _, err := cfg.BucketConfig("OTHER"); err == nil {
		t.Error("a bucket that is none of the system's has a configuration")
	}
}

// A stream configured as asked is not updated again (a worker's restart on a cluster
// made four meta-leader proposals before it took a shard); a changed configuration is.
func TestEnsureStreamsUpdatesOnlyAStreamConfiguredOtherwise(t *testing.T) {
	s := natstest.Start(t)
	w := struct{ js jetstream.JetStream }{natstest.JetStream(t, s.URL())}
	api := connectPlain(t, s) // sees the stream API requests
	updates, err := api.SubscribeSync("$JS.API.STREAM.UPDATE.>")
	if err != nil {
		t.Fatal(err)
	}
	made := func() int {
		t.Helper()
		if err := w.js.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		if err := api.Flush(); err != nil {
			t.Fatal(err)
		}
		n, _, err := updates.Pending()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cfg := natsbus.DefaultStreamsConfig()
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, cfg); err != nil {
		t.Fatal(err)
	}
	first := made()
	if first == 0 { // CreateOrUpdateStream asks for an update first, then creates
		t.Fatal("no update request seen while the streams were made: the test cannot see them")
	}
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, cfg); err != nil {
		t.Fatal(err)
	}
	if got := made() - first; got != 0 {
		t.Fatalf("a second EnsureAll with the same configuration made %d updates, want none (the streams and buckets made compare as asked: Drift)", got)
	}
	changed := cfg
	changed.MaxAge = 48 * time.Hour
	if err := natsbus.EnsureStreams(ctx(t), w.js, nil, changed, natsbus.StreamInbox); err != nil {
		t.Fatal(err)
	}
	st, err := w.js.Stream(ctx(t), natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != changed.MaxAge {
		t.Fatalf("MaxAge %s after a changed configuration, want %s", got, changed.MaxAge)
	}
	if err := natsbus.EnsureStreams(ctx(t), w.js, nil, cfg, natsbus.StreamInbox); err != nil { // and back
		t.Fatal(err)
	}
	if st, err = w.js.Stream(ctx(t), natsbus.StreamInbox); err != nil || st.CachedInfo().Config.MaxAge != cfg.MaxAge {
		t.Fatalf("MaxAge back to %s: %+v (%v)", cfg.MaxAge, st.CachedInfo().Config.MaxAge, err)
	}
}

// EPAY_DLQ keeps its entries with no age limit whatever the streams' MaxAge (issue 18: an
// entry expiring unseen after 30 days cleared its alert); EPAY_DLQ_DISCARDED, the record
// of what operators discarded, keeps them for good and refuses deletes.
func TestDLQKeepsEntriesWithNoAgeLimit(t *testing.T) {
	s := natstest.StartSecure(t)
	w := connect(t, s, natsbus.RoleStreams)
	cfg := natsbus.DefaultStreamsConfig()
	cfg.MaxAge = 2 * time.Hour
	if err := natsbus.EnsureStreams(ctx(t), w.js, nil, cfg, natsbus.StreamInbox, natsbus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Duration{natsbus.StreamInbox: cfg.MaxAge, natsbus.StreamDLQ: 0} {
		st, err := w.js.Stream(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.MaxAge; got != want {
			t.Errorf("%s MaxAge %s, want %s", name, got, want)
		}
	}
	d := connect(t, s, natsbus.RoleDLQ)
	if err := natsbus.EnsureStreams(ctx(t), w.js, nil, cfg, natsbus.StreamDLQDiscarded); err != nil {
		t.Fatalf("the worker creates EPAY_DLQ_DISCARDED: %v", err)
	}
	st, err := d.js.Stream(ctx(t), natsbus.StreamDLQDiscarded)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.MaxAge != 0 || !c.DenyDelete || !c.DenyPurge || c.MaxBytes != natsbus.DLQDiscardedMaxBytes ||
		len(c.Subjects) != 1 || c.Subjects[0] != natsbus.DLQDiscardedSubjects {
		t.Errorf("EPAY_DLQ_DISCARDED config %+v", c)
	}
}

// Validate takes each limit itself and refuses the value just past it.
func TestStreamsConfigValidateTakesTheLimitsAndRefusesBeyond(t *testing.T) {
	set := func(f func(*natsbus.StreamsConfig)) natsbus.StreamsConfig {
		c := natsbus.DefaultStreamsConfig()
		f(&c)
		return c
	}
	cases := []struct {
		name string
		cfg  natsbus.StreamsConfig
		err  string // "" for valid
	}{
		{"the defaults", natsbus.DefaultStreamsConfig(), ""},
		{"1 replica", set(func(c *natsbus.StreamsConfig) { c.Replicas = 1 }), ""},
		{"5 replicas", set(func(c *natsbus.StreamsConfig) { c.Replicas = 5 }), ""},
		{"0 replicas", set(func(c *natsbus.StreamsConfig) { c.Replicas = 0 }), "stream replicas 0"},
		{"6 replicas", set(func(c *natsbus.StreamsConfig) { c.Replicas = 6 }), "stream replicas 6"},
		{"a 1s window", set(func(c *natsbus.StreamsConfig) { c.DuplicateWindow = time.Second }), ""},
		{"a shorter window", set(func(c *natsbus.StreamsConfig) { c.DuplicateWindow = time.Second - 1 }), "duplicate window"},
		{"max age the window", set(func(c *natsbus.StreamsConfig) { c.MaxAge = c.DuplicateWindow }), ""},
		{"max age under the window", set(func(c *natsbus.StreamsConfig) { c.MaxAge = c.DuplicateWindow - 1 }), "shorter than the duplicate window"},
		{"unlimited bytes", set(func(c *natsbus.StreamsConfig) { c.MaxBytes = -1 }), ""},
		{"1 byte", set(func(c *natsbus.StreamsConfig) { c.MaxBytes = 1 }), ""},
		{"0 bytes", set(func(c *natsbus.StreamsConfig) { c.MaxBytes = 0 }), "stream max bytes 0"},
		{"-2 bytes", set(func(c *natsbus.StreamsConfig) { c.MaxBytes = -2 }), "stream max bytes -2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("err %v, want one saying %q", err, c.err)
			}
		})
	}
}

// EPAY_STATE, the changelog, keeps one record per invoice for as long as the stream
// lives, whatever MaxAge and MaxBytes say, and none can be deleted or purged.
func TestTheChangelogKeepsOneRecordPerInvoiceWithNoAgeOrByteLimit(t *testing.T) {
	s := natstest.StartSecure(t)
	w := connect(t, s, natsbus.RoleWorker)
	cfg := natsbus.DefaultStreamsConfig()
	cfg.MaxAge, cfg.MaxBytes = 2*time.Hour, 1<<30
	if err := natsbus.EnsureStreams(ctx(t), connect(t, s, natsbus.RoleStreams).js, nil, cfg, natsbus.StreamState); err != nil {
		t.Fatal(err)
	}
	st, err := w.js.Stream(ctx(t), natsbus.StreamState)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.MaxAge != 0 || c.MaxBytes != -1 || c.MaxMsgsPerSubject != 1 || !c.AllowDirect || !c.DenyDelete || !c.DenyPurge ||
		c.Compression != jetstream.S2Compression || len(c.Subjects) != 1 || c.Subjects[0] != natsbus.StateSubjects {
		t.Fatalf("EPAY_STATE config %+v", c)
	}
	for i := range 2 {
		if _, err := w.js.Publish(ctx(t), natsbus.StateSubject(3, "123456789"), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, w, natsbus.StreamState); n != 1 {
		t.Fatalf("EPAY_STATE holds %d records of one invoice, want its latest only", n)
	}
	if _, err := cfg.StreamConfig("EPAY_NOSUCH"); err == nil {
		t.Fatal("the configuration of an unknown stream was made")
	}
}
