package bolt

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// bucketOpen indexes the invoices the status API may still have to resolve: those
// created (reconciler), those whose success callback waits for confirmation
// (confirmer), and those with an operation whose outcome is not recorded (the checker
// recovers it when no request does). Keys are invoice ids; values are empty. It is kept
// in the transaction that changes the invoice, so the worker never scans every invoice
// to find them.
var bucketOpen = []byte("open")

// isOpen says whether the status API may still change inv.
func isOpen(inv invoice.Invoice) bool {
	if inv.State == invoice.StateCreated || inv.Confirmation == invoice.ConfirmationPending {
		return true
	}
	_, pending := inv.PendingOperation()
	return pending
}

func indexOpen(tx *bbolt.Tx, inv invoice.Invoice) error {
	b := tx.Bucket(bucketOpen)
	if isOpen(inv) {
		return b.Put([]byte(inv.InvoiceID), nil)
	}
	return b.Delete([]byte(inv.InvoiceID))
}

// ensureOpenIndex creates the index and fills it from the invoices, for a store made
// before the index existed. It runs once, when the bucket is missing.
func ensureOpenIndex(tx *bbolt.Tx) error {
	if tx.Bucket(bucketOpen) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bucketOpen); err != nil {
		return err
	}
	return tx.Bucket(bucketInvoices).ForEach(func(k, v []byte) error {
		inv, _, err := decodeInvoice(string(k), v)
		if err != nil {
			return fmt.Errorf("%w: invoice %s: %v", ErrCorrupt, k, err)
		}
		return indexOpen(tx, inv)
	})
}

// OpenInvoices returns up to limit invoices of the open index (created, or waiting for
// confirmation) whose id sorts after after ("" for the first page), in id order.
func (s *Store) OpenInvoices(after string, limit int) ([]invoice.Invoice, error) {
	var out []invoice.Invoice
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOpen)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, _ := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, _ = c.Next()
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			inv, err := getInvoice(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, *inv)
		}
		return nil
	})
	return out, err
}
