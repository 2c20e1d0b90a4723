package suite

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
)

// TestStorageByTransactionShape is a measurement, not run by make test: the bytes a paid
// invoice takes when the store is filled through the apply path in transactions of
// different sizes, from the prefill's (4,096 appliers, NoSync, about 330 changes a
// commit) down to a worker under light load (a few changes a commit). bbolt splits a
// full page when a longer value or a key between its keys comes in, and an invoice's
// paid entries do both, so the fill of the pages depends on what each transaction
// carries. bench/NOTES.md (session 12) has the figures.
//
//	EPAYFLOW_FILL_SHAPE=100000 go test -run TestStorageByTransactionShape -v -timeout 30m ./bench/suite/
//
// EPAYFLOW_FILL_APPLIERS=prefill,256,16 measures only those shapes (prefill: the
// prefill's; a number: that many appliers, fsync on).
func TestStorageByTransactionShape(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EPAYFLOW_FILL_SHAPE"))
	if n <= 0 {
		t.Skip("a measurement: EPAYFLOW_FILL_SHAPE=<paid invoices> to run it")
	}
	keys, err := epay.ParseKeyring(keySpec)
	if err != nil {
		t.Fatal(err)
	}
	shapes := []fillShape{
		{NoSync: true, Goroutines: workerGoroutines}, // the prefill's
		{Goroutines: workerGoroutines},
		{Goroutines: 256}, // about a drain's (50 changes a commit)
		{Goroutines: 64},
		{Goroutines: 16},
	}
	if only := os.Getenv("EPAYFLOW_FILL_APPLIERS"); only != "" {
		shapes = nil
		for _, f := range strings.Split(only, ",") {
			if f = strings.TrimSpace(f); f == "prefill" {
				shapes = append(shapes, fillShape{NoSync: true, Goroutines: workerGoroutines})
				continue
			}
			g, err := strconv.Atoi(f)
			if err != nil || g <= 0 {
				t.Fatalf("EPAYFLOW_FILL_APPLIERS=%q: want a list of counts of appliers", only)
			}
			shapes = append(shapes, fillShape{Goroutines: g})
		}
	}
	for _, shape := range shapes {
		var commits atomic.Int64
		shape.OnCommit = func(time.Duration) { commits.Add(1) }
		path := filepath.Join(t.TempDir(), "worker.db")
		start := time.Now()
		if err := fill(path, n, 100_000_000_000, keys, shape); err != nil {
			t.Fatal(err)
		}
		u, err := bolt.FileUsage(path)
		if err != nil {
			t.Fatal(err)
		}
		per := func(b int64) float64 { return float64(b) / float64(n) }
		t.Logf("%d appliers, NoSync %t: %s, %d commits (%.0f messages a commit; the relay's deletes commit too); in use %.0f B a paid invoice (file %.0f B)",
			shape.Goroutines, shape.NoSync, time.Since(start).Round(time.Second), commits.Load(), float64(2*n)/float64(max(commits.Load(), 1)),
			per(u.FileBytes-u.FreeBytes-u.Ahead()), per(u.FileBytes))
		for _, b := range u.Buckets {
			if b.Keys > 0 && b.Bytes > 0 {
				t.Logf("   %-9s %6.0f B a paid invoice, pages %.0f%% full", b.Name, per(b.Bytes), 100*float64(b.InUse)/float64(b.Bytes))
			}
		}
	}
}
