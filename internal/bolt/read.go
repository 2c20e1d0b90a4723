package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// Get returns an invoice and its history, oldest first. The error wraps ErrNotFound for
// an invoice the store does not know.
func (s *Store) Get(invoiceID string) (invoice.Invoice, []HistoryEntry, error) {
	var inv *invoice.Invoice
	var hist []HistoryEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		var f onFile
		var err error
		if inv, f, err = getInvoiceStored(tx, invoiceID); err != nil {
			return err
		}
		return eachHistory(tx, invoiceID, f.history, func(k, v []byte) error {
			h, err := decodeHistory(v, *inv)
			if err != nil {
				return fmt.Errorf("%w: history of %s: %v", ErrCorrupt, invoiceID, err)
			}
			hist = append(hist, h)
			return nil
		})
	})
	if err != nil {
		return invoice.Invoice{}, nil, err
	}
	return *inv, hist, nil
}

// Invoice returns the invoice alone, without reading its history.
func (s *Store) Invoice(invoiceID string) (invoice.Invoice, error) {
	var inv *invoice.Invoice
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		inv, _, err = getInvoiceStored(tx, invoiceID)
		return err
	})
	if err != nil {
		return invoice.Invoice{}, err
	}
	return *inv, nil
}

// eachHistory calls fn with each history entry of an invoice, oldest first: those
// written before schema 3 (under the invoice's prefix), then those of its keys. fn must
// not write to the bucket.
func eachHistory(tx *bbolt.Tx, invoiceID string, keys []uint64, fn func(k, v []byte) error) error {
	b := tx.Bucket(bucketHistory)
	prefix := legacyHistoryPrefix(invoiceID)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	for _, seq := range keys {
		k := historyKey(seq)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("%w: history entry %d of %s is missing", ErrCorrupt, seq, invoiceID)
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// OutboxEntry is an event waiting to be published.
type OutboxEntry struct {
	Seq   uint64
	Event invoice.Event
}

// Outbox returns up to limit entries, oldest first.
func (s *Store) Outbox(limit int) ([]OutboxEntry, error) {
	return s.OutboxAfter(0, limit)
}

// OutboxAfter is Outbox from the first entry after entry after.
func (s *Store) OutboxAfter(after uint64, limit int) ([]OutboxEntry, error) {
	return s.OutboxAfterExcept(after, limit, nil)
}

// OutboxAfterExcept is OutboxAfter, but the entries skip reports (their events the
// caller holds already) come without their event: listed in their place, not decoded.
func (s *Store) OutboxAfterExcept(after uint64, limit int, skip func(seq uint64) bool) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			e := OutboxEntry{Seq: binary.BigEndian.Uint64(k)}
			if skip != nil && skip(e.Seq) {
				out = append(out, e)
				continue
			}
			if err := json.Unmarshal(v, &e.Event); err != nil {
				return fmt.Errorf("%w: outbox entry %d: %v", ErrCorrupt, e.Seq, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// OutboxLast is the last entry the outbox holds (0: it is empty).
func (s *Store) OutboxLast() (uint64, error) {
	var last uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketOutbox).Cursor().Last(); k != nil {
			last = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return last, err
}

// InOutbox reports whether the outbox still holds entry seq (not yet published).
func (s *Store) InOutbox(seq uint64) (bool, error) {
	var in bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		in = tx.Bucket(bucketOutbox).Get(binary.BigEndian.AppendUint64(nil, seq)) != nil
		return nil
	})
	return in, err
}

// DeleteOutboxThrough removes every entry up to seq (the relay's, once it published
// them all), in a transaction shared with the applies of the moment (their fsync).
func (s *Store) DeleteOutboxThrough(seq uint64) error {
	return s.group.do(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		var n int64
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return addCounter(tx, keyOutbox, -n)
	})
}

// DeleteOutbox removes published entries. Deleting an entry already gone is a no-op.
func (s *Store) DeleteOutbox(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		var n int64
		for _, seq := range seqs {
			k := binary.BigEndian.AppendUint64(nil, seq)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return addCounter(tx, keyOutbox, -n)
	})
}
