package natsbus_test

import (
	"testing"
	"time"

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
