package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// The tests of this file were written for the mutants session 25's mutation run left
// not covered: lines only the worker's tests ran (docs/TESTING.md, "Mutation testing").

// OutboxLast is the newest entry the outbox holds, which the relay takes at its start
// as the line above which it may publish early: 0 for an empty outbox (a new file, or
// every entry published and deleted), else the last queued event's entry.
func TestOutboxLastIsTheNewestQueuedEntryAndZeroOnceEverythingIsPublished(t *testing.T) {
	s := openTest(t, Options{})
	last := func() uint64 {
		t.Helper()
		l, err := s.OutboxLast()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := last(); l != 0 {
		t.Fatalf("OutboxLast of a new file = %d, want 0", l)
	}
	for _, id := range []string{"191111111", "191111112"} {
		mustApply(t, s, createdMsg(id))
		mustApply(t, s, callbackMsg(id, "tx-"+id, true))
	}
	all, err := s.Outbox(10)
	if err != nil || len(all) != 2 {
		t.Fatalf("outbox %+v (%v), want the two paid events", all, err)
	}
	if l := last(); l != all[1].Seq || l == all[0].Seq {
		t.Fatalf("OutboxLast = %d, want the newest entry %d (the outbox holds %d and %d)", l, all[1].Seq, all[0].Seq, all[1].Seq)
	}
	if err := s.DeleteOutboxThrough(all[1].Seq); err != nil {
		t.Fatal(err)
	}
	if l := last(); l != 0 {
		t.Fatalf("OutboxLast once every entry is published = %d, want 0", l)
	}
}

// A change whose invoice still has events of an earlier change in the outbox says so,
// and the worker then leaves its own events to the relay (after those, in order)
// instead of publishing them early; once the earlier events are published, the next
// change says nothing waits before it.
func TestAChangeSaysEarlierEventsWaitOnlyWhileTheyAreInTheOutbox(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111111"
	if ch := mustCommit(t, s, createdMsg(id), 1); ch.EarlierUnpublished() {
		t.Fatal("the invoice.created of a new invoice: earlier events said to wait, none can")
	}
	failed := mustPrepare(t, s, callbackMsg(id, "tx-1", false))
	if failed.EarlierUnpublished() || len(failed.Result.Events) != 1 {
		t.Fatalf("a failure after invoice.created (no event queued): earlier unpublished %t, own events %d; want false, 1",
			failed.EarlierUnpublished(), len(failed.Result.Events))
	}
	if _, err := s.Commit(failed, 2); err != nil {
		t.Fatal(err)
	}
	paid := mustPrepare(t, s, callbackMsg(id, "tx-2", true))
	if !paid.EarlierUnpublished() || !slices.Equal(eventIDsOf(paid.Record().Events), []string{id + "-2", id + "-3"}) {
		t.Fatalf("a success while the failed event is queued: earlier unpublished %t, record events %v; want true, [%s-2 %s-3]",
			paid.EarlierUnpublished(), eventIDsOf(paid.Record().Events), id, id)
	}
	out, err := s.Outbox(10)
	if err != nil || len(out) != 1 {
		t.Fatalf("outbox %+v (%v), want the failed event", out, err)
	}
	if err := s.DeleteOutbox(out[0].Seq); err != nil { // the relay published it
		t.Fatal(err)
	}
	if again := mustPrepare(t, s, callbackMsg(id, "tx-2", true)); again.EarlierUnpublished() {
		t.Fatal("the success prepared again after the failed event was published: earlier events said to wait")
	}
}

// Supersede, when the changelog's last record of an invoice is not the workers' (or there
// is none), keeps the store's invoice as the state of record and makes its next change
// go on top of the record named: the change expects that sequence, and still carries
// the invoice's unpublished events. An invoice the store lacks is ErrNotFound, and
// nothing is written for it.
func TestSupersedeKeepsTheInvoiceAndItsNextChangeGoesOnTopOfTheRecordNamed(t *testing.T) {
	s := openTest(t, Options{})
	const id, unknown = "191111111", "191111199"
	mustCommit(t, s, createdMsg(id), 5)
	failedMsg := callbackMsg(id, "tx-1", false)
	mustCommit(t, s, failedMsg, 6) // its failed event stays queued
	before, _, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Supersede(id, 40); err != nil {
		t.Fatal(err)
	}
	ref, err := s.Ref(id)
	if err != nil || ref.Seq != 40 || ref.MessageID != failedMsg.ID || len(ref.Unpublished) != 1 {
		t.Fatalf("ref after Supersede(40): %+v (%v), want record 40, the failure's message, its event unpublished", ref, err)
	}
	after, hist, err := s.Get(id)
	if err != nil || after.State != invoice.StateFailed || after.Version != before.Version || len(hist) != 2 {
		t.Fatalf("invoice after Supersede: %s v%d, %d history entries (%v); want failed v%d, 2: the store's copy kept as it was",
			after.State, after.Version, len(hist), err, before.Version)
	}
	paid := mustPrepare(t, s, callbackMsg(id, "tx-2", true))
	if paid.Prev.Seq != 40 || !slices.Equal(eventIDsOf(paid.Record().Events), []string{id + "-2", id + "-3"}) {
		t.Fatalf("next change: expects record %d, record events %v; want 40, the failed event then its own", paid.Prev.Seq, eventIDsOf(paid.Record().Events))
	}
	if _, err := s.Commit(paid, 41); err != nil {
		t.Fatal(err)
	}
	if err := s.Supersede(id, 0); err != nil { // no record at all (EPAY_STATE made anew)
		t.Fatal(err)
	}
	if ch := mustPrepare(t, s, callbackMsg(id, "tx-3", true)); ch.Prev.Seq != 0 {
		t.Fatalf("after Supersede(0) the next change expects record %d, want 0 (none)", ch.Prev.Seq)
	}

	if err := s.Supersede(unknown, 7); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Supersede of an invoice the store lacks: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(unknown); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Supersede wrote an invoice the store lacked: %v", err)
	}
}

// writeSchema1Created writes n invoices in state created as schema 1 did (encoding/json
// of invoice.Invoice, one history entry each with its body in base64), ids from
// 100000000000 up, in one transaction.
func writeSchema1Created(t *testing.T, path string, n int) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type v1Entry struct {
		HistoryEntry
		Raw []byte `json:"raw"`
	}
	var ids []string
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		for i := range n {
			id := fmt.Sprintf("%d", 100000000000+i)
			ids = append(ids, id)
			inv := invoice.Invoice{InvoiceID: id, State: invoice.StateCreated, Kind: "payment", Amount: 10000, Currency: "KZT",
				Terminal: terminal, CreatedAt: t0, UpdatedAt: t0, Version: 1, Applied: []string{id}}
			v, err := json.Marshal(inv)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketInvoices).Put([]byte(id), v); err != nil {
				return err
			}
			e := v1Entry{HistoryEntry: HistoryEntry{MessageID: id, Kind: invoice.MsgCreated, ReceivedAt: t0, AppliedAt: t0, StateAfter: invoice.StateCreated},
				Raw: []byte(`{"invoiceId":"` + id + `"}`)}
			if v, err = json.Marshal(e); err != nil {
				return err
			}
			if err := tx.Bucket(bucketHistory).Put(binary.BigEndian.AppendUint64(legacyHistoryPrefix(id), uint64(i+1)), v); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketHistory).SetSequence(uint64(n)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(stateKey(invoice.StateCreated), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// UpgradeRecords works a thousand keys a transaction: a file with more invoices (and
// history entries) than that has every one rewritten in schema 2, each once, with the
// same content, across the chunks' boundary.
func TestUpgradeRecordsRewritesEveryRecordOfAFileLargerThanAChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	const n = 1500
	ids := writeSchema1Created(t, path, n)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.UpgradeRecords(); err != nil || got != 2*n {
		t.Fatalf("UpgradeRecords rewrote %d records (%v), want %d (each invoice and its history entry once)", got, err, 2*n)
	}
	if got, err := s.UpgradeRecords(); err != nil || got != 0 {
		t.Fatalf("a second UpgradeRecords rewrote %d (%v), want 0", got, err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketInvoices, bucketHistory} {
			if err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				if bytes.HasPrefix(v, legacyInvoice) || bytes.Contains(v, []byte(`"receivedAt"`)) {
					return fmt.Errorf("%s %q still in schema 1: %s", name, k, v)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 999, 1000, 1001, n - 1} { // both sides of the chunks' boundary
		inv, hist, err := s.Get(ids[i])
		if err != nil || inv.State != invoice.StateCreated || inv.Amount != 10000 || len(hist) != 1 ||
			string(hist[0].Body) != `{"invoiceId":"`+ids[i]+`"}` {
			t.Fatalf("invoice %s after the upgrade: %s %s, history %+v (%v)", ids[i], inv.State, inv.Amount, hist, err)
		}
	}
}
