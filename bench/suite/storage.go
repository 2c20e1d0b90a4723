package suite

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
)

// Targets of issue 17 (items 4 and 5).
const (
	targetBytesPerInvoice = 2048
	targetMaxPause        = time.Second
)

// workerShapes are the appliers of the stores filled in a worker's transaction shapes,
// fsync on: 256 commit about as many messages together as a drain (about 55), 16 as a
// worker under light traffic (a few).
var workerShapes = []int{256, 16}

// ShapeResult is a store filled through the apply path by Appliers goroutines with
// fsync on: the transactions a worker makes, smaller than the prefill's.
type ShapeResult struct {
	Appliers int
	Invoices int
	Commits  int64 // the relay's deletes commit too
	Usage    bolt.Usage
}

// InUse is the file less its free pages and the space grown ahead.
func (r ShapeResult) InUse() int64 { return r.Usage.FileBytes - r.Usage.FreeBytes - r.Usage.Ahead() }

// storageShapes fills a store of sz.shapeFill paid invoices in each of workerShapes
// under dir and keeps what it takes.
func (s *suite) storageShapes(dir string) error {
	for _, g := range workerShapes {
		path := filepath.Join(dir, fmt.Sprintf("shape-%d.db", g))
		var commits atomic.Int64
		t := time.Now()
		err := fill(path, s.sz.shapeFill, s.base(int64(s.sz.shapeFill)), s.keys,
			fillShape{Goroutines: g, OnCommit: func(time.Duration) { commits.Add(1) }})
		if err != nil {
			return err
		}
		u, err := bolt.FileUsage(path)
		os.Remove(path)
		if err != nil {
			return err
		}
		r := ShapeResult{Appliers: g, Invoices: s.sz.shapeFill, Commits: commits.Load(), Usage: u}
		s.res.StorageShapes = append(s.res.StorageShapes, r)
		s.logf("   %d paid invoices from %d appliers, fsync on: %.0f messages a commit, %.0f B each in the file (%.0f in use), %s", r.Invoices, g,
			float64(2*r.Invoices)/float64(max(r.Commits, 1)), float64(u.FileBytes)/float64(r.Invoices), float64(r.InUse())/float64(r.Invoices),
			time.Since(t).Round(time.Second))
	}
	return nil
}

// StorageResult is what a store of paid invoices filled through the worker's apply
// path takes, bucket by bucket, and after `worker compact`.
type StorageResult struct {
	Invoices       int
	Filled         bolt.Usage    // as the apply path left the file
	CompactedBytes int64         // the file after bolt.CompactFile (worker compact)
	CompactFor     time.Duration // how long the compaction took
}

// PerInvoice is bytes per paid invoice.
func (r StorageResult) PerInvoice(bytes int64) float64 {
	if r.Invoices == 0 {
		return 0
	}
	return float64(bytes) / float64(r.Invoices)
}

// storage measures the store at db, just filled with n paid invoices (prefill), then
// compacts a copy of it (the worker's file is left as it is for the growth run).
func (s *suite) storage(db string, n int) error {
	u, err := bolt.FileUsage(db)
	if err != nil {
		return err
	}
	r := StorageResult{Invoices: n, Filled: u}
	cp := db + ".compact-copy"
	defer os.Remove(cp)
	if err := copyFile(db, cp); err != nil {
		return err
	}
	t := time.Now()
	_, after, err := bolt.CompactFile(cp, time.Second)
	if err != nil {
		return err
	}
	r.CompactFor, r.CompactedBytes = time.Since(t), after
	s.res.Storage = r
	s.logf("   storage of %d paid invoices: %.0f B each in the file (%.0f B after worker compact, %s)", n,
		r.PerInvoice(u.FileBytes), r.PerInvoice(after), r.CompactFor.Round(100*time.Millisecond))
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// StallResult is the longest pause between two messages handled in each drain of the
// run (the drain, the growth drains and the stall drains).
type StallResult struct {
	Pauses []time.Duration
}

// Max is the longest pause of every drain.
func (r StallResult) Max() time.Duration {
	if len(r.Pauses) == 0 {
		return 0
	}
	return slices.Max(r.Pauses)
}

// stalls drains a pre-loaded inbox into an empty store again and again (issue 17: a
// 32 s stall twice in about 18 drains), keeping each drain's longest pause; the drain and
// growth phases' pauses join them.
func (s *suite) stalls(ctx context.Context) error {
	for _, g := range s.res.Growth {
		s.res.Stalls.Pauses = append(s.res.Stalls.Pauses, g.MaxPause)
	}
	for i := range s.sz.stallDrains {
		row, _, err := s.workerRun(ctx, workerPlan{})
		if err != nil {
			return fmt.Errorf("stall drain %d: %w", i+1, err)
		}
		s.res.Stalls.Pauses = append(s.res.Stalls.Pauses, row.MaxPause)
	}
	s.logf("   %d drains: longest pause between two messages handled %s", len(s.res.Stalls.Pauses), s.res.Stalls.Max().Round(time.Millisecond))
	return nil
}

// storageBuckets says what each bucket holds, for the report.
var storageBuckets = map[string]string{
	"invoices": "each invoice's state, with its applied message ids (the dedupe record) and where its last EPAY_STATE record is",
	"history":  "every message applied, its body verbatim (two for a paid invoice)",
	"records":  "where each invoice's last EPAY_STATE record is, in a file from before schema 4",
	"open":     "invoices the status API may still change",
	"pending":  "callbacks of invoices not created yet",
	"outbox":   "events not yet published",
	"meta":     "counters, schema, restore marks",
}

func (r *Results) renderStorage(p printer) {
	st := r.Storage
	if st.Invoices == 0 {
		return
	}
	u := st.Filled
	p("### Storage\n")
	p("%s paid invoices (each an invoice.created and a verified success with its signed callback body) filled through", count(st.Invoices))
	p("the worker's apply path: `bolt.Store.Prepare` and `Commit` from %d goroutines, the store's group commit cutting", workerGoroutines)
	p("the transactions, a relay deleting the published outbox entries (bench/suite/prefill.go). Page counts from bbolt's")
	p("bucket statistics; a page is %d bytes. So many appliers make large transactions (over a hundred messages a commit); a", u.PageSize)
	p("worker's are smaller (about 55 in a drain, a few under light traffic), and bbolt fills pages differently with them:")
	p("the table after this one fills stores in those shapes (bench/NOTES.md, sessions 12 and 13).\n")
	p("| bucket | keys | pages | bytes per paid invoice | of which in use | holds |\n|---|---|---|---|---|---|")
	for _, b := range u.Buckets {
		if b.Keys == 0 && b.Pages == 0 {
			continue
		}
		p("| %s | %d | %d | %.0f | %.0f | %s |", b.Name, b.Keys, b.Pages, st.PerInvoice(b.Bytes), st.PerInvoice(b.InUse), storageBuckets[b.Name])
	}
	p("| free pages | | %d | %.0f | | reused by new writes; `worker compact` gives them back |", u.FreeBytes/int64(u.PageSize), st.PerInvoice(u.FreeBytes))
	p("| grown ahead | | | %.0f | | bbolt grows the file ahead of its pages, up to 16 MiB at a time |", st.PerInvoice(u.Ahead()))
	p("| **the file** | | | **%.0f** | | %.1f MiB |", st.PerInvoice(u.FileBytes), float64(u.FileBytes)/mib)
	p("| the file after `worker compact` | | | %.0f | | %.1f MiB, compacted in %s |\n", st.PerInvoice(st.CompactedBytes),
		float64(st.CompactedBytes)/mib, st.CompactFor.Round(100*time.Millisecond))
	if len(r.StorageShapes) == 0 {
		return
	}
	p("In a worker's transactions: stores of paid invoices filled through the same path with fsync on, by fewer appliers.\n")
	p("| appliers | invoices | messages a commit | the file, B a paid invoice | in use | history / invoices pages full |\n|---|---|---|---|---|---|")
	for _, sh := range r.StorageShapes {
		per := func(b int64) float64 { return float64(b) / float64(sh.Invoices) }
		var fills []string
		for _, name := range []string{"history", "invoices"} {
			b := sh.Usage.Bucket(name)
			fills = append(fills, fmt.Sprintf("%.0f%%", 100*float64(b.InUse)/float64(max(b.Bytes, 1))))
		}
		p("| %d | %s | %.0f | %.0f | %.0f | %s |", sh.Appliers, count(sh.Invoices), float64(2*sh.Invoices)/float64(max(sh.Commits, 1)),
			per(sh.Usage.FileBytes), per(sh.InUse()), strings.Join(fills, " / "))
	}
	p("")
}

// worstShape is the shape whose file takes the most a paid invoice.
func (r *Results) worstShape() (ShapeResult, float64) {
	var worst ShapeResult
	most := 0.0
	for _, sh := range r.StorageShapes {
		if per := float64(sh.Usage.FileBytes) / float64(sh.Invoices); per > most {
			worst, most = sh, per
		}
	}
	return worst, most
}

func (r *Results) renderStorageTargets(p printer) {
	st := r.Storage
	per := st.PerInvoice(st.Filled.FileBytes)
	p("| storage <= 2 KiB per paid invoice with its history, %s invoices filled through the apply path in large transactions (the target is for 1M) | %.0f B in the file, of which %.0f B the space bbolt grows the file ahead (%.0f B after `worker compact`) | | | %s |",
		count(st.Invoices), per, st.PerInvoice(st.Filled.Ahead()), st.PerInvoice(st.CompactedBytes), met(st.Invoices > 0 && per <= targetBytesPerInvoice))
	if worst, most := r.worstShape(); most > 0 {
		p("| the same in a worker's transactions (%s invoices, fsync on, %s appliers; the worst of them) | %.0f B in the file with %d appliers | | | %s |",
			count(worst.Invoices), shapeList(r.StorageShapes), most, worst.Appliers, met(most <= targetBytesPerInvoice))
	}
	pause := r.Stalls.Max()
	p("| longest pause between two messages handled < 1 s, over %d drains | %s | | | %s |", len(r.Stalls.Pauses), ms(pause),
		met(len(r.Stalls.Pauses) > 0 && pause < targetMaxPause))
}

func shapeList(shapes []ShapeResult) string {
	parts := make([]string, len(shapes))
	for i, sh := range shapes {
		parts[i] = strconv.Itoa(sh.Appliers)
	}
	return strings.Join(parts, " and ")
}

func (r *Results) renderStalls(p printer) {
	if len(r.Stalls.Pauses) == 0 {
		return
	}
	p("Stalls: the longest time without a message handled (the worker's metrics polled every 20 ms) in each of %d drains", len(r.Stalls.Pauses))
	p("(the drain and growth drains above, then drains of a pre-loaded inbox into an empty store): ")
	parts := make([]string, len(r.Stalls.Pauses))
	for i, d := range r.Stalls.Pauses {
		parts[i] = ms(d)
	}
	p("%s; longest **%s**.\n", strings.Join(parts, ", "), ms(r.Stalls.Max()))
}
