package bolt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

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

// Callbacks of an invoice not created yet, committed one after the other, are each
// kept once; the invoice.created that comes last applies them all and clears them.
func TestCommitKeepsEachPendingCallbackOnce(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111119"
	for i, m := range []invoice.Message{callbackMsg(id, "tx-1", false), callbackMsg(id, "tx-2", true)} {
		if _, err := s.Commit(mustPrepare(t, s, m), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		inv, _, err := s.Get(id)
		if err != nil || inv.State != invoice.StateUnmatched || len(inv.Pending) != i+1 {
			t.Fatalf("after %d callbacks: %s with %d pending (%v), want unmatched with %d", i+1, inv.State, len(inv.Pending), err, i+1)
		}
	}
	if _, err := s.Commit(mustPrepare(t, s, createdMsg(id)), 3); err != nil {
		t.Fatal(err)
	}
	inv, hist, err := s.Get(id)
	if err != nil || inv.State != invoice.StatePaid || len(inv.Pending) != 0 || len(hist) != 3 {
		t.Fatalf("after invoice.created: %s, %d pending, %d history entries (%v); want paid, none, 3", inv.State, len(inv.Pending), len(hist), err)
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
	ev := invoice.Event{ID: id + "-2", Type: invoice.EventPaid, InvoiceID: id, Invoice: paid}
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

// eventIDsOf is the ids of evs, in order.
func eventIDsOf(evs []invoice.Event) []string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// mustCommit prepares and commits m as record seq and returns the change.
func mustCommit(t *testing.T, s *Store, m invoice.Message, seq uint64) Change {
	t.Helper()
	ch := mustPrepare(t, s, m)
	if _, err := s.Commit(ch, seq); err != nil {
		t.Fatal(err)
	}
	return ch
}

// A change's record carries the invoice's events this store has not seen published,
// oldest first, then its own: only the last record of an invoice is sure to be read by
// the next owner. What the relay published is left out; a requeue is listed too, and
// so are this store's own unpublished events across an adopted record.
func TestARecordCarriesTheInvoicesUnpublishedEvents(t *testing.T) {
	s := openTest(t, Options{})
	const id, other = "191111111", "192222222"
	mustCommit(t, s, createdMsg(id), 1)
	mustCommit(t, s, createdMsg(other), 2)
	failed := mustCommit(t, s, callbackMsg(id, "tx-1", false), 3) // id-2, unpublished
	mustCommit(t, s, callbackMsg(other, "tx-1", false), 4)        // another invoice's, between
	if got := eventIDsOf(failed.Record().Events); !slices.Equal(got, []string{id + "-2"}) {
		t.Fatalf("failed change's record events %v, want its own", got)
	}
	paid := mustPrepare(t, s, callbackMsg(id, "tx-2", true))
	recordIsMarshal(t, paid)
	if got := eventIDsOf(paid.Record().Events); !slices.Equal(got, []string{id + "-2", id + "-3"}) {
		t.Fatalf("paid change's record events %v, want the unpublished failed event, then its own", got)
	}
	if got := eventIDsOf(paid.Result.Events); !slices.Equal(got, []string{id + "-3"}) {
		t.Fatalf("paid change's own events %v: the earlier ones must not be queued again", got)
	}
	if _, err := s.Commit(paid, 5); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.OutboxBacklog != 3 {
		t.Fatalf("outbox backlog %d, want 3 (each event once)", st.OutboxBacklog)
	}

	// the relay publishes the two oldest entries (id-2 and the other invoice's)
	out, err := s.Outbox(2)
	if err != nil || len(out) != 2 || out[0].Event.ID != id+"-2" {
		t.Fatalf("outbox %+v (%v)", out, err)
	}
	if err := s.DeleteOutbox(out[0].Seq, out[1].Seq); err != nil {
		t.Fatal(err)
	}
	next := mustPrepare(t, s, callbackMsg(id, "tx-3", true)) // a double payment: review
	if got := eventIDsOf(next.Record().Events); !slices.Equal(got, []string{id + "-3", id + "-4"}) {
		t.Fatalf("next record's events %v, want the paid event still queued and its own, not the published failed one", got)
	}
	if _, err := s.Commit(next, 6); err != nil {
		t.Fatal(err)
	}
	if ref, _ := s.Ref(id); len(ref.Unpublished) != 2 {
		t.Fatalf("ref %+v, want two spans left (the published one dropped)", ref)
	}

	// adopted from another worker: this store's unpublished events stay listed, and so
	// do the adopted record's events once requeued
	inv, _, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	mine := invoice.Event{ID: id + "-4", Type: invoice.EventReview, InvoiceID: id, Invoice: inv} // unpublished when they made theirs
	inv.Version++
	theirs := invoice.Event{ID: id + "-5", Type: invoice.EventReview, InvoiceID: id, Invoice: inv}
	if n, err := s.Adopt([]Adopted{{Seq: 7, Record: Record{Invoice: inv, MessageID: "m-theirs", Events: []invoice.Event{mine, theirs}}}}, time.Now()); err != nil || n != 1 {
		t.Fatalf("adopt: %d %v", n, err)
	}
	if _, hist, err := s.Get(id); err != nil || !slices.Equal(hist[len(hist)-1].Events, []string{id + "-5"}) {
		t.Fatalf("restored history entry %+v (%v), want only the adopted change's own event: %s-4 is in its own entry", hist[len(hist)-1], err, id)
	}
	if _, err := s.Requeue(id, []invoice.Event{theirs}); err != nil {
		t.Fatal(err)
	}
	last := mustPrepare(t, s, callbackMsg(id, "tx-4", true))
	want := []string{id + "-3", id + "-4", id + "-5", id + "-6"}
	recordIsMarshal(t, last)
	if got := eventIDsOf(last.Record().Events); !slices.Equal(got, want) {
		t.Fatalf("record after an adopted one: events %v, want %v", got, want)
	}
}

// recordIsMarshal fails the test unless ch's record bytes (made from the events' bytes
// Prepare encoded and the outbox held) are json.Marshal of its Record, byte for byte.
func recordIsMarshal(t *testing.T, ch Change) {
	t.Helper()
	got, err := ch.RecordJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(ch.Record())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("record bytes\n%s\nwant json.Marshal's\n%s", got, want)
	}
}

// Each event is encoded once, by Prepare outside the writer: the record carries those
// bytes and the outbox keeps them, and both are what encoding/json makes of the record
// and the event (a body with HTML characters, spaces and a line break included, which
// encoding/json compacts and escapes), with the invoice's earlier unpublished events
// taken as the outbox holds them, and with none.
func TestARecordAndTheOutboxHoldEachEventAsEncodingJSONMakesIt(t *testing.T) {
	s := openTest(t, Options{})
	const id = "193333333"
	created := mustPrepare(t, s, createdMsg(id))
	recordIsMarshal(t, created)
	if _, err := s.Commit(created, 1); err != nil {
		t.Fatal(err)
	}
	failed := callbackMsg(id, "tx-1", false)
	failed.Payment.Raw = []byte("{ \"invoiceId\": \"" + id + "\",\n \"reason\": \"<b>Declined</b> & \u00e9\" }")
	fch := mustPrepare(t, s, failed)
	recordIsMarshal(t, fch)
	if _, err := s.Commit(fch, 2); err != nil {
		t.Fatal(err)
	}
	ch := mustPrepare(t, s, callbackMsg(id, "tx-2", true))
	if len(ch.Record().Events) != 2 {
		t.Fatalf("record events %v, want failed's (unpublished) and paid's", eventIDsOf(ch.Record().Events))
	}
	recordIsMarshal(t, ch)
	if _, err := s.Commit(ch, 3); err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			entries = append(entries, bytes.Clone(v))
			return nil
		})
	})
	all := append(fch.Result.Events, ch.Result.Events...)
	if len(entries) != len(all) || len(all) != 2 {
		t.Fatalf("%d outbox entries, want %d (2)", len(entries), len(all))
	}
	for i, e := range all {
		if want, _ := json.Marshal(e); !bytes.Equal(entries[i], want) {
			t.Fatalf("outbox entry %d\n%s\nwant json.Marshal's\n%s", i, entries[i], want)
		}
	}
	dup := mustPrepare(t, s, failed) // a duplicate: nothing to record
	if dup.Result.Outcome != Duplicate || dup.encoded != nil {
		t.Fatalf("duplicate prepared as %v with %d encoded events", dup.Result.Outcome, len(dup.encoded))
	}
}

// A store from before the changelog: Unrecorded yields each invoice that has no record
// once, in id order, across its batches of a thousand; Recorded notes the records
// written for them and keeps a later record the store already had.
func TestUnrecordedYieldsEachInvoiceWithoutARecordOnceAndRecordedNotesThem(t *testing.T) {
	s := openTest(t, Options{NoSync: true})
	const n = 2100 // three batches, the second resumed after the first's last key
	msgs := make([]invoice.Message, 0, n)
	for i := range n {
		msgs = append(msgs, createdMsg(fmt.Sprintf("3%08d", i)))
	}
	if _, _, err := s.ApplyAll(msgs, t0); err != nil {
		t.Fatal(err)
	}
	// two invoices with a record of their own: the changelog has them
	recorded := []string{"300000000", "300001000"}
	for i, id := range recorded {
		if _, err := s.Commit(mustPrepare(t, s, callbackMsg(id, "tx", false)), uint64(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.Unrecorded(func(inv invoice.Invoice) error {
		if inv.State != invoice.StateCreated || inv.Amount != 10000 {
			return fmt.Errorf("invoice %s read as %s %d", inv.InvoiceID, inv.State, inv.Amount)
		}
		got = append(got, inv.InvoiceID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n-len(recorded) || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("Unrecorded yielded %d invoices (sorted %v), want each of the %d without a record once, in order",
			len(got), slices.IsSorted(got), n-len(recorded))
	}
	for _, id := range recorded {
		if slices.Contains(got, id) {
			t.Fatalf("Unrecorded yielded %s, which has a record", id)
		}
	}
	if got[0] != "300000001" || got[len(got)-1] != fmt.Sprintf("3%08d", n-1) {
		t.Fatalf("Unrecorded ran from %s to %s", got[0], got[len(got)-1])
	}

	stop := errors.New("stop")
	calls := 0
	if err := s.Unrecorded(func(invoice.Invoice) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("fn's error: Unrecorded returned %v after %d calls, want it after the first", err, calls)
	}

	// the first record 100 stays (a lower or equal sequence is older); the others are noted
	ref0, _ := s.Ref(recorded[0])
	if err := s.Recorded(map[string]uint64{recorded[0]: 100, recorded[1]: 50, "300000005": 7, "300000006": 8}); err != nil {
		t.Fatal(err)
	}
	if ref, _ := s.Ref(recorded[0]); !reflect.DeepEqual(ref, ref0) {
		t.Fatalf("Recorded of the same sequence changed the ref %+v to %+v", ref0, ref)
	}
	if ref, _ := s.Ref(recorded[1]); ref.Seq != 101 || ref.MessageID == "" {
		t.Fatalf("Recorded of an older sequence changed the ref to %+v", ref)
	}
	for id, seq := range map[string]uint64{"300000005": 7, "300000006": 8} {
		if ref, _ := s.Ref(id); ref.Seq != seq {
			t.Fatalf("ref of %s %+v, want record %d", id, ref, seq)
		}
	}
	left := 0
	if err := s.Unrecorded(func(inv invoice.Invoice) error {
		if inv.InvoiceID == "300000005" || inv.InvoiceID == "300000006" {
			t.Errorf("Unrecorded yielded %s after Recorded", inv.InvoiceID)
		}
		left++
		return nil
	}); err != nil || left != n-4 {
		t.Fatalf("after Recorded: %d left (%v), want %d", left, err, n-4)
	}
}

// Once every invoice has its record (SetAllRecorded), Unrecorded reads nothing: a
// restart on a large file does not read every invoice again. A write without a record
// (Apply, ApplyAll, a Commit without a sequence) takes the note back.
func TestAllRecordedSkipsTheScanUntilAWriteWithoutARecord(t *testing.T) {
	count := func(s *Store) int {
		t.Helper()
		n := 0
		if err := s.Unrecorded(func(invoice.Invoice) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		name  string
		write func(s *Store) error
	}{
		{"Apply", func(s *Store) error { _, err := s.Apply(createdMsg("400000002"), t0); return err }},
		{"ApplyAll", func(s *Store) error {
			_, _, err := s.ApplyAll([]invoice.Message{createdMsg("400000002")}, t0)
			return err
		}},
		{"Commit without a sequence", func(s *Store) error {
			_, err := s.Commit(mustPrepare(t, s, createdMsg("400000002")), 0)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, Options{NoSync: true})
			if _, err := s.Commit(mustPrepare(t, s, createdMsg("400000001")), 7); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.ApplyAll([]invoice.Message{createdMsg("400000000")}, t0); err != nil {
				t.Fatal(err)
			}
			if n := count(s); n != 1 {
				t.Fatalf("Unrecorded yielded %d, want the one invoice without a record", n)
			}
			// the note, as if a pass had recorded 400000000 (it did not: so a scan would show it)
			if err := s.SetAllRecorded(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Commit(mustPrepare(t, s, callbackMsg("400000001", "tx", false)), 9); err != nil {
				t.Fatal(err) // a write with its record keeps the note
			}
			if n := count(s); n != 0 {
				t.Fatalf("with the note: Unrecorded yielded %d, want none read", n)
			}
			if err := c.write(s); err != nil {
				t.Fatal(err)
			}
			if n := count(s); n != 2 {
				t.Fatalf("after %s: Unrecorded yielded %d, want both invoices without a record", c.name, n)
			}
		})
	}
}

// Commit refuses a change whose invoice was written since Prepare, whatever the write:
// an invoice created since a Prepare that found none, and the same version rewritten
// (a schema 1 invoice upgraded between Prepare and Commit: other bytes, the same
// content; only compaction upgrades, with the file locked, so a running worker never
// meets it, and a retry would make the change again).
func TestCommitRefusesAChangeWhoseInvoiceWasWrittenSincePrepare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	const id = "191111111"
	writeSchema1(t, path, id, []byte(`{"id":"tx-1"}`))
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refund := invoice.Message{ID: "op:" + id + ":refund-1", InvoiceID: id, Kind: invoice.MsgOperation, ReceivedAt: t0,
		Operation: &invoice.OperationStep{ID: "refund-1", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 2000, At: t0}}
	ch := mustPrepare(t, s, refund)
	if ch.Result.Outcome != Applied {
		t.Fatalf("refund of the paid invoice: %s, want applied", ch.Result.Outcome)
	}
	if n, err := s.UpgradeRecords(); err != nil || n == 0 {
		t.Fatalf("upgrade: %d records, %v", n, err)
	}
	if _, err := s.Commit(ch, 43); !errors.Is(err, ErrStale) {
		t.Fatalf("commit after the invoice was rewritten at the same version: %v, want ErrStale", err)
	}
	again := mustPrepare(t, s, refund)
	if _, err := s.Commit(again, 43); err != nil {
		t.Fatalf("the change made again: %v", err)
	}
	inv, hist, err := s.Get(id)
	if err != nil || inv.Version != again.Result.Invoice.Version || !slices.ContainsFunc(hist, func(h HistoryEntry) bool { return h.MessageID == refund.ID }) {
		t.Fatalf("after the commit: version %d, history %+v (%v); want version %d and the refund's entry", inv.Version, hist, err, again.Result.Invoice.Version)
	}

	const fresh = "191111112"
	first, second := mustPrepare(t, s, createdMsg(fresh)), mustPrepare(t, s, createdMsg(fresh))
	if _, err := s.Commit(first, 44); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(second, 45); !errors.Is(err, ErrStale) {
		t.Fatalf("commit of a change prepared before its invoice existed: %v, want ErrStale", err)
	}
}

// A requeue of an invoice's events between a change's Prepare and its Commit makes the
// change stale: the invoice's version did not move, but its record reference lists the
// requeued events as unpublished, and the change (whose record, written before the
// commit, does not carry them) would overwrite that list with the one Prepare read. A
// worker that died before publishing them would leave them nowhere a new owner reads.
func TestACommitAfterARequeueOfItsInvoiceIsStale(t *testing.T) {
	s := openTest(t, Options{})
	const id = "194444444"
	if _, err := s.Commit(mustPrepare(t, s, createdMsg(id)), 1); err != nil {
		t.Fatal(err)
	}
	inv, _, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	ch := mustPrepare(t, s, callbackMsg(id, "tx-1", true))
	requeued := invoice.Event{ID: id + "-9", Type: invoice.EventPaid, InvoiceID: id, Invoice: inv}
	last, err := s.Requeue(id, []invoice.Event{requeued})
	if err != nil || last == 0 {
		t.Fatalf("requeue: %d %v", last, err)
	}
	if _, err := s.Commit(ch, 2); !errors.Is(err, ErrStale) {
		t.Fatalf("commit after a requeue of its invoice: %v, want ErrStale", err)
	}
	if ref, err := s.Ref(id); err != nil || ref.Seq != 1 || !slices.Equal(ref.Unpublished, []OutboxSpan{{First: last, Last: last}}) {
		t.Fatalf("ref %+v (%v), want record 1 with the requeued entry %d still listed", ref, err, last)
	}
	again := mustPrepare(t, s, callbackMsg(id, "tx-1", true))
	if got := eventIDsOf(again.Record().Events); !slices.Contains(got, requeued.ID) {
		t.Fatalf("the change made again carries %v, want the requeued %s too", got, requeued.ID)
	}
	if _, err := s.Commit(again, 2); err != nil {
		t.Fatal(err)
	}
	if ref, _ := s.Ref(id); len(ref.Unpublished) != 2 || ref.Unpublished[0] != (OutboxSpan{First: last, Last: last}) {
		t.Fatalf("ref %+v, want the requeued span, then the change's own", ref)
	}
}

// A change's Committed hook is told its last outbox entry once, when its transaction
// is durable and before Commit answers: not for a transaction rolled back (a call
// beside it failed, and it ran again in the next), nor for a stale change.
func TestCommittedIsToldOnceWhenTheTransactionIsDurable(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111112"
	if _, err := s.Commit(mustPrepare(t, s, createdMsg(id)), 0); err != nil {
		t.Fatal(err)
	}
	pay := callbackMsg(id, "tx-1", true)
	ch, stale := mustPrepare(t, s, pay), mustPrepare(t, s, pay)
	var told []uint64
	ch.Committed = func(last uint64) {
		in, err := s.InOutbox(last)
		if err != nil || !in {
			t.Errorf("told entry %d before it is in the file: %v, %v", last, in, err)
		}
		told = append(told, last)
	}

	// the committer held by a call, the change and a failing call queued behind it: they
	// share the next transaction, rolled back by the failing call; the change runs again
	release, held := make(chan struct{}), make(chan struct{})
	go s.group.do(func(*bbolt.Tx) error { close(held); <-release; return nil })
	<-held
	queued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(s.group.reqs) < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls queued, want %d", len(s.group.reqs), n)
			}
		}
	}
	type result struct {
		last uint64
		err  error
	}
	done := make(chan result, 1)
	go func() { last, err := s.Commit(ch, 0); done <- result{last, err} }()
	queued(1)
	failed := make(chan error, 1)
	go func() { failed <- s.group.do(func(*bbolt.Tx) error { return errors.New("boom") }) }()
	queued(2)
	close(release)
	r := <-done
	if err := <-failed; err == nil {
		t.Fatal("the failing call succeeded")
	}
	if r.err != nil || r.last == 0 {
		t.Fatalf("commit: %d, %v", r.last, r.err)
	}
	if !slices.Equal(told, []uint64{r.last}) {
		t.Fatalf("Committed told %v, want [%d] once", told, r.last)
	}

	stale.Committed = func(last uint64) { t.Errorf("a stale change's hook was told %d", last) }
	if _, err := s.Commit(stale, 0); !errors.Is(err, ErrStale) {
		t.Fatalf("stale commit: %v", err)
	}
}
