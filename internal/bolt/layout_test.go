package bolt

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// An invoice's later history entries are appended at the history bucket's tail, not put
// between the entries of the invoices after it: a worker that commits a few messages at
// a time (every invoice's payment comes after other invoices were created) keeps the
// bucket's pages full. Under the keys of schema 2 (<invoiceId> 0x00 <seq>), each payment
// split a full page: this test found them 50% full then (85% now; entries of about
// 600 bytes do not pack a 4 KiB page closer).
func TestHistoryPagesStayFullWhenInvoicesArePaidLater(t *testing.T) {
	s := openTest(t, Options{NoSync: true})
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
