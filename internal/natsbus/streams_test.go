package natsbus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// The ingest creates EPAY_INBOX when it is missing and leaves it alone when it is there,
// even configured otherwise: the worker owns its configuration.
func TestCreateStreamsCreatesMissingAndLeavesExistingAlone(t *testing.T) {
	s := natstest.StartSecure(t)
	in := connect(t, s, natsbus.RoleIngest)
	cfg := natsbus.DefaultStreamsConfig()
	if err := natsbus.CreateStreams(ctx(t), in.js, cfg, natsbus.StreamInbox); err != nil {
		t.Fatalf("create the missing stream: %v", err)
	}
	w := connect(t, s, natsbus.RoleWorker)
	owner := cfg
	owner.MaxAge = 48 * time.Hour
	if err := natsbus.EnsureStreams(ctx(t), w.js, owner, natsbus.StreamInbox); err != nil {
		t.Fatalf("the worker updates it: %v", err)
	}
	if err := natsbus.CreateStreams(ctx(t), in.js, cfg, natsbus.StreamInbox); err != nil {
		t.Fatalf("CreateStreams on a stream configured otherwise: %v", err)
	}
	st, err := w.js.Stream(ctx(t), natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != owner.MaxAge {
		t.Fatalf("MaxAge %s, want the owner's %s", got, owner.MaxAge)
	}
	if err := natsbus.CreateStreams(ctx(t), in.js, natsbus.StreamsConfig{}, natsbus.StreamInbox); err == nil {
		t.Fatal("CreateStreams accepted an invalid config")
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
	all := []string{natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ, natsbus.StreamState}
	if err := natsbus.EnsureStreams(ctx(t), w.js, cfg, all...); err != nil {
		t.Fatal(err)
	}
	first := made()
	if first == 0 { // CreateOrUpdateStream asks for an update first, then creates
		t.Fatal("no update request seen while the streams were made: the test cannot see them")
	}
	if err := natsbus.EnsureStreams(ctx(t), w.js, cfg, all...); err != nil {
		t.Fatal(err)
	}
	if got := made() - first; got != 0 {
		t.Fatalf("a second EnsureStreams with the same configuration made %d updates, want none", got)
	}
	changed := cfg
	changed.MaxAge = 48 * time.Hour
	if err := natsbus.EnsureStreams(ctx(t), w.js, changed, natsbus.StreamInbox); err != nil {
		t.Fatal(err)
	}
	st, err := w.js.Stream(ctx(t), natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != changed.MaxAge {
		t.Fatalf("MaxAge %s after a changed configuration, want %s", got, changed.MaxAge)
	}
	if err := natsbus.EnsureStreams(ctx(t), w.js, cfg, natsbus.StreamInbox); err != nil { // and back
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
	w := connect(t, s, natsbus.RoleWorker)
	cfg := natsbus.DefaultStreamsConfig()
	cfg.MaxAge = 2 * time.Hour
	if err := natsbus.EnsureStreams(ctx(t), w.js, cfg, natsbus.StreamInbox, natsbus.StreamDLQ); err != nil {
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
	if err := natsbus.CreateStreams(ctx(t), d.js, cfg, natsbus.StreamDLQDiscarded); err != nil {
		t.Fatalf("worker dlq creates EPAY_DLQ_DISCARDED: %v", err)
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
	if err := natsbus.EnsureStreams(ctx(t), w.js, cfg, natsbus.StreamState); err != nil {
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
