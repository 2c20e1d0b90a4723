package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CompactFile gives back the free pages (here: of an outbox filled and emptied) and the
// compacted file holds the same invoices with the same histories.
func TestCompactFileIsSmallerAndHoldsTheSameInvoices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 300 {
		id := fmt.Sprintf("%012d", 100000000000+i)
		ids = append(ids, id)
		mustApply(t, s, createdMsg(id))
		mustApply(t, s, callbackMsg(id, "tx-"+id, true))
	}
	if err := drainAll(s); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(); err != nil || st.FreeBytes <= 0 || st.FileBytes <= st.FreeBytes {
		t.Fatalf("before compaction: %+v, %v; want free pages (the outbox's) reported", st, err)
	}
	want := map[string]string{}
	for _, id := range ids {
		want[id] = dump(t, s, id)
	}
	s.Close()

	before, after, err := CompactFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Fatalf("compacted file %d bytes, was %d", after, before)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range ids {
		if got := dump(t, s, id); got != want[id] {
			t.Fatalf("invoice %s after compaction:\n%s\nwant\n%s", id, got, want[id])
		}
	}
	st, err := s.Stats()
	if err != nil || st.Invoices["paid"] != int64(len(ids)) || st.FileBytes != after {
		t.Fatalf("counters after compaction: %+v, %v", st, err)
	}
	// the sequences came along: a new history entry does not take an old key
	mustApply(t, s, callbackMsg(ids[0], "tx-late", false))
	if _, hist, _ := s.Get(ids[0]); len(hist) != 3 {
		t.Fatalf("history after a new message: %d entries, want 3", len(hist))
	}
}

// CompactFile refuses a file a worker holds, and leaves it alone.
func TestCompactFileRefusesAFileInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustApply(t, s, createdMsg("191111111"))
	if _, _, err := CompactFile(path, 50e6); !errors.Is(err, ErrLocked) {
		t.Fatalf("compact of a file in use: %v, want ErrLocked", err)
	}
	if _, _, err := s.Get("191111111"); err != nil {
		t.Fatal(err)
	}
}

func drainAll(s *Store) error {
	for {
		es, err := s.Outbox(100)
		if err != nil || len(es) == 0 {
			return err
		}
		for _, e := range es {
			if err := s.DeleteOutbox(e.Seq); err != nil {
				return err
			}
		}
	}
}

func dump(t *testing.T, s *Store, id string) string {
	t.Helper()
	inv, hist, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := s.Ref(id)
	b, _ := json.Marshal(struct {
		Inv  any
		Hist any
		Ref  any
	}{inv, hist, ref})
	return string(b)
}

// Usage accounts for the file: its buckets, free pages and what bbolt grew ahead add up
// to its size (within the meta and freelist pages).
func TestUsageAddsUpToTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		id := fmt.Sprintf("%012d", 100000000000+i)
		mustApply(t, s, createdMsg(id))
		mustApply(t, s, callbackMsg(id, "tx-"+id, true))
	}
	drainAll(s)
	s.Close()
	u, err := FileUsage(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := u.FreeBytes + u.Ahead()
	for _, b := range u.Buckets {
		sum += b.Bytes
	}
	if d := u.FileBytes - sum; d < 0 || d > 8*int64(u.PageSize) {
		t.Fatalf("file %d bytes, buckets + free + ahead %d: %+v", u.FileBytes, sum, u)
	}
	if h := u.Bucket("history"); h.Keys != 400 || h.InUse <= 0 || h.Bytes < h.InUse {
		t.Fatalf("history usage %+v", h)
	}
	if _, err := FileUsage(path + ".missing"); err == nil {
		t.Fatal("usage of a missing file")
	}
}

// A worker that waits for the store's lock while a compaction renames the compacted copy
// over the path opens that copy, not the old file the compaction held: it would otherwise
// commit to an unlinked file (lost at its next start), and leave the path's file
// unlocked for a second worker with the same store id.
func TestAStoreOpenedWhileAFileReplacesItOpensTheNewFile(t *testing.T) {
	dir := t.TempDir()
	path, fresh := filepath.Join(dir, "worker.db"), filepath.Join(dir, "fresh.db")
	held, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	oldID := held.ID()
	replacement, err := Open(fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	newID := replacement.ID()
	replacement.Close()
	type opened struct {
		s   *Store
		err error
	}
	got := make(chan opened, 1)
	go func() {
		s, err := Open(path, Options{LockTimeout: 10 * time.Second})
		got <- opened{s, err}
	}()
	time.Sleep(300 * time.Millisecond) // the opener waits for the lock on the file at path
	if err := os.Rename(fresh, path); err != nil {
		t.Fatal(err)
	}
	held.Close() // as Compact does: the rename first, then the old file's lock released
	var o opened
	select {
	case o = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("Open did not return")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	defer o.s.Close()
	if o.s.ID() != newID || o.s.ID() == oldID {
		t.Fatalf("opened store %s; want the file now at the path (%s), not the replaced one (%s)", o.s.ID(), newID, oldID)
	}
	if _, err := Open(path, Options{LockTimeout: 200 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second Open of the path while the first holds it: %v, want ErrLocked", err)
	}
}
