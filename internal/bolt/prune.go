package bolt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// The retention: the history bodies of closed invoices (paid, failed, review; none the
// status API may still change) not changed since a cutoff are dropped. The invoice, its
// state, its applied ids (the dedupe record: a message replayed from the DLQ years later
// must still be a duplicate) and every history entry's id, kind, times, states and
// event ids stay; an entry whose body was dropped says so (Pruned). The space goes
// back to bbolt's free pages, which new writes reuse and CompactFile returns to the disk.

// Pruned is what one call of Prune did.
type Pruned struct {
	Invoices int    // invoices looked at
	Bodies   int    // history bodies dropped
	Bytes    int64  // bytes of history values given back
	Next     string // the invoice to start the next call after ("": the end was reached)
}

// closed says whether inv can no longer change but by a new callback (no claim waits,
// no status check will come) and no human has yet to decide on it: an invoice in review,
// or paid twice, keeps its bodies until an operator's resolution, for they are what the
// operator decides from.
func closed(inv invoice.Invoice) bool {
	switch {
	case inv.State == invoice.StateReview && inv.Resolution == nil, inv.DoublePayment && inv.Resolution == nil:
		return false
	}
	switch inv.State {
	case invoice.StatePaid, invoice.StateFailed, invoice.StateReview:
		return !isOpen(inv) && inv.Confirmation == ""
	}
	return false
}

// Prune drops the history bodies of closed invoices last changed before cutoff, for up
// to limit invoices whose id sorts after after ("" for the first), in one transaction.
// Call it again with Pruned.Next until that is "".
func (s *Store) Prune(cutoff time.Time, after string, limit int) (Pruned, error) {
	var p Pruned
	err := s.group.do(func(tx *bbolt.Tx) error {
		p = Pruned{} // may run twice (after a rollback)
		c := tx.Bucket(bucketInvoices).Cursor()
		k, v := c.First()
		if after != "" {
			if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		type dueInvoice struct {
			id      string
			history []uint64
		}
		var due []dueInvoice
		last := ""
		for ; k != nil && p.Invoices < limit; k, v = c.Next() {
			last = string(k)
			p.Invoices++
			inv, f, err := decodeInvoice(last, v)
			if err != nil {
				return fmt.Errorf("%w: invoice %s: %v", ErrCorrupt, k, err)
			}
			if closed(inv) && inv.UpdatedAt.Before(cutoff) {
				due = append(due, dueInvoice{last, f.history})
			}
		}
		if k != nil {
			p.Next = last
		}
		for _, d := range due { // after the walk: a put moves the cursor's pages
			if err := pruneHistory(tx, d.id, d.history, &p); err != nil {
				return err
			}
		}
		return nil
	})
	return p, err
}

// pruneHistory drops the bodies of an invoice's history entries (keys: those it lists).
func pruneHistory(tx *bbolt.Tx, id string, keys []uint64, p *Pruned) error {
	type kv struct{ k, v []byte }
	var todo []kv
	err := eachHistory(tx, id, keys, func(k, v []byte) error {
		var s storedHistory
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("%w: history %q: %v", ErrCorrupt, k, err)
		}
		if s.Pruned || (len(s.Body) == 0 && len(s.Raw) == 0 && !s.Created) {
			return nil
		}
		s.Body, s.Raw, s.Created, s.Pruned = nil, nil, false, true
		nv, err := json.Marshal(s)
		if err != nil {
			return err
		}
		todo = append(todo, kv{bytes.Clone(k), nv})
		p.Bodies++
		p.Bytes += int64(len(v) - len(nv))
		return nil
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketHistory)
	for _, e := range todo { // after the walk: a put moves the cursor's pages
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}
