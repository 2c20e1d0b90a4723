package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

// Outcome says what applying a message did.
type Outcome string

// Outcomes.
const (
	Applied   Outcome = "applied"
	Duplicate Outcome = "duplicate"
)

// Result is what Apply did with one message.
type Result struct {
	Outcome     Outcome
	StateBefore invoice.State // "" for an invoice seen for the first time
	Invoice     invoice.Invoice
	Events      []invoice.Event
}

// HistoryEntry is one message applied to an invoice, kept verbatim.
type HistoryEntry struct {
	MessageID   string              `json:"messageId"`
	Kind        invoice.MessageKind `json:"kind"`
	ReceivedAt  time.Time           `json:"receivedAt"`
	AppliedAt   time.Time           `json:"appliedAt"`
	Verified    *bool               `json:"verified,omitempty"`
	StateBefore invoice.State       `json:"stateBefore,omitempty"`
	StateAfter  invoice.State       `json:"stateAfter"`
	Events      []string            `json:"events,omitempty"`
	// Body is the message as received, byte for byte.
	Body json.RawMessage `json:"body,omitempty"`
	// Pruned: the body was dropped by the retention (Store.Prune).
	Pruned bool `json:"pruned,omitempty"`
}

// Apply applies one message in a transaction shared with the other callers of the
// moment (group commit). It returns once the transaction is durable. A message applied
// before is a Duplicate (no error). Errors wrap invoice.ErrInvalid for a message that can
// never be applied, or invoice.ErrOverLimit for a callback past its invoice's bound;
// any other error is the store's and may be retried.
func (s *Store) Apply(msg invoice.Message, now time.Time) (Result, error) {
	var res Result
	var invalid error
	err := s.group.do(func(tx *bbolt.Tx) error {
		s.timeTx(tx)
		r, err := s.applyTx(tx, msg, now) // may run twice (after a rollback): it only assigns res
		res, invalid = r, nil
		if refused(err) {
			// refused before any write (invoice.Apply validates it, the pending bound is
			// checked before the puts): this message's answer, not the shared transaction's
			invalid = err
			return nil
		}
		if err != nil {
			return err
		}
		return notAllRecorded(tx) // applied without a changelog record
	})
	if err == nil && invalid != nil {
		return Result{}, invalid
	}
	return res, err
}

// refused says whether err is a message's own refusal (invoice.ErrInvalid,
// invoice.ErrOverLimit), made before any write, not the store's.
func refused(err error) bool {
	return errors.Is(err, invoice.ErrInvalid) || errors.Is(err, invoice.ErrOverLimit)
}

// ApplyAll applies msgs in order in one transaction of its own. Refused messages
// (refused) are not applied; their errors are returned in place. The error is the store's.
func (s *Store) ApplyAll(msgs []invoice.Message, now time.Time) ([]Result, []error, error) {
	res, errs := make([]Result, len(msgs)), make([]error, len(msgs))
	err := s.db.Update(func(tx *bbolt.Tx) error {
		s.timeTx(tx)
		for i, m := range msgs {
			r, err := s.applyTx(tx, m, now)
			if refused(err) { // refused before any write
				errs[i] = err
				continue
			}
			if err != nil {
				return err
			}
			res[i] = r
		}
		return notAllRecorded(tx) // applied without changelog records
	})
	return res, errs, err
}

func (s *Store) applyTx(tx *bbolt.Tx, msg invoice.Message, now time.Time) (Result, error) {
	ch, err := s.prepareTx(tx, msg, now)
	if err != nil || ch.Result.Outcome == Duplicate {
		return ch.Result, err
	}
	if _, err := s.writeTx(tx, msg, ch.Result, nil, now, ch.file, nil); err != nil {
		return Result{}, err
	}
	return ch.Result, nil
}

// writeTx writes an applied change: the invoice, its open index, its history entry,
// its events into the outbox (encoded: their bytes, made before; nil: encoded here)
// and the state counters. f is what the file held of the
// invoice before; ref, when set, makes the invoice's new record reference from the
// change's last outbox entry (nil: the reference stays as it was). It returns the
// change's last outbox entry (0: no events).
func (s *Store) writeTx(tx *bbolt.Tx, msg invoice.Message, res Result, encoded [][]byte, now time.Time, f onFile, ref func(last uint64) RecordRef) (uint64, error) {
	seq, err := f.nextHistory(tx)
	if err != nil {
		return 0, err
	}
	last, err := addOutbox(tx, res.Events, encoded)
	if err != nil {
		return 0, err
	}
	if ref != nil {
		f.ref = encodeRef(ref(last), res.Invoice.Applied)
	}
	if err := putInvoice(tx, res.Invoice, f); err != nil {
		return 0, err
	}
	if err := indexOpen(tx, res.Invoice); err != nil {
		return 0, err
	}
	if err := addHistory(tx, seq, msg, res, now); err != nil {
		return 0, err
	}
	return last, countStates(tx, res.StateBefore, res.Invoice.State)
}

func addHistory(tx *bbolt.Tx, seq uint64, msg invoice.Message, res Result, now time.Time) error {
	h := HistoryEntry{MessageID: msg.ID, Kind: msg.Kind, ReceivedAt: msg.ReceivedAt, AppliedAt: now,
		StateBefore: res.StateBefore, StateAfter: res.Invoice.State}
	for _, e := range res.Events {
		h.Events = append(h.Events, e.ID)
	}
	switch {
	case msg.Payment != nil:
		v := msg.Payment.Verified
		h.Verified, h.Body = &v, msg.Payment.Raw
	case msg.Status != nil:
		body, err := json.Marshal(msg.Status)
		if err != nil {
			return err
		}
		h.Body = body
	case msg.Resolution != nil:
		body, err := json.Marshal(msg.Resolution)
		if err != nil {
			return err
		}
		h.Body = body
	case msg.Operation != nil:
		body, err := json.Marshal(msg.Operation)
		if err != nil {
			return err
		}
		h.Body = body
	case msg.Created != nil:
		body, err := msg.Created.AppendJSON(make([]byte, 0, 256))
		if err != nil {
			return err
		}
		h.Body = body
	}
	return putHistory(tx, seq, res.Invoice, h)
}

// putHistory writes the history entry seq (onFile.nextHistory) of inv (the invoice
// after the entry's change).
func putHistory(tx *bbolt.Tx, seq uint64, inv invoice.Invoice, h HistoryEntry) error {
	v, err := encodeHistory(h, inv)
	if err != nil {
		return err
	}
	return bucketFor(tx, bucketHistory).Put(historyKey(seq), v)
}

// historyKey is the key of history entry seq (schema 3): the bucket's sequence alone,
// so that every entry is appended at the bucket's tail (its pages stay full), and its
// invoice lists it (onFile.history). Sequences stay below 2^56: the key's first byte is
// 0, which no invoice id starts with, so these keys never meet those of schema 2.
func historyKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// legacyHistoryPrefix starts the keys of an invoice's history entries written before
// schema 3 (<invoiceId> 0x00 <seq>): they stay where they are, and come first.
func legacyHistoryPrefix(invoiceID string) []byte { return append([]byte(invoiceID), 0) }

// onFile is what the file holds of an invoice besides invoice.Invoice.
type onFile struct {
	pending int      // how many of its pending callbacks the pending bucket holds
	history []uint64 // the keys of its history entries (historyKey), oldest first
	// ref is its record reference as encodeRef wrote it (nil: none). Since schema 4 it
	// is kept in the invoice; inBucket: this one was read from the records bucket (a
	// file from before), and leaves it when the invoice is next written.
	ref      []byte
	inBucket bool
}

// nextHistory takes the key of the invoice's next history entry and lists it.
func (f *onFile) nextHistory(tx *bbolt.Tx) (uint64, error) {
	seq, err := tx.Bucket(bucketHistory).NextSequence()
	if err != nil {
		return 0, err
	}
	f.history = append(slices.Clip(f.history), seq)
	return seq, nil
}

// addOutbox queues events for the relay and returns the last one's entry (0: none).
// encoded, when not nil, are the events' bytes (encodeEvents), made before.
func addOutbox(tx *bbolt.Tx, events []invoice.Event, encoded [][]byte) (uint64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	b := tx.Bucket(bucketOutbox)
	var seq uint64
	if encoded == nil {
		var err error
		if encoded, err = encodeEvents(events); err != nil {
			return 0, err
		}
	}
	for _, e := range encoded {
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return 0, err
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), e); err != nil {
			return 0, err
		}
	}
	return seq, addCounter(tx, keyOutbox, int64(len(events)))
}

// Requeue puts events of an invoice into the outbox again (a change whose events
// another store may not have published) and returns the last one's entry. The
// invoice's record reference lists them as unpublished, so that the invoice's next
// change made here carries them in its record until they are out.
func (s *Store) Requeue(invoiceID string, events []invoice.Event) (uint64, error) {
	var last uint64
	err := s.group.do(func(tx *bbolt.Tx) error {
		var err error
		if last, err = addOutbox(tx, events, nil); err != nil || last == 0 {
			return err
		}
		// an invoice not found: nothing to list them on, they go out all the same
		return rewriteRef(tx, invoiceID, func(ref RecordRef) (RecordRef, bool, error) {
			_, _, alive, err := unpublishedTx(tx, invoiceID, ref.Unpublished)
			ref.Unpublished = withSpan(alive, last, len(events))
			return ref, true, err
		})
	})
	return last, err
}

func pendingLen(inv *invoice.Invoice) int {
	if inv == nil {
		return 0
	}
	return len(inv.Pending)
}

func getInvoice(tx *bbolt.Tx, id string) (*invoice.Invoice, error) {
	inv, _, err := getInvoiceStored(tx, id)
	return inv, err
}

// getInvoiceStored is getInvoice, and what else the file holds of it: how many of its
// pending callbacks are stored in the pending bucket (a record written before that
// bucket holds them inline), the keys of its history entries and its record reference.
func getInvoiceStored(tx *bbolt.Tx, id string) (*invoice.Invoice, onFile, error) {
	v := tx.Bucket(bucketInvoices).Get([]byte(id))
	if v == nil {
		return nil, onFile{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	inv, f, err := decodeInvoice(id, v)
	if err != nil {
		return nil, onFile{}, fmt.Errorf("%w: invoice %s: %v", ErrCorrupt, id, err)
	}
	if f.ref == nil { // a reference written before schema 4
		if r := tx.Bucket(bucketRecords).Get([]byte(id)); r != nil {
			f.ref, f.inBucket = bytes.Clone(r), true
		}
	}
	if inv.State != invoice.StateUnmatched {
		return &inv, f, nil
	}
	if len(inv.Pending) > 0 { // inline, from before the pending bucket: rewritten as keys
		return &inv, f, loadPending(tx, &inv)
	}
	err = loadPending(tx, &inv)
	f.pending = len(inv.Pending)
	return &inv, f, err
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, buf)
}
