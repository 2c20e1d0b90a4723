package bolt

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// An invoice's later history entries are appended at the history bucket's tail, not put
// between the entries of the invoices after it: a worker that commits a few messages at
// a time (every invoice's payment comes after other invoices were created) keeps the
// bucket's pages full. Under the keys of schema 2 (<invoiceId> 0x00 <seq>), each payment
// split a full page: this test found them 50% full then (85% now; entries of about
// 600 bytes do not pack a 4 KiB page closer).
func TestHistoryPagesStayFullWhenInvoicesArePaidLater(t *testing.T) {
	s := openTest(t, Options{NoSync: true, PageSize: 4096}) // the pages the figures below were measured with
	const n = 2000
	id := func(i int) string { return fmt.Sprintf("%012d", 100000000000+i) }
	for i := range n {
		mustApply(t, s, createdMsg(id(i)))
		if i >= 100 { // each invoice is paid when a hundred more have been created
			mustApply(t, s, callbackMsg(id(i-100), "tx", true))
		}
	}
	for i := n - 100; i < n; i++ {
		mustApply(t, s, callbackMsg(id(i), "tx", true))
	}
	u, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	h := u.Bucket("history")
	if h.Keys != 2*n {
		t.Fatalf("history holds %d entries, want %d", h.Keys, 2*n)
	}
	if fill := float64(h.InUse) / float64(h.Bytes); fill < 0.8 {
		t.Fatalf("history pages %.0f%% full (%d of %d bytes), want at least 80%%", 100*fill, h.InUse, h.Bytes)
	}
	inv, hist, err := s.Get(id(7))
	if err != nil || inv.State != "paid" || len(hist) != 2 || hist[0].StateAfter != "created" || hist[1].StateAfter != "paid" {
		t.Fatalf("invoice %s: %s, history %+v (%v)", id(7), inv.State, hist, err)
	}
}

// An invoice written before schema 3 keeps its history entries under its id; an entry
// applied after the upgrade is keyed by its sequence and comes after them, in Get, in
// the retention and after a compaction.
func TestAnOlderInvoicesHistoryGoesOnInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	const id = "191111111"
	writeSchema1(t, path, id, []byte(`{"id":"tx-1"}`)) // history keys as in schemas 1 and 2
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	late := callbackMsg(id, "tx-late", false)
	if r := mustApply(t, s, late); r.Outcome != Applied {
		t.Fatalf("late callback: %s", r.Outcome)
	}
	check := func(stage string, pruned bool) {
		t.Helper()
		_, hist, err := s.Get(id)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		var got []string
		for _, h := range hist {
			got = append(got, h.MessageID)
			if pruned != (len(h.Body) == 0) {
				t.Errorf("%s: entry %s has body %q, want pruned %t", stage, h.MessageID, h.Body, pruned)
			}
		}
		if want := []string{id, "cb:" + id + ":tx-1:ok", late.ID}; !slices.Equal(got, want) {
			t.Fatalf("%s: history %v, want %v", stage, got, want)
		}
	}
	check("after the upgrade", false)
	p, err := s.Prune(t0.Add(24*time.Hour), "", 10)
	if err != nil || p.Bodies != 3 {
		t.Fatalf("prune: %+v, %v; want the 3 bodies, old keys and new", p, err)
	}
	check("pruned", true)
	s.Close()
	if _, _, err := CompactFile(path, 0); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("compacted", true)
}

// Since schema 4 an invoice keeps its record reference: a commit writes one key of the
// invoices bucket, not another of a records bucket (a key, an element header and a page
// split of its own for about 7 bytes: 60-100 bytes a paid invoice in the file).
func TestACommittedChangeKeepsItsRecordReferenceInItsInvoice(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111121"
	for i, m := range []invoice.Message{createdMsg(id), callbackMsg(id, "tx-1", true)} {
		if _, err := s.Commit(mustPrepare(t, s, m), uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := s.Ref(id)
	if err != nil || ref.Seq != 11 || ref.MessageID != callbackMsg(id, "tx-1", true).ID || ref.Outbox == 0 {
		t.Fatalf("ref %+v (%v), want the callback's change at 11 with its outbox entry", ref, err)
	}
	u, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if n := u.Bucket("records").Keys; n != 0 {
		t.Fatalf("the records bucket holds %d keys, want none", n)
	}
}

// A file from before schema 4 keeps its references in the records bucket: they are read
// (a Prepare's expected sequence comes from them), moved into the invoice when it is
// next written, and all at once by UpgradeRecords (worker compact). A schema 1
// reference (JSON) is read too.
func TestAReferenceInTheRecordsBucketIsReadAndMovedIntoItsInvoice(t *testing.T) {
	s := openTest(t, Options{})
	const a, b, c = "191111131", "191111132", "191111133"
	const orphan = "191111134" // a reference whose invoice the file lacks: dropped by the upgrade
	for _, id := range []string{a, b, c} {
		mustApply(t, s, createdMsg(id)) // no reference
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		if err := recs.Put([]byte(a), encodeRef(RecordRef{Seq: 7, MessageID: a}, []string{a})); err != nil {
			return err
		}
		if err := recs.Put([]byte(orphan), encodeRef(RecordRef{Seq: 5}, nil)); err != nil {
			return err
		}
		return recs.Put([]byte(b), []byte(`{"seq":9,"messageId":"`+b+`"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if ref, err := s.Ref(a); err != nil || ref.Seq != 7 || ref.MessageID != a {
		t.Fatalf("ref of %s: %+v (%v), want 7 from the records bucket", a, ref, err)
	}
	var unrecorded []string
	if err := s.Unrecorded(func(inv invoice.Invoice) error { unrecorded = append(unrecorded, inv.InvoiceID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(unrecorded, []string{c}) {
		t.Fatalf("unrecorded %v, want only %s", unrecorded, c)
	}
	ch := mustPrepare(t, s, callbackMsg(a, "tx-1", true))
	if ch.Prev.Seq != 7 {
		t.Fatalf("prepared on %+v, want the reference at 7", ch.Prev)
	}
	if _, err := s.Commit(ch, 8); err != nil {
		t.Fatal(err)
	}
	inBucket := func(id string) bool {
		var in bool
		s.db.View(func(tx *bbolt.Tx) error { in = tx.Bucket(bucketRecords).Get([]byte(id)) != nil; return nil })
		return in
	}
	if ref, err := s.Ref(a); err != nil || ref.Seq != 8 || inBucket(a) {
		t.Fatalf("after the commit: ref %+v (%v), still in the records bucket %t", ref, err, inBucket(a))
	}
	if n, err := s.UpgradeRecords(); err != nil || n != 2 {
		t.Fatalf("UpgradeRecords moved %d (%v), want %s's reference and the orphan", n, err, b)
	}
	if ref, err := s.Ref(b); err != nil || ref.Seq != 9 || ref.MessageID != b || inBucket(b) {
		t.Fatalf("after the upgrade: ref %+v (%v), still in the records bucket %t", ref, err, inBucket(b))
	}
	if inBucket(orphan) {
		t.Fatalf("the orphan reference is still in the records bucket")
	}
	if n, err := s.UpgradeRecords(); err != nil || n != 0 {
		t.Fatalf("a second upgrade moved %d (%v)", n, err)
	}
}

// A new file has pages of DefaultPageSize (8 KiB: a worker's small transactions fill
// them closer than the OS's 4 KiB); a file made with other pages keeps them, and worker
// compact rewrites it with the default.
func TestANewFileHasEightKiBPagesAndAnOlderOneKeepsItsOwnUntilCompacted(t *testing.T) {
	dir := t.TempDir()
	pageSize := func(path string) int {
		t.Helper()
		u, err := FileUsage(path)
		if err != nil {
			t.Fatal(err)
		}
		return u.PageSize
	}
	fresh := filepath.Join(dir, "fresh.db")
	s, err := Open(fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := pageSize(fresh); got != 8192 {
		t.Fatalf("a new file has %d-byte pages, want 8192", got)
	}

	old := filepath.Join(dir, "old.db")
	if s, err = Open(old, Options{PageSize: 4096}); err != nil {
		t.Fatal(err)
	}
	const id = "191111141"
	mustApply(t, s, createdMsg(id))
	s.Close()
	if s, err = Open(old, Options{}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, callbackMsg(id, "tx-1", true))
	want := dump(t, s, id)
	s.Close()
	if got := pageSize(old); got != 4096 {
		t.Fatalf("a file made with 4 KiB pages has %d-byte pages after a reopen", got)
	}
	if _, _, err := CompactFile(old, 0); err != nil {
		t.Fatal(err)
	}
	if got := pageSize(old); got != 8192 {
		t.Fatalf("after worker compact: %d-byte pages, want 8192", got)
	}
	if s, err = Open(old, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := dump(t, s, id); got != want {
		t.Fatalf("after the compaction:\n%s\nwant\n%s", got, want)
	}
}
