package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// bucketPending holds the callbacks of unmatched invoices (invoice.Invoice.Pending), one
// key each (<invoiceId>\x00<seq>): an unmatched invoice's record stays small, and a
// callback is written once, not with every later one.
var bucketPending = []byte("pending")

// ErrPendingFull: an unmatched invoice holds as many callbacks (or bytes of them) as the
// store takes (Options.MaxPending, MaxPendingBytes). It wraps invoice.ErrInvalid: the
// worker sends the message to the DLQ, where it waits to be replayed once the invoice
// exists. Nobody can grow one invoice's record without bound by posting callbacks for an
// invoice that was never created.
var ErrPendingFull = fmt.Errorf("%w: the unmatched invoice's pending callbacks are at their limit", invoice.ErrInvalid)

// Defaults of the pending limits.
const (
	DefaultMaxPending      = 32
	DefaultMaxPendingBytes = 256 << 10
)

func pendingPrefix(invoiceID string) []byte { return append([]byte(invoiceID), 0) }

// loadPending appends the stored pending callbacks of inv to inv.Pending, in order.
func loadPending(tx *bbolt.Tx, inv *invoice.Invoice) error {
	b := tx.Bucket(bucketPending)
	if b == nil {
		return nil
	}
	prefix := pendingPrefix(inv.InvoiceID)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var m invoice.Message
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("%w: pending callback of %s: %v", ErrCorrupt, inv.InvoiceID, err)
		}
		inv.Pending = append(inv.Pending, m)
	}
	return nil
}

// putInvoice writes inv: the record without its pending callbacks, with the keys of its
// history entries (f.history) and its record reference (f.ref), and those of its pending callbacks not stored yet
// (f.pending is how many were loaded with it). No pending callback left deletes them all.
func putInvoice(tx *bbolt.Tx, inv invoice.Invoice, f onFile) error {
	pending, stored := inv.Pending, f.pending
	inv.Pending = nil
	v, err := encodeInvoice(inv, f)
	if err != nil {
		return err
	}
	if err := bucketFor(tx, bucketInvoices).Put([]byte(inv.InvoiceID), v); err != nil {
		return err
	}
	if f.inBucket { // moved into the invoice
		if err := tx.Bucket(bucketRecords).Delete([]byte(inv.InvoiceID)); err != nil {
			return err
		}
	}
	b := tx.Bucket(bucketPending)
	if len(pending) < stored { // resolved (or shrunk): start again
		if err := deletePending(b, inv.InvoiceID); err != nil {
			return err
		}
		stored = 0
	}
	for _, m := range pending[stored:] {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(b, binary.BigEndian.AppendUint64(pendingPrefix(inv.InvoiceID), seq), m); err != nil {
			return err
		}
	}
	return nil
}

func deletePending(b *bbolt.Bucket, invoiceID string) error {
	prefix := pendingPrefix(invoiceID)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// checkPending refuses msg when it would be kept as one more pending callback of an
// unmatched (or unknown) invoice that is at its limits.
func (s *Store) checkPending(cur *invoice.Invoice, msg invoice.Message) error {
	if msg.Payment == nil || cur != nil && cur.State != invoice.StateUnmatched {
		return nil
	}
	n, size := 0, len(msg.Payment.Raw)
	if cur != nil {
		n = len(cur.Pending)
		for _, p := range cur.Pending {
			if p.Payment != nil {
				size += len(p.Payment.Raw)
			}
		}
	}
	switch {
	case n+1 > s.maxPending:
		return fmt.Errorf("%w: invoice %s holds %d callbacks (WORKER_MAX_PENDING %d)", ErrPendingFull, msg.InvoiceID, n, s.maxPending)
	case size > s.maxPendingBytes:
		return fmt.Errorf("%w: invoice %s would hold %d bytes of callbacks (WORKER_MAX_PENDING_BYTES %d)", ErrPendingFull, msg.InvoiceID, size, s.maxPendingBytes)
	}
	return nil
}
