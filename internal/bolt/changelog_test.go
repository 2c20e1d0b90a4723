package bolt

import (
	"errors"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

func mustPrepare(t *testing.T, s *Store, m invoice.Message) Change {
	t.Helper()
	ch, err := s.Prepare(m, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// A prepared change writes nothing until Commit; Commit keeps the record's sequence, and
// refuses a change whose invoice moved meanwhile.
func TestPrepareWritesNothingAndCommitRefusesAStaleChange(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111111"
	ch := mustPrepare(t, s, createdMsg(id))
	if _, _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("prepared invoice is stored: %v", err)
	}
	if ch.Prev.Seq != 0 || ch.Result.Outcome != Applied {
		t.Fatalf("change %+v, want an applied change with no previous record", ch)
	}
	if _, err := s.Commit(ch, 7); err != nil {
		t.Fatal(err)
	}
	if ref, err := s.Ref(id); err != nil || ref.Seq != 7 || ref.MessageID != createdMsg(id).ID || ref.Adopted {
		t.Fatalf("ref %+v %v, want record 7 of the created message", ref, err)
	}
	pay := callbackMsg(id, "tx-1", true)
	first, second := mustPrepare(t, s, pay), mustPrepare(t, s, pay)
	last, err := s.Commit(first, 8)
	if err != nil || last == 0 {
		t.Fatalf("commit: outbox %d, %v; want its paid event queued", last, err)
	}
	if _, err := s.Commit(second, 9); !errors.Is(err, ErrStale) {
		t.Fatalf("second commit of a change on the same version: %v, want ErrStale", err)
	}
	dup := mustPrepare(t, s, pay)
	if dup.Result.Outcome != Duplicate || !dup.Latest || dup.Prev.Seq != 8 || dup.Prev.Outbox != last {
		t.Fatalf("duplicate %+v, want the latest change, record 8, outbox %d", dup, last)
	}
	if old := mustPrepare(t, s, createdMsg(id)); old.Latest {
		t.Fatal("an older duplicate is called the latest change")
	}
}

// Adopt takes a newer record (history says restored, counters follow) and leaves the
// store's copy when it is as new or newer.
func TestAdoptTakesOnlyNewerRecords(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111111"
	ch := mustPrepare(t, s, createdMsg(id))
	if _, err := s.Commit(ch, 5); err != nil {
		t.Fatal(err)
	}
	paid := ch.Result.Invoice
	paid.State, paid.Version = invoice.StatePaid, 2
	ev := invoice.Event{ID: id + "-2", Type: invoice.EventPaid, InvoiceID: id}
	older := Adopted{Seq: 4, Record: Record{Invoice: paid, MessageID: "m-old"}}
	newer := Adopted{Seq: 9, Record: Record{Invoice: paid, MessageID: "m-new", Events: []invoice.Event{ev}}}
	if n, err := s.Adopt([]Adopted{older}, time.Now()); err != nil || n != 0 {
		t.Fatalf("adopted %d older records (%v), want none", n, err)
	}
	if n, err := s.Adopt([]Adopted{newer, newer}, time.Now()); err != nil || n != 1 {
		t.Fatalf("adopted %d (%v), want 1", n, err)
	}
	inv, hist, err := s.Get(id)
	if err != nil || inv.State != invoice.StatePaid || inv.Version != 2 {
		t.Fatalf("invoice %s v%d (%v), want paid v2", inv.State, inv.Version, err)
	}
	if h := hist[len(hist)-1]; h.Kind != KindRestored || h.MessageID != "m-new" || h.StateBefore != invoice.StateCreated || len(h.Events) != 1 {
		t.Fatalf("last history entry %+v, want the restored record", h)
	}
	if ref, _ := s.Ref(id); ref.Seq != 9 || !ref.Adopted {
		t.Fatalf("ref %+v, want record 9, adopted", ref)
	}
	st, _ := s.Stats()
	if st.Invoices[invoice.StatePaid] != 1 || st.Invoices[invoice.StateCreated] != 0 || st.OutboxBacklog != 0 {
		t.Fatalf("stats %+v, want one paid, none created, nothing queued (the events were another store's)", st)
	}
	if up, _ := s.RestoredUpTo(3); up != 0 {
		t.Fatalf("restore mark %d of a shard never restored", up)
	}
	if err := s.SetRestoredUpTo(3, 42); err != nil {
		t.Fatal(err)
	}
	if up, _ := s.RestoredUpTo(3); up != 42 {
		t.Fatalf("restore mark %d, want 42", up)
	}
}
