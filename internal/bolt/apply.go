package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
// never be applied; any other error is the store's and may be retried.
func (s *Store) Apply(msg invoice.Message, now time.Time) (Result, error) {
	var res Result
	var invalid error
	err := s.group.do(func(tx *bbolt.Tx) error {
		s.timeTx(tx)
		r, err := s.applyTx(tx, msg, now) // may run twice (after a rollback): it only assigns res
		res, invalid = r, nil
		if errors.Is(err, invoice.ErrInvalid) {
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

// ApplyAll applies msgs in order in one transaction of its own. Invalid messages are
// not applied; their errors are returned in place. The error is the store's.
func (s *Store) ApplyAll(msgs []invoice.Message, now time.Time) ([]Result, []error, error) {
	res, errs := make([]Result, len(msgs)), make([]error, len(msgs))
	err := s.db.Update(func(tx *bbolt.Tx) error {
		s.timeTx(tx)
		for i, m := range msgs {
			r, err := s.applyTx(tx, m, now)
			if errors.Is(err, invoice.ErrInvalid) { // refused before any write
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
	_, stored, err := getInvoiceStored(tx, msg.InvoiceID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Result{}, err
	}
	if _, err := s.writeTx(tx, msg, ch.Result, now, stored); err != nil {
		return Result{}, err
	}
	return ch.Result, nil
}

// writeTx writes an applied change: the invoice, its open index, its history entry,
// its events into the outbox and the state counters. It returns the change's last
// outbox entry (0: no events).
func (s *Store) writeTx(tx *bbolt.Tx, msg invoice.Message, res Result, now time.Time, stored int) (uint64, error) {
	c, err := encodeChange(msg, res, now, stored)
	if err != nil {
		return 0, err
	}
	return c.put(tx)
}

// encodedChange is an applied change as its write transaction puts it. It is encoded
// before the transaction, by each caller on its own (encodeChange): the calls sharing a
// transaction run one after another in the single writer, and every one of them waits
// for all of them. Inside, a change is only puts of these bytes (session 11's profile:
// the drain's encoding inside the writer made its transactions several times longer).
type encodedChange struct {
	inv           storedRecord
	history       []byte
	outbox        [][]byte
	before, after invoice.State
}

// encodeChange encodes a change of msg, applied at now with result res, for an
// invoice whose stored copy was loaded with stored pending callbacks.
func encodeChange(msg invoice.Message, res Result, now time.Time, stored int) (encodedChange, error) {
	inv, err := encodeStored(res.Invoice, stored)
	if err != nil {
		return encodedChange{}, err
	}
	h, err := historyEntry(msg, res, now)
	if err != nil {
		return encodedChange{}, err
	}
	hv, err := encodeHistory(h, res.Invoice)
	if err != nil {
		return encodedChange{}, err
	}
	ob, err := encodeOutbox(res.Events)
	if err != nil {
		return encodedChange{}, err
	}
	return encodedChange{inv: inv, history: hv, outbox: ob, before: res.StateBefore, after: res.Invoice.State}, nil
}

// put writes the change and returns its last outbox entry (0: no events).
func (c encodedChange) put(tx *bbolt.Tx) (uint64, error) {
	if err := putStored(tx, c.inv); err != nil {
		return 0, err
	}
	if err := putHistoryValue(tx, c.inv.id, c.history); err != nil {
		return 0, err
	}
	last, err := putOutbox(tx, c.outbox)
	if err != nil {
		return 0, err
	}
	return last, countStates(tx, c.before, c.after)
}

// historyEntry is the history entry of msg's change.
func historyEntry(msg invoice.Message, res Result, now time.Time) (HistoryEntry, error) {
	h := HistoryEntry{MessageID: msg.ID, Kind: msg.Kind, ReceivedAt: msg.ReceivedAt, AppliedAt: now,
		StateBefore: res.StateBefore, StateAfter: res.Invoice.State}
	for _, e := range res.Events {
		h.Events = append(h.Events, e.ID)
	}
	var body any
	switch {
	case msg.Payment != nil:
		v := msg.Payment.Verified
		h.Verified, h.Body = &v, msg.Payment.Raw
		return h, nil
	case msg.Status != nil:
		body = msg.Status
	case msg.Resolution != nil:
		body = msg.Resolution
	case msg.Operation != nil:
		body = msg.Operation
	default:
		body = msg.Created
	}
	b, err := json.Marshal(body)
	h.Body = b
	return h, err
}

// putHistory appends an entry to the history of inv (the invoice after the entry's change).
func putHistory(tx *bbolt.Tx, inv invoice.Invoice, h HistoryEntry) error {
	v, err := encodeHistory(h, inv)
	if err != nil {
		return err
	}
	return putHistoryValue(tx, inv.InvoiceID, v)
}

// putHistoryValue appends an encoded entry to an invoice's history.
func putHistoryValue(tx *bbolt.Tx, invoiceID string, v []byte) error {
	b := bucketFor(tx, bucketHistory)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(historyKey(invoiceID, seq), v)
}

func historyKey(invoiceID string, seq uint64) []byte {
	k := make([]byte, 0, len(invoiceID)+9)
	k = append(k, invoiceID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// addOutbox queues events for the relay and returns the last one's entry (0: none).
func addOutbox(tx *bbolt.Tx, events []invoice.Event) (uint64, error) {
	vals, err := encodeOutbox(events)
	if err != nil {
		return 0, err
	}
	return putOutbox(tx, vals)
}

// encodeOutbox encodes events as the outbox keeps them.
func encodeOutbox(events []invoice.Event) ([][]byte, error) {
	if len(events) == 0 {
		return nil, nil
	}
	vals := make([][]byte, len(events))
	for i, e := range events {
		v, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

// putOutbox queues encoded events and returns the last one's entry (0: none).
func putOutbox(tx *bbolt.Tx, vals [][]byte) (uint64, error) {
	if len(vals) == 0 {
		return 0, nil
	}
	b := tx.Bucket(bucketOutbox)
	var seq uint64
	for _, v := range vals {
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return 0, err
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
			return 0, err
		}
	}
	return seq, addCounter(tx, keyOutbox, int64(len(vals)))
}

// Requeue puts events of an invoice into the outbox again (a change whose events
// another store may not have published) and returns the last one's entry. The
// invoice's record reference lists them as unpublished, so that the invoice's next
// change made here carries them in its record until they are out.
func (s *Store) Requeue(invoiceID string, events []invoice.Event) (uint64, error) {
	var last uint64
	err := s.group.do(func(tx *bbolt.Tx) error {
		var err error
		if last, err = addOutbox(tx, events); err != nil || last == 0 {
			return err
		}
		inv, err := getInvoice(tx, invoiceID)
		if errors.Is(err, ErrNotFound) {
			return nil // nothing to list them on: they go out all the same
		}
		if err != nil {
			return err
		}
		ref, err := getRef(tx, invoiceID, inv)
		if err != nil {
			return err
		}
		_, alive, err := unpublishedTx(tx, invoiceID, ref.Unpublished)
		if err != nil {
			return err
		}
		ref.Unpublished = withSpan(alive, last, len(events))
		return putRef(tx, invoiceID, ref, inv.Applied)
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

// getInvoiceStored is getInvoice, and how many of its pending callbacks are stored in
// the pending bucket (a record written before that bucket holds them inline).
func getInvoiceStored(tx *bbolt.Tx, id string) (*invoice.Invoice, int, error) {
	v := tx.Bucket(bucketInvoices).Get([]byte(id))
	if v == nil {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	inv, err := decodeInvoice(id, v)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: invoice %s: %v", ErrCorrupt, id, err)
	}
	if inv.State != invoice.StateUnmatched {
		return &inv, 0, nil
	}
	if len(inv.Pending) > 0 { // inline, from before the pending bucket: rewritten as keys
		return &inv, 0, loadPending(tx, &inv)
	}
	err = loadPending(tx, &inv)
	return &inv, len(inv.Pending), err
}
