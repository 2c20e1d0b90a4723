package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

const terminal = "67e34d63-102f-4bd1-898e-370781d0074d"

var t0 = time.Date(2024, 7, 29, 10, 0, 0, 0, time.UTC)

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "worker.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func createdMsg(id string) invoice.Message {
	return invoice.CreatedMessage(id, invoice.Created{InvoiceID: id, Kind: "payment", Amount: 10000, Currency: "KZT", Terminal: terminal}, t0)
}

func callbackMsg(id, tx string, success bool) invoice.Message {
	kind := invoice.MsgFailure
	if success {
		kind = invoice.MsgSuccess
	}
	return invoice.Message{ID: "cb:" + id + ":" + tx + ":" + string(kind), Kind: kind, InvoiceID: id, ReceivedAt: t0,
		Payment: &invoice.Payment{TransactionID: tx, Amount: 10000, Currency: "KZT", Terminal: terminal, Verified: true,
			Raw: []byte(`{ "invoiceId": "` + id + `",  "id":"` + tx + `" }`)}}
}

func mustApply(t testing.TB, s *Store, m invoice.Message) Result {
	t.Helper()
	r, err := s.Apply(m, t0)
	if err != nil {
		t.Fatalf("apply %s: %v", m.ID, err)
	}
	return r
}

func TestApplyKeepsInvoiceHistoryOutboxAndCounters(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111111"
	mustApply(t, s, callbackMsg(id, "tx-1", false)) // before invoice.created: unmatched
	r := mustApply(t, s, createdMsg(id))
	if r.StateBefore != invoice.StateUnmatched || r.Invoice.State != invoice.StateFailed || len(r.Events) != 1 {
		t.Fatalf("resolve unmatched: %+v", r)
	}
	r = mustApply(t, s, callbackMsg(id, "tx-2", true))
	if r.Invoice.State != invoice.StatePaid || len(r.Events) != 1 {
		t.Fatalf("retry paid: %+v", r)
	}
	inv, hist, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != invoice.StatePaid || len(hist) != 3 {
		t.Fatalf("get: %s with %d history entries", inv.State, len(hist))
	}
	if string(hist[0].Body) != `{ "invoiceId": "191111111",  "id":"tx-1" }` || hist[0].StateAfter != invoice.StateUnmatched {
		t.Errorf("first history entry %+v", hist[0])
	}
	out, err := s.Outbox(10)
	if err != nil || len(out) != 2 || out[0].Event.Type != invoice.EventFailed || out[1].Event.Type != invoice.EventPaid {
		t.Fatalf("outbox %+v, %v", out, err)
	}
	st, _ := s.Stats()
	if st.OutboxBacklog != 2 || st.Invoices[invoice.StatePaid] != 1 || st.Invoices[invoice.StateUnmatched] != 0 {
		t.Fatalf("stats %+v", st)
	}
	if in, err := s.InOutbox(out[1].Seq); err != nil || !in {
		t.Fatalf("InOutbox of a queued entry: %v, %v", in, err)
	}
	if err := s.DeleteOutbox(out[0].Seq, out[1].Seq, out[1].Seq); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.OutboxBacklog != 0 {
		t.Fatalf("backlog after delete %d", st.OutboxBacklog)
	}
	if in, err := s.InOutbox(out[1].Seq); err != nil || in {
		t.Fatalf("InOutbox of a deleted entry: %v, %v", in, err)
	}
}

// The relay reads after what it published and deletes up to it: OutboxAfter starts
// after the entry it names (gone or not), DeleteOutboxThrough removes every entry up to
// its own and none after, and the backlog counts what is left.
func TestOutboxAfterAndDeleteOutboxThrough(t *testing.T) {
	s := openTest(t, Options{})
	for _, id := range []string{"191111111", "191111112", "191111113", "191111114"} {
		mustApply(t, s, createdMsg(id))
		mustApply(t, s, callbackMsg(id, "tx-"+id, true))
	}
	all, err := s.Outbox(10)
	if err != nil || len(all) != 4 {
		t.Fatalf("outbox %+v (%v), want 4 entries", all, err)
	}
	seqs := func(es []OutboxEntry) (out []uint64) {
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	after := func(seq uint64, limit int, want ...OutboxEntry) {
		t.Helper()
		got, err := s.OutboxAfter(seq, limit)
		if err != nil || !slices.Equal(seqs(got), seqs(want)) {
			t.Fatalf("OutboxAfter(%d, %d) = %v (%v), want %v", seq, limit, seqs(got), err, seqs(want))
		}
	}
	after(0, 10, all...)
	after(all[0].Seq, 10, all[1:]...)
	after(all[1].Seq, 1, all[2])
	after(all[3].Seq, 10)
	if err := s.DeleteOutboxThrough(all[1].Seq); err != nil {
		t.Fatal(err)
	}
	if left, err := s.Outbox(10); err != nil || !slices.Equal(seqs(left), seqs(all[2:])) {
		t.Fatalf("left after deleting through %d: %v (%v), want %v", all[1].Seq, seqs(left), err, seqs(all[2:]))
	}
	after(all[0].Seq, 10, all[2:]...) // after a deleted entry: from the next one there is
	if st, _ := s.Stats(); st.OutboxBacklog != 2 {
		t.Fatalf("backlog %d after deleting two of four, want 2", st.OutboxBacklog)
	}
	if err := s.DeleteOutboxThrough(all[1].Seq); err != nil { // again: nothing left to delete
		t.Fatal(err)
	}
	if err := s.DeleteOutboxThrough(all[3].Seq); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.OutboxBacklog != 0 {
		t.Fatalf("backlog %d after deleting every entry, want 0", st.OutboxBacklog)
	}
	after(0, 10)
}

// Ping (the worker's readiness check of its file) answers nil while the store is open.
func TestPingAnswersWhileTheStoreIsOpenOnly(t *testing.T) {
	s := openTest(t, Options{})
	if err := s.Ping(); err != nil {
		t.Fatalf("Ping of an open store: %v", err)
	}
	s.Close()
	if err := s.Ping(); err == nil {
		t.Fatal("Ping of a closed store: nil")
	}
}

func TestApplySameMessageTwiceIsADuplicate(t *testing.T) {
	s := openTest(t, Options{})
	mustApply(t, s, createdMsg("191111111"))
	m := callbackMsg("191111111", "tx-1", true)
	if r := mustApply(t, s, m); r.Outcome != Applied || len(r.Events) != 1 {
		t.Fatalf("first: %+v", r)
	}
	for range 3 {
		if r := mustApply(t, s, m); r.Outcome != Duplicate || len(r.Events) != 0 {
			t.Fatalf("again: %+v", r)
		}
	}
	_, hist, _ := s.Get("191111111")
	out, _ := s.Outbox(10)
	if len(hist) != 2 || len(out) != 1 {
		t.Fatalf("history %d, outbox %d; want 2 and 1", len(hist), len(out))
	}
}

func TestApplyRejectsInvalidAndGetUnknown(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.Apply(invoice.Message{ID: "x", Kind: invoice.MsgSuccess, InvoiceID: "abc"}, t0); !errors.Is(err, invoice.ErrInvalid) {
		t.Fatalf("invalid: %v", err)
	}
	if _, _, err := s.Get("123456789"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestConcurrentAppliesShareTransactions(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	s := openTest(t, Options{OnCommit: func(time.Duration) { mu.Lock(); commits++; mu.Unlock() }})
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { // t.Errorf, not mustApply's t.Fatalf: this is not the test's goroutine
			if _, err := s.Apply(createdMsg(fmt.Sprintf("%09d", 100000000+i)), t0); err != nil {
				t.Errorf("apply: %v", err)
			}
		})
	}
	wg.Wait()
	st, _ := s.Stats()
	if st.Invoices[invoice.StateCreated] != n {
		t.Fatalf("created = %d, want %d", st.Invoices[invoice.StateCreated], n)
	}
	mu.Lock()
	defer mu.Unlock()
	if commits == 0 || commits >= n {
		t.Fatalf("%d commits for %d concurrent messages: not batched", commits, n)
	}
	t.Logf("%d messages in %d commits", n, commits)
}

func TestApplyAllAppliesInOrderInOneTransaction(t *testing.T) {
	s := openTest(t, Options{})
	msgs := []invoice.Message{callbackMsg("191111111", "tx-1", true), {ID: "bad", InvoiceID: "x"}, createdMsg("191111111")}
	res, errs, err := s.ApplyAll(msgs, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[1], invoice.ErrInvalid) || errs[0] != nil || errs[2] != nil {
		t.Fatalf("errs %v", errs)
	}
	if res[2].Invoice.State != invoice.StatePaid || len(res[2].Events) != 1 {
		t.Fatalf("result %+v", res[2])
	}
}

// The invoice's own list of applied ids is the one dedupe record: a store made before
// that (with a seen bucket) drops the bucket when opened, and still knows every message
// it applied, across a reopen.
func TestDedupeIsTheInvoicesOwnRecordAcrossReopenAndOldSeenBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, createdMsg("191111111"))
	m := callbackMsg("191111111", "tx-1", true)
	mustApply(t, s, m)
	if err := s.db.Update(func(tx *bbolt.Tx) error { // what an older worker left behind
		b, err := tx.CreateBucket(bucketSeen)
		if err != nil {
			return err
		}
		return b.Put([]byte(m.ID), []byte("2024-07-29T10:00:00Z"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSeen) != nil {
			return errors.New("the seen bucket is still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r := mustApply(t, s, m); r.Outcome != Duplicate || len(r.Events) != 0 {
		t.Fatalf("the success applied before, after a reopen: %+v; want a duplicate", r)
	}
	if r := mustApply(t, s, createdMsg("191111111")); r.Outcome != Duplicate {
		t.Fatalf("invoice.created again: %+v; want a duplicate", r)
	}
}

// An operator's decision and an operation step are kept in history with their own
// JSON as the body, like every message.
func TestHistoryKeepsResolutionsAndOperationStepsAsJSON(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111112"
	mustApply(t, s, callbackMsg(id, "tx-1", true)) // unmatched: no invoice.created yet
	r := invoice.Resolution{Number: 1, Decision: invoice.DecisionPaid, By: "alice@shop.kz", Reason: "checked with the bank", Operator: "ops", At: t0}
	if res := mustApply(t, s, invoice.ResolveMessage("rs:"+id+":1", id, r, t0)); res.Invoice.State != invoice.StatePaid {
		t.Fatalf("resolved: %s", res.Invoice.State)
	}
	step := invoice.OperationStep{ID: "r1", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 1000, At: t0}
	mustApply(t, s, invoice.OperationMessage("op:"+id+":r1:started", id, step, t0))
	_, hist, err := s.Get(id)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history of %d entries (%v), want the callback, the decision and the step", len(hist), err)
	}
	var gotR invoice.Resolution
	if err := json.Unmarshal(hist[1].Body, &gotR); err != nil || gotR.By != r.By || gotR.Decision != r.Decision {
		t.Errorf("decision's history body %s (%v)", hist[1].Body, err)
	}
	var gotS invoice.OperationStep
	if err := json.Unmarshal(hist[2].Body, &gotS); err != nil || gotS.ID != "r1" || gotS.Amount != 1000 {
		t.Errorf("operation step's history body %s (%v)", hist[2].Body, err)
	}
}
