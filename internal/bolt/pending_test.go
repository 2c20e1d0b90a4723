package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// pendingCallback is a verified success for an invoice never created, with a body of
// size bytes.
func pendingCallback(invoiceID string, i, size int) invoice.Message {
	raw := []byte(`{"pad":"` + strings.Repeat("x", max(size-10, 0)) + `"}`)
	return invoice.Message{ID: fmt.Sprintf("cb:%s:%d", invoiceID, i), Kind: invoice.MsgFailure, InvoiceID: invoiceID,
		ReceivedAt: time.Unix(1700000000, 0).UTC(), Payment: &invoice.Payment{TransactionID: fmt.Sprintf("tx-%d", i),
			Amount: 10000, Currency: "KZT", Terminal: "t", ReasonCode: 484, Verified: true, Raw: raw}}
}

// An attacker posting callbacks for an invoice that was never created cannot grow its
// record or the cost of a commit without bound: the callbacks are kept one key each,
// at most MaxPending of them and MaxPendingBytes in all; beyond, ErrPendingFull (the
// worker's DLQ keeps them, replayable once the invoice exists).
func TestPendingCallbacksAreBoundedAndKeptOneKeyEach(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path, Options{MaxPending: 5, MaxPendingBytes: 200 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1700000000, 0)
	for i := range 5 {
		if _, err := s.Apply(pendingCallback("100000001", i, 30<<10), now); err != nil {
			t.Fatalf("callback %d: %v", i, err)
		}
	}
	_, err = s.Apply(pendingCallback("100000001", 5, 100), now)
	if !errors.Is(err, ErrPendingFull) || !errors.Is(err, invoice.ErrInvalid) || !strings.Contains(err.Error(), "WORKER_MAX_PENDING") {
		t.Fatalf("sixth callback: %v, want ErrPendingFull naming the limit", err)
	}
	// bytes: 70 KiB each, 200 KiB at most: the third is refused
	for i := range 2 {
		if _, err := s.Apply(pendingCallback("100000002", i, 70<<10), now); err != nil {
			t.Fatalf("70 KiB callback %d: %v", i, err)
		}
	}
	_, err = s.Apply(pendingCallback("100000002", 2, 70<<10), now)
	if !errors.Is(err, ErrPendingFull) || !strings.Contains(err.Error(), "WORKER_MAX_PENDING_BYTES") {
		t.Fatalf("third 70 KiB callback: %v, want ErrPendingFull naming the byte limit", err)
	}
	// exactly MaxPendingBytes in all is still taken
	for i := range 2 {
		if _, err := s.Apply(pendingCallback("100000003", i, 100<<10), now); err != nil {
			t.Fatalf("100 KiB callback %d (200 KiB in all, the limit): %v", i, err)
		}
	}
	// the record itself holds none of them
	var recordSize int
	s.db.View(func(tx *bbolt.Tx) error {
		recordSize = len(tx.Bucket(bucketInvoices).Get([]byte("100000001")))
		return nil
	})
	if recordSize == 0 || recordSize > 2<<10 {
		t.Fatalf("unmatched invoice record is %d bytes, want it small (callbacks kept apart)", recordSize)
	}
	inv, _, err := s.Get("100000001")
	if err != nil || len(inv.Pending) != 5 || inv.Pending[4].Payment.TransactionID != "tx-4" {
		t.Fatalf("read back: %d pending, %v", len(inv.Pending), err)
	}
	// invoice.created resolves it: every kept callback applied in order, the keys gone
	created := invoice.CreatedMessage("100000001", invoice.Created{InvoiceID: "100000001", Kind: "payment", Amount: 10000,
		Currency: "KZT", Terminal: "t", CreatedAt: now}, now)
	res, err := s.Apply(created, now)
	if err != nil || res.Invoice.State != invoice.StateFailed || len(res.Events) != 1 {
		t.Fatalf("created: %+v %v", res, err)
	}
	left := 0
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), "100000001\x00") {
				left++
			}
			return nil
		})
	})
	if left != 0 {
		t.Fatalf("%d pending keys left after invoice.created", left)
	}
	s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() > 8<<20 {
		t.Fatalf("file: %v %v", fi, err)
	}
}
