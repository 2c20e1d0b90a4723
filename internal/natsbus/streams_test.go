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
