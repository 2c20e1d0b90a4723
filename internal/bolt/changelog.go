package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jsonw"
)

// The worker keeps each invoice's state of record in a changelog (EPAY_STATE, one
// message per invoice) as well as in this file, which is then the worker's cache and
// read path. A change is computed here (Prepare), written to the changelog by the
// worker, then made durable here (Commit) with the record's sequence; a new owner of a
// shard takes the records it lacks from the changelog (Adopt).

// bucketRecords mapped an invoice id to where its last record is (RecordRef) until
// schema 4 kept the reference in the invoice; a reference found there is read, and
// moved into its invoice when that is next written (or by UpgradeRecords).
var bucketRecords = []byte("records")

// KindRestored marks a history entry that took an invoice's state from the changelog
// (another worker's change) rather than from a message applied here.
const KindRestored invoice.MessageKind = "restored"

// ErrStale: the invoice changed between Prepare and Commit (a record adopted meanwhile);
// prepare the change again.
var ErrStale = errors.New("invoice changed since the change was prepared")

// Record is an invoice's state as the changelog keeps it: the invoice after a change
// (its Applied ids and Pending callbacks included), the message that made the change
// and the events a new owner must publish again if the old one could not: the change's
// own, after those of the invoice's earlier changes that the writing store had not yet
// seen published (their PubAck) when it made the change, oldest first. Only the last
// record of an invoice is sure to be read by a new owner, so it carries them all.
type Record struct {
	Invoice   invoice.Invoice `json:"invoice"`
	MessageID string          `json:"messageId"`
	Events    []invoice.Event `json:"events,omitempty"`
	At        time.Time       `json:"at"`
}

// RecordRef is what the store knows of an invoice's last record.
type RecordRef struct {
	Seq       uint64 `json:"seq"`                 // its sequence in the changelog (0: none written)
	MessageID string `json:"messageId,omitempty"` // the message of the invoice's latest change
	// Outbox is the last outbox entry of the latest change (0: it had no events, or this
	// store did not make it).
	Outbox uint64 `json:"outbox,omitempty"`
	// Adopted: the latest change was taken from the changelog; its events were another
	// store's to publish, and this store never held them (unless it requeued them).
	Adopted bool `json:"adopted,omitempty"`
	// Unpublished are the outbox spans of the invoice's changes (and requeues) that were
	// not yet published when the reference was written, oldest first: the next change
	// reads what is left of them into its record, without scanning the outbox.
	Unpublished []OutboxSpan `json:"unpublished,omitempty"`
}

// OutboxSpan is a run of outbox entries, First to Last: the events of one change or
// one requeue of an invoice (they take consecutive entries in one transaction).
type OutboxSpan struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// Change is a message applied in memory to the store's copy of its invoice, not yet
// durable: Prepare makes it, Commit writes it.
type Change struct {
	Msg    invoice.Message
	Now    time.Time
	Result Result
	// Prev is the invoice's last record as this store knows it: the changelog write of
	// this change must find it still the last (its Seq is the expected last sequence).
	Prev RecordRef
	// Latest: the message is a Duplicate, and the one that made the invoice's latest change.
	Latest bool
	// Committed, when set, is told the change's last outbox entry (as Commit returns it)
	// once its transaction is durable: in the committing goroutine, before any caller of
	// that transaction is answered. The entries are in the file from that moment, and a
	// reader of the outbox (the relay) should learn of them before it finds them there.
	Committed func(last uint64)
	// seen is the invoice as Prepare read it from the file (nil: none), and file what
	// else the file held of it then: Commit finds the invoice unchanged by comparing
	// bytes, without decoding it again inside the store's single writer.
	seen []byte
	file onFile
	// earlier are the events of the invoice's earlier changes still in the outbox when
	// the change was prepared, oldest first, and earlierJSON their entries' bytes; spans
	// is where they are.
	earlier     []invoice.Event
	earlierJSON [][]byte
	spans       []OutboxSpan
	// encoded are Result.Events as encoding/json makes them, made by Prepare in its
	// caller's goroutine: the bytes the outbox keeps and the record carries, so that an
	// event is encoded once, and not inside the store's single writer.
	encoded [][]byte
}

// Record is the changelog record of an applied change: its events are the invoice's
// events still unpublished when it was prepared, then the change's own.
func (c Change) Record() Record {
	evs := c.Result.Events
	if len(c.earlier) > 0 {
		evs = append(slices.Clip(c.earlier), c.Result.Events...)
	}
	return Record{Invoice: c.Result.Invoice, MessageID: c.Msg.ID, Events: evs, At: c.Now}
}

// EarlierUnpublished says whether the invoice had events of earlier changes (or
// requeues) made here still in the outbox when the change was prepared: the change's
// own events must then go out after them, through the relay's order.
func (c Change) EarlierUnpublished() bool { return len(c.earlier) > 0 }

// RecordJSON is json.Marshal(c.Record()), byte for byte, made from the events' bytes
// Prepare made and the outbox held: the invoice, the message id and the time are
// encoded here (jsonw), each event is not encoded again.
func (c Change) RecordJSON() ([]byte, error) {
	if len(c.encoded) != len(c.Result.Events) || len(c.earlierJSON) != len(c.earlier) {
		return json.Marshal(c.Record()) // not made by Prepare
	}
	n := 1024
	for _, e := range c.earlierJSON {
		n += len(e) + 1
	}
	for _, e := range c.encoded {
		n += len(e) + 1
	}
	o := jsonw.Start(make([]byte, 0, n))
	inv := o.Object("invoice")
	c.Result.Invoice.WriteJSON(&inv)
	o.Close(&inv)
	o.String("messageId", c.Msg.ID)
	if len(c.earlierJSON)+len(c.encoded) > 0 { // omitempty
		o.Encoded("events", c.earlierJSON, c.encoded)
	}
	o.Time("at", c.Now)
	return o.End()
}

// encodeEvents encodes each event as the outbox keeps it.
func encodeEvents(events []invoice.Event) ([][]byte, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(events))
	for i := range events {
		b, err := events[i].AppendJSON(make([]byte, 0, eventSizeHint))
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", events[i].ID, err)
		}
		out[i] = b
	}
	return out, nil
}

// eventSizeHint is room for an event with its invoice and callback, so that encoding
// one allocates once.
const eventSizeHint = 2048

// Prepare applies msg to the stored invoice in memory. Errors wrap invoice.ErrInvalid
// for a message that can never be applied; any other error is the store's.
func (s *Store) Prepare(msg invoice.Message, now time.Time) (Change, error) {
	var ch Change
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		ch, err = s.prepareTx(tx, msg, now)
		return err
	})
	if err != nil || ch.Result.Outcome != Applied {
		return ch, err
	}
	ch.encoded, err = encodeEvents(ch.Result.Events)
	return ch, err
}

func (s *Store) prepareTx(tx *bbolt.Tx, msg invoice.Message, now time.Time) (Change, error) {
	cur, f, err := getInvoiceStored(tx, msg.InvoiceID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Change{}, err
	}
	ch := Change{Msg: msg, Now: now, Result: Result{Outcome: Applied}, file: f}
	if cur != nil {
		ch.Result.StateBefore = cur.State
		// the transaction's memory is not the caller's once it ends
		ch.seen = bytes.Clone(tx.Bucket(bucketInvoices).Get([]byte(msg.InvoiceID)))
	}
	if ch.Prev, err = refOf(msg.InvoiceID, cur, f); err != nil {
		return Change{}, err
	}
	next, events, err := invoice.Apply(cur, msg, now)
	if err == nil && len(next.Pending) > pendingLen(cur) {
		err = s.checkPending(cur, msg) // only a message that would be kept as pending
	}
	switch {
	case errors.Is(err, invoice.ErrDuplicate):
		ch.Result.Outcome, ch.Result.Invoice = Duplicate, next // the invoice's Applied ids: the one dedupe record
		ch.Latest = ch.Prev.MessageID == msg.ID
		return ch, nil
	case err != nil:
		return Change{}, err
	}
	ch.Result.Invoice, ch.Result.Events = next, events
	if ch.earlier, ch.earlierJSON, ch.spans, err = unpublishedTx(tx, msg.InvoiceID, ch.Prev.Unpublished); err != nil {
		return Change{}, err
	}
	return ch, nil
}

// Commit makes a prepared change durable, with seq, the sequence of its record in the
// changelog (0: none was written). It shares its transaction with the other callers of
// the moment and returns once it is durable, with the change's last outbox entry
// (0 for none). ErrStale: the invoice changed since Prepare.
//
// "Changed" is any write of the invoice, found by its bytes: a new version (a record
// adopted meanwhile), and also one that keeps the version, such as a requeue that lists
// more unpublished events on its record reference, which a commit of this change would
// otherwise overwrite with the list Prepare read (and the change's record, already in
// the changelog, does not carry those events either). Every write of an invoice writes
// new bytes: its history keys, record reference or pending callbacks change with it.
func (s *Store) Commit(ch Change, seq uint64) (uint64, error) {
	if ch.Result.Outcome != Applied {
		return 0, fmt.Errorf("bolt: commit of a %s change", ch.Result.Outcome)
	}
	var last uint64
	var stale bool
	err := s.group.do(func(tx *bbolt.Tx) error {
		s.timeTx(tx)
		last, stale = 0, false // may run twice (after a rollback): it only assigns
		v := tx.Bucket(bucketInvoices).Get([]byte(ch.Msg.InvoiceID))
		if (v == nil) != (ch.seen == nil) || !bytes.Equal(v, ch.seen) {
			stale = true // this call's answer, not the shared transaction's
			return nil
		}
		var ref func(uint64) RecordRef
		if seq != 0 {
			ref = func(last uint64) RecordRef {
				return RecordRef{Seq: seq, MessageID: ch.Msg.ID, Outbox: last, Unpublished: withSpan(ch.spans, last, len(ch.Result.Events))}
			}
		}
		var err error
		last, err = s.writeTx(tx, ch.Msg, ch.Result, ch.encoded, ch.Now, ch.file, ref)
		if err == nil && seq == 0 {
			err = notAllRecorded(tx)
		}
		if err == nil && ch.Committed != nil {
			l := last // this run's: the call may run again in another transaction
			tx.OnCommit(func() { ch.Committed(l) })
		}
		return err
	})
	if err == nil && stale {
		return 0, fmt.Errorf("%w: invoice %s", ErrStale, ch.Msg.InvoiceID)
	}
	return last, err
}

// Supersede makes the next change of the invoice expect seq as its last record in the
// changelog: the record there is not the workers' (or there is none, seq 0), and the
// store's copy stays the invoice's state of record. ErrNotFound: the store has no copy.
func (s *Store) Supersede(invoiceID string, seq uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		cur, f, err := getInvoiceStored(tx, invoiceID)
		if err != nil {
			return err
		}
		ref, err := refOf(invoiceID, cur, f)
		if err != nil {
			return err
		}
		return supersedeTx(tx, *cur, f, ref, seq)
	})
}

// supersedeTx keeps the stored invoice inv and makes seq its last record in the changelog
// (ref, its reference as read): its next change is written on top of that record.
func supersedeTx(tx *bbolt.Tx, inv invoice.Invoice, f onFile, ref RecordRef, seq uint64) error {
	ref.Seq = seq
	f.ref = encodeRef(ref, inv.Applied)
	return putInvoice(tx, inv, f)
}

// Adopted is a record read from the changelog, with its sequence.
type Adopted struct {
	Seq    uint64
	Record Record
}

// Adopt takes records from the changelog into the store, in one transaction: each
// replaces the store's invoice unless the store already has that record or a later one.
// It returns how many it took.
func (s *Store) Adopt(recs []Adopted, now time.Time) (int, error) {
	var n int
	err := s.db.Update(func(tx *bbolt.Tx) error {
		n = 0
		for _, r := range recs {
			took, err := adoptTx(tx, r, now)
			if err != nil {
				return err
			}
			if took {
				n++
			}
		}
		return nil
	})
	return n, err
}

func adoptTx(tx *bbolt.Tx, r Adopted, now time.Time) (bool, error) {
	inv := r.Record.Invoice
	if inv.InvoiceID == "" {
		return false, fmt.Errorf("%w: changelog record %d has no invoice id", ErrCorrupt, r.Seq)
	}
	cur, f, err := getInvoiceStored(tx, inv.InvoiceID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	ref, err := refOf(inv.InvoiceID, cur, f)
	if err != nil || ref.Seq >= r.Seq {
		return false, err
	}
	if cur != nil && inv.Version <= cur.Version {
		// Later in the changelog, yet not a later state: an invoice's records only grow
		// in version along its subject (each is written on top of the one before), so
		// this is an older record published again (a replay by a holder of the stream's
		// password, whose signature is the workers' own). The store's state stays; its
		// next change is written on top of this record, and supersedes it.
		return false, supersedeTx(tx, *cur, f, ref, r.Seq)
	}
	var before invoice.State
	if cur != nil {
		before = cur.State
	}
	// this store's own events of the invoice still unpublished stay listed: a change
	// made here on top of the adopted record carries them too
	_, _, alive, err := unpublishedTx(tx, inv.InvoiceID, ref.Unpublished)
	if err != nil {
		return false, err
	}
	f.ref = encodeRef(RecordRef{Seq: r.Seq, MessageID: r.Record.MessageID, Adopted: true, Unpublished: alive}, inv.Applied)
	seq, err := f.nextHistory(tx)
	if err != nil {
		return false, err
	}
	if err := putInvoice(tx, inv, f); err != nil {
		return false, err
	}
	if err := indexOpen(tx, inv); err != nil {
		return false, err
	}
	h := HistoryEntry{MessageID: r.Record.MessageID, Kind: KindRestored, ReceivedAt: r.Record.At, AppliedAt: now,
		StateBefore: before, StateAfter: inv.State}
	for _, e := range r.Record.Events {
		// an event of a version this store holds is an earlier change's the record
		// carries too: the history has it already, in that change's entry
		if cur == nil || e.Invoice.Version > cur.Version {
			h.Events = append(h.Events, e.ID)
		}
	}
	if err := putHistory(tx, seq, inv, h); err != nil {
		return false, err
	}
	return true, countStates(tx, before, inv.State)
}

// unpublishedTx reads what is left in the outbox of an invoice's spans: the events,
// oldest first and each id once (a requeue may hold one again), and the spans that
// still hold any, cut to what they hold (entries go out oldest first). One seek a span.
func unpublishedTx(tx *bbolt.Tx, invoiceID string, spans []OutboxSpan) ([]invoice.Event, [][]byte, []OutboxSpan, error) {
	if len(spans) == 0 {
		return nil, nil, nil, nil
	}
	var evs []invoice.Event
	var raw [][]byte
	var alive []OutboxSpan
	c := tx.Bucket(bucketOutbox).Cursor()
	for _, sp := range spans {
		first := uint64(0)
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, sp.First)); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if seq > sp.Last {
				break
			}
			var e invoice.Event
			if err := json.Unmarshal(v, &e); err != nil || e.InvoiceID != invoiceID {
				return nil, nil, nil, fmt.Errorf("%w: outbox entry %d of invoice %s's span %d-%d: %v (invoice %q)", ErrCorrupt, seq, invoiceID, sp.First, sp.Last, err, e.InvoiceID)
			}
			if first == 0 {
				first = seq
			}
			if !slices.ContainsFunc(evs, func(o invoice.Event) bool { return o.ID == e.ID }) {
				evs, raw = append(evs, e), append(raw, bytes.Clone(v)) // v lives as long as the transaction
			}
		}
		if first != 0 {
			alive = append(alive, OutboxSpan{First: first, Last: sp.Last})
		}
	}
	return evs, raw, alive, nil
}

// withSpan is spans and then the span of n entries ending at last (none for n == 0),
// in a new slice.
func withSpan(spans []OutboxSpan, last uint64, n int) []OutboxSpan {
	if n == 0 || last == 0 {
		return slices.Clip(spans)
	}
	return append(slices.Clip(spans), OutboxSpan{First: last - uint64(n) + 1, Last: last})
}

// Ref returns what the store knows of an invoice's last record.
func (s *Store) Ref(invoiceID string) (RecordRef, error) {
	var ref RecordRef
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		ref, err = getRef(tx, invoiceID)
		return err
	})
	return ref, err
}

// getRef reads an invoice's record reference (none for an invoice the store lacks).
func getRef(tx *bbolt.Tx, invoiceID string) (RecordRef, error) {
	inv, f, err := getInvoiceStored(tx, invoiceID)
	if errors.Is(err, ErrNotFound) {
		return RecordRef{}, nil
	}
	if err != nil {
		return RecordRef{}, err
	}
	return refOf(invoiceID, inv, f)
}

// rewriteRef writes the invoice id again with the record reference fn makes from its
// present one (when fn says so). An invoice the store lacks is left alone: nothing to
// note the reference on.
func rewriteRef(tx *bbolt.Tx, id string, fn func(RecordRef) (RecordRef, bool, error)) error {
	inv, f, err := getInvoiceStored(tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ref, err := refOf(id, inv, f)
	if err != nil {
		return err
	}
	ref, write, err := fn(ref)
	if err != nil || !write {
		return err
	}
	f.ref = encodeRef(ref, inv.Applied)
	return putInvoice(tx, *inv, f)
}

// refOf reads the record reference of inv, as getInvoiceStored found it (f); inv is
// nil for an invoice the store lacks.
func refOf(invoiceID string, inv *invoice.Invoice, f onFile) (RecordRef, error) {
	if inv == nil || f.ref == nil {
		return RecordRef{}, nil
	}
	ref, err := decodeRef(f.ref, func() ([]string, error) { return inv.Applied, nil })
	if err != nil {
		return ref, fmt.Errorf("%w: record of invoice %s: %v", ErrCorrupt, invoiceID, err)
	}
	return ref, nil
}

func restoredKey(shard int) []byte { return []byte("restored/" + strconv.Itoa(shard)) }

// RestoredUpTo is the changelog sequence up to which the store holds every record of a
// shard (0: none): a restore reads only the records after it.
func (s *Store) RestoredUpTo(shard int) (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(restoredKey(shard)); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return seq, err
}

// SetRestoredUpTo records that the store holds every record of a shard up to seq.
func (s *Store) SetRestoredUpTo(shard int, seq uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(restoredKey(shard), binary.BigEndian.AppendUint64(nil, seq))
	})
}

// allRecordedMark in the meta bucket says that every invoice of the store has a record
// in the changelog (SetAllRecorded); a write without a record removes it.
var allRecordedMark = []byte("all-recorded")

// SetAllRecorded notes that every invoice of the store has a record (after a pass of
// Unrecorded that recorded them all): Unrecorded then reads nothing, and a restart on a
// large file does not read every invoice (and page) again.
func (s *Store) SetAllRecorded() error {
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(allRecordedMark, []byte{1}) })
}

// notAllRecorded removes the note of SetAllRecorded: tx writes an invoice without a record.
func notAllRecorded(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(allRecordedMark) == nil {
		return nil
	}
	return meta.Delete(allRecordedMark)
}

// Unrecorded calls fn with each invoice the store holds that has no record in the
// changelog (a store from before the changelog), until fn returns an error. It reads
// them a thousand at a time, each thousand in a read transaction of its own; nothing
// once SetAllRecorded said that every one has a record.
func (s *Store) Unrecorded(fn func(invoice.Invoice) error) error {
	all := false
	if err := s.db.View(func(tx *bbolt.Tx) error {
		all = tx.Bucket(bucketMeta).Get(allRecordedMark) != nil
		return nil
	}); err != nil || all {
		return err
	}
	var after []byte
	for {
		var batch []invoice.Invoice
		err := s.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketInvoices).Cursor()
			k, _ := c.First()
			if after != nil {
				if k, _ = c.Seek(after); k != nil && string(k) == string(after) {
					k, _ = c.Next()
				}
			}
			for ; k != nil && len(batch) < 1000; k, _ = c.Next() {
				after = append(after[:0], k...)
				inv, f, err := getInvoiceStored(tx, string(k))
				if err != nil {
					return err
				}
				if f.ref == nil {
					batch = append(batch, *inv)
				}
			}
			if k == nil {
				after = nil // the end
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, inv := range batch {
			if err := fn(inv); err != nil {
				return err
			}
		}
		if after == nil {
			return nil
		}
	}
}

// Recorded notes the records written for invoices of a store from before the
// changelog (invoice id to sequence), in one transaction.
func (s *Store) Recorded(seqs map[string]uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for id, seq := range seqs {
			err := rewriteRef(tx, id, func(ref RecordRef) (RecordRef, bool, error) {
				return RecordRef{Seq: seq}, ref.Seq < seq, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
