package ingest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// An ingest configured with another shard count than the one EPAY_INBOX records would
// publish callbacks where no worker reads them: it stores nothing, answers 503 with
// Retry-After (cause shards_differ), and /readyz names EPAY_SHARDS. Set as recorded, it
// stores them.
func TestAnIngestWithAnotherShardCountThanTheInboxsStoresNothing(t *testing.T) {
	ns := natstest.Start(t)
	cfg := natsbus.DefaultStreamsConfig()
	cfg.Shards = 16 // as the worker records its EPAY_SHARDS
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureAll(ctx, natstest.JetStream(t, ns.URL()), nil, cfg); err != nil {
		t.Fatal(err)
	}
	ti := mustStartIngestOn(t, ns, func(c *Config) { c.Shards = 8 })
	eventually(t, 15*time.Second, "/readyz 503 naming EPAY_SHARDS", func() bool {
		r := get(t, ti.URL+"/readyz")
		return r.status == http.StatusServiceUnavailable && strings.Contains(r.body, "EPAY_SHARDS=16")
	})
	body := signed(t, "success.json", ti.Keys)
	if r := post(t, ti.URL, RoutePostlink, body); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "5" ||
		!strings.Contains(r.body, "shards_differ") {
		t.Fatalf("a callback to an ingest with 8 shards: %d %q (Retry-After %q), want 503 shards_differ, Retry-After 5", r.status, r.body, r.header.Get("Retry-After"))
	}
	if got := ti.metric(t, `epayflow_ingest_publish_failures_total{cause="shards_differ"}`); got != "1" {
		t.Errorf("publish failures with cause shards_differ: %q, want 1", got)
	}
	if n := len(ti.storedMessages(t)); n != 0 {
		t.Fatalf("%d messages stored by an ingest with another shard count", n)
	}
	if err := ti.stop(); err != nil {
		t.Fatal(err)
	}
	right := mustStartIngestOn(t, ns, func(c *Config) { c.Shards = 16 })
	right.waitReady(t)
	if r := post(t, right.URL, RoutePostlink, body); r.status != http.StatusOK {
		t.Fatalf("the callback to an ingest with the recorded count: %d %q", r.status, r.body)
	}
	if n := len(right.storedMessages(t)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}
