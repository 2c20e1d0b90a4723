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

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jsonw"
)

// How records are kept (schema 2). Schema 1 wrote invoice.Invoice and HistoryEntry as
// encoding/json makes them, with the history body base64-encoded and the invoice's id in
// its value: 5.6 KB a paid invoice in the file (bench/NOTES.md). Schema 2 writes the
// same content in about a third of the space:
//
//   - invoices: short keys, no invoiceId (the key is the id). "state", "version",
//     "applied" and "pending" keep their names: tools read them straight from the file
//     (the chaos tests' collector).
//   - history: short keys besides "messageId", "kind", "appliedAt", "stateAfter" and
//     "events" (read by the same tools); the body verbatim as a JSON value when it is
//     one (no base64); no receivedAt when it is appliedAt; no body for an
//     invoice.created whose body is what the invoice holds (rebuilt on read, byte for
//     byte: checked when written).
//   - records: binary (RecordRef).
//
// Records of schema 1 stay readable: a file of schema 1 is upgraded on open (its
// version set to 2) and its records are rewritten when they change, or all at once by
// `worker compact`. A worker of schema 1 refuses a file of schema 2.
//
// Schema 3 keys a history entry by its sequence alone (historyKey) and lists the keys in
// its invoice ("h"). Under <invoiceId> 0x00 <seq>, an invoice's later entries went
// between the entries of the invoices created after it and split full pages: a worker
// committing a few messages at a time kept its history pages 74-79% full (bench/NOTES.md,
// sessions 12 and 13). Entries of a file upgraded from schema 2 stay under their old keys
// and are read first (eachHistory); a worker of schema 2 refuses a file of schema 3.
//
// Schema 4 keeps an invoice's record reference in the invoice ("ref": encodeRef's bytes)
// instead of the records bucket, where each reference took a key, an element header and
// pages split by its own growth: 35 bytes in use, 60-100 in the file, for 7 bytes of
// reference. A reference found in the records bucket (a file from before) is read and
// moved into its invoice when that is next written, or by UpgradeRecords.

// fillSequential is the fill of the pages of buckets whose keys come in order (invoice
// ids are a sequence; history keys follow them): bbolt's default of 0.5 leaves every
// page of an append-only bucket half empty.
const fillSequential = 1.0

// bucketFor returns a bucket to write, with the fill its keys call for.
func bucketFor(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	b := tx.Bucket(name)
	if bytes.Equal(name, bucketInvoices) || bytes.Equal(name, bucketHistory) || bytes.Equal(name, bucketRecords) {
		b.FillPercent = fillSequential
	}
	return b
}

// storedInvoice is invoice.Invoice as schema 2 keeps it.
type storedInvoice struct {
	State             invoice.State       `json:"state"`
	Kind              string              `json:"k,omitempty"`
	Amount            epay.Amount         `json:"a,omitempty"`
	Currency          string              `json:"c,omitempty"`
	Terminal          string              `json:"t,omitempty"`
	Description       string              `json:"d,omitempty"`
	AccountID         string              `json:"ac,omitempty"`
	OrderID           string              `json:"o,omitempty"`
	Metadata          map[string]string   `json:"m,omitempty"`
	TransactionID     string              `json:"tx,omitempty"`
	ReasonCode        int                 `json:"rc,omitempty"`
	Reason            string              `json:"r,omitempty"`
	ReviewReason      string              `json:"rr,omitempty"`
	CardMask          string              `json:"cm,omitempty"`
	DoublePayment     bool                `json:"dp,omitempty"`
	OtherTransactions []string            `json:"ot,omitempty"`
	CreatedAt         time.Time           `json:"ca,omitzero"`
	UpdatedAt         time.Time           `json:"ua,omitzero"`
	PaidAt            time.Time           `json:"pa,omitzero"`
	Version           int64               `json:"version"`
	Applied           []string            `json:"applied,omitempty"`
	Pending           []invoice.Message   `json:"pending,omitempty"`
	Confirmation      string              `json:"cf,omitempty"`
	ConfirmClaim      *invoice.Payment    `json:"cc,omitempty"`
	ConfirmSince      time.Time           `json:"cs,omitzero"`
	StatusChecks      int                 `json:"sc,omitempty"`
	LastStatus        string              `json:"ls,omitempty"`
	LastStatusAt      time.Time           `json:"lsa,omitzero"`
	Resolution        *invoice.Resolution `json:"res,omitempty"`
	Operations        []invoice.Operation `json:"ops,omitempty"`
	Refunded          epay.Amount         `json:"rf,omitempty"`
	Charged           epay.Amount         `json:"ch,omitempty"`
	Cancelled         bool                `json:"cn,omitempty"`
	// History are the keys of the invoice's history entries (schema 3), oldest first.
	History []uint64 `json:"h,omitempty"`
	// Ref is the invoice's record reference (schema 4; encodeRef's bytes, base64).
	Ref []byte `json:"ref,omitempty"`
}

// encodeInvoice keeps inv, with the keys of its history entries and its record
// reference (f).
func encodeInvoice(inv invoice.Invoice, f onFile) ([]byte, error) {
	s := storedInvoice{History: f.history, Ref: f.ref, State: inv.State, Kind: inv.Kind, Amount: inv.Amount, Currency: inv.Currency,
		Terminal: inv.Terminal, Description: inv.Description, AccountID: inv.AccountID, OrderID: inv.OrderID,
		Metadata: inv.Metadata, TransactionID: inv.TransactionID, ReasonCode: inv.ReasonCode, Reason: inv.Reason,
		ReviewReason: inv.ReviewReason, CardMask: inv.CardMask, DoublePayment: inv.DoublePayment,
		OtherTransactions: inv.OtherTransactions, CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt, PaidAt: inv.PaidAt,
		Version: inv.Version, Applied: inv.Applied, Pending: inv.Pending, Confirmation: inv.Confirmation,
		ConfirmClaim: inv.ConfirmClaim, ConfirmSince: inv.ConfirmSince, StatusChecks: inv.StatusChecks,
		LastStatus: inv.LastStatus, LastStatusAt: inv.LastStatusAt, Resolution: inv.Resolution,
		Operations: inv.Operations, Refunded: inv.Refunded, Charged: inv.Charged, Cancelled: inv.Cancelled}
	return s.appendJSON(make([]byte, 0, 512))
}

// appendJSON appends s as json.Marshal writes it, without reflection (jsonw; held to
// Marshal by TestStoredInvoiceAppendJSONIsMarshal).
func (s *storedInvoice) appendJSON(b []byte) ([]byte, error) {
	o := jsonw.Start(b)
	o.String("state", string(s.State))
	o.StringOmitEmpty("k", s.Kind)
	jsonw.AppendedOmitEmpty(&o, "a", s.Amount)
	o.StringOmitEmpty("c", s.Currency)
	o.StringOmitEmpty("t", s.Terminal)
	o.StringOmitEmpty("d", s.Description)
	o.StringOmitEmpty("ac", s.AccountID)
	o.StringOmitEmpty("o", s.OrderID)
	o.StringMapOmitEmpty("m", s.Metadata)
	o.StringOmitEmpty("tx", s.TransactionID)
	o.IntOmitEmpty("rc", int64(s.ReasonCode))
	o.StringOmitEmpty("r", s.Reason)
	o.StringOmitEmpty("rr", s.ReviewReason)
	o.StringOmitEmpty("cm", s.CardMask)
	o.BoolOmitEmpty("dp", s.DoublePayment)
	o.StringsOmitEmpty("ot", s.OtherTransactions)
	o.TimeOmitZero("ca", s.CreatedAt)
	o.TimeOmitZero("ua", s.UpdatedAt)
	o.TimeOmitZero("pa", s.PaidAt)
	o.Int("version", s.Version)
	o.StringsOmitEmpty("applied", s.Applied)
	if len(s.Pending) > 0 {
		o.Value("pending", s.Pending)
	}
	o.StringOmitEmpty("cf", s.Confirmation)
	if s.ConfirmClaim != nil {
		o.Value("cc", s.ConfirmClaim)
	}
	o.TimeOmitZero("cs", s.ConfirmSince)
	o.IntOmitEmpty("sc", int64(s.StatusChecks))
	o.StringOmitEmpty("ls", s.LastStatus)
	o.TimeOmitZero("lsa", s.LastStatusAt)
	if s.Resolution != nil {
		o.Value("res", s.Resolution)
	}
	if len(s.Operations) > 0 {
		o.Value("ops", s.Operations)
	}
	jsonw.AppendedOmitEmpty(&o, "rf", s.Refunded)
	jsonw.AppendedOmitEmpty(&o, "ch", s.Charged)
	o.BoolOmitEmpty("cn", s.Cancelled)
	if len(s.History) > 0 {
		o.Uints("h", s.History)
	}
	o.BytesOmitEmpty("ref", s.Ref)
	return o.End()
}

// legacyInvoice is how a schema 1 invoice starts.
var legacyInvoice = []byte(`{"invoiceId":`)

// decodeInvoice reads an invoice of any schema, with the keys of its history entries
// (schema 3; an entry written before is found by its invoice's prefix: legacyHistoryPrefix)
// and its record reference (schema 4; one written before is in the records bucket:
// getInvoiceStored).
func decodeInvoice(id string, v []byte) (invoice.Invoice, onFile, error) {
	var inv invoice.Invoice
	if bytes.HasPrefix(v, legacyInvoice) {
		err := json.Unmarshal(v, &inv)
		return inv, onFile{}, err
	}
	var s storedInvoice
	if err := json.Unmarshal(v, &s); err != nil {
		return inv, onFile{}, err
	}
	return invoice.Invoice{InvoiceID: id, State: s.State, Kind: s.Kind, Amount: s.Amount, Currency: s.Currency,
		Terminal: s.Terminal, Description: s.Description, AccountID: s.AccountID, OrderID: s.OrderID,
		Metadata: s.Metadata, TransactionID: s.TransactionID, ReasonCode: s.ReasonCode, Reason: s.Reason,
		ReviewReason: s.ReviewReason, CardMask: s.CardMask, DoublePayment: s.DoublePayment,
		OtherTransactions: s.OtherTransactions, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, PaidAt: s.PaidAt,
		Version: s.Version, Applied: s.Applied, Pending: s.Pending, Confirmation: s.Confirmation,
		ConfirmClaim: s.ConfirmClaim, ConfirmSince: s.ConfirmSince, StatusChecks: s.StatusChecks,
		LastStatus: s.LastStatus, LastStatusAt: s.LastStatusAt, Resolution: s.Resolution,
		Operations: s.Operations, Refunded: s.Refunded, Charged: s.Charged, Cancelled: s.Cancelled}, onFile{history: s.History, ref: s.Ref}, nil
}

// appendJSON appends s as json.Marshal writes it, without reflection (jsonw; held to
// Marshal by TestStoredHistoryAppendJSONIsMarshal).
func (s *storedHistory) appendJSON(b []byte) ([]byte, error) {
	o := jsonw.Start(b)
	o.String("messageId", s.MessageID)
	o.String("kind", string(s.Kind))
	if s.ReceivedAt != nil {
		o.Time("r", *s.ReceivedAt)
	}
	o.Time("appliedAt", s.AppliedAt)
	if s.Verified != nil {
		o.Bool("v", *s.Verified)
	}
	o.StringOmitEmpty("b", string(s.Before))
	o.String("stateAfter", string(s.StateAfter))
	o.StringsOmitEmpty("events", s.Events)
	o.RawOmitEmpty("d", s.Body)
	o.BytesOmitEmpty("raw", s.Raw)
	o.BoolOmitEmpty("c", s.Created)
	o.BoolOmitEmpty("p", s.Pruned)
	if s.LegacyReceivedAt != nil {
		o.Time("receivedAt", *s.LegacyReceivedAt)
	}
	if s.LegacyVerified != nil {
		o.Bool("verified", *s.LegacyVerified)
	}
	o.StringOmitEmpty("stateBefore", string(s.LegacyStateBefore))
	return o.End()
}

// storedHistory is a HistoryEntry as either schema keeps it: the long keys of schema 1
// (receivedAt, verified, stateBefore, raw: the body in base64) or the short ones of 2.
type storedHistory struct {
	MessageID  string              `json:"messageId"`
	Kind       invoice.MessageKind `json:"kind"`
	ReceivedAt *time.Time          `json:"r,omitempty"` // nil: appliedAt
	AppliedAt  time.Time           `json:"appliedAt"`
	Verified   *bool               `json:"v,omitempty"`
	Before     invoice.State       `json:"b,omitempty"`
	StateAfter invoice.State       `json:"stateAfter"`
	Events     []string            `json:"events,omitempty"`
	Body       json.RawMessage     `json:"d,omitempty"`   // the body verbatim, when it is a JSON value (encodeHistory)
	Raw        []byte              `json:"raw,omitempty"` // the body otherwise (base64)
	// Created: the body is the invoice.created that the invoice's own fields make.
	Created bool `json:"c,omitempty"`
	// Pruned: the body was dropped by the retention (Store.Prune).
	Pruned bool `json:"p,omitempty"`

	LegacyReceivedAt  *time.Time    `json:"receivedAt,omitempty"`
	LegacyVerified    *bool         `json:"verified,omitempty"`
	LegacyStateBefore invoice.State `json:"stateBefore,omitempty"`
}

// encodeHistory keeps h; inv is the invoice after h's change (an invoice.created body
// that inv rebuilds exactly is not kept).
func encodeHistory(h HistoryEntry, inv invoice.Invoice) ([]byte, error) {
	s := storedHistory{MessageID: h.MessageID, Kind: h.Kind, AppliedAt: h.AppliedAt, Verified: h.Verified,
		Before: h.StateBefore, StateAfter: h.StateAfter, Events: h.Events, Pruned: h.Pruned}
	if !h.ReceivedAt.Equal(h.AppliedAt) || h.ReceivedAt.Location() != h.AppliedAt.Location() {
		r := h.ReceivedAt
		s.ReceivedAt = &r
	}
	var verbatim []byte
	switch {
	case len(h.Body) == 0:
	case h.Kind == invoice.MsgCreated && bytes.Equal(h.Body, createdBody(inv)):
		s.Created = true
	case !isSpace(h.Body[0]) && !isSpace(h.Body[len(h.Body)-1]) && json.Valid(h.Body):
		verbatim = h.Body
	default:
		s.Raw = h.Body
	}
	b, err := s.appendJSON(make([]byte, 0, 256+len(h.Body)))
	if err != nil || verbatim == nil {
		return b, err
	}
	// spliced in by hand: json.Marshal would compact a RawMessage and escape its HTML
	// characters, and the body is kept byte for byte (json.Unmarshal into a RawMessage
	// gives back exactly these bytes)
	b = append(b[:len(b)-1], `,"d":`...)
	b = append(b, verbatim...)
	return append(b, '}'), nil
}

// isSpace: a body with whitespace around its JSON value is kept base64 (a RawMessage
// read back would not have it).
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// decodeHistory reads an entry of either schema; inv is the entry's invoice as stored.
func decodeHistory(v []byte, inv invoice.Invoice) (HistoryEntry, error) {
	var s storedHistory
	if err := json.Unmarshal(v, &s); err != nil {
		return HistoryEntry{}, err
	}
	h := HistoryEntry{MessageID: s.MessageID, Kind: s.Kind, ReceivedAt: s.AppliedAt, AppliedAt: s.AppliedAt,
		Verified: s.Verified, StateBefore: s.Before, StateAfter: s.StateAfter, Events: s.Events, Pruned: s.Pruned}
	if s.ReceivedAt != nil {
		h.ReceivedAt = *s.ReceivedAt
	}
	if s.LegacyReceivedAt != nil {
		h.ReceivedAt = *s.LegacyReceivedAt
	}
	if s.LegacyVerified != nil {
		h.Verified = s.LegacyVerified
	}
	if s.LegacyStateBefore != "" {
		h.StateBefore = s.LegacyStateBefore
	}
	switch {
	case s.Created:
		h.Body = createdBody(inv)
	case len(s.Body) > 0:
		h.Body = bytes.Clone(s.Body)
	case len(s.Raw) > 0:
		h.Body = s.Raw
	}
	return h, nil
}

// createdBody is the invoice.created body (as addHistory writes it) that inv's own
// fields make.
func createdBody(inv invoice.Invoice) []byte {
	c := invoice.Created{InvoiceID: inv.InvoiceID, Kind: inv.Kind, Amount: inv.Amount, Currency: inv.Currency,
		Terminal: inv.Terminal, Description: inv.Description, AccountID: inv.AccountID, OrderID: inv.OrderID,
		Metadata: inv.Metadata, CreatedAt: inv.CreatedAt}
	b, err := c.AppendJSON(make([]byte, 0, 256))
	if err != nil {
		return nil
	}
	return b
}

// Schema 2 keeps a RecordRef in binary: a flags byte, the sequence and the outbox entry
// as uvarints, then the message id, or (refApplied) its index among the invoice's
// applied ids, where it is already written (an invoice's applied ids only grow, and
// an invoice replaced by an adopted record gets its reference in the same transaction).
// The unpublished spans (refSpans) come last, a count and then each span's first entry
// and length less one, as uvarints: a worker from before them reads the rest of the
// reference and ignores them; a message id written out is then preceded by its length.
const (
	refBinary  = 0x80 // set in every binary ref (a schema 1 ref starts with '{')
	refAdopted = 0x01
	refOutbox  = 0x02
	refMessage = 0x04 // the message id follows
	refApplied = 0x08 // the index of the message id in the invoice's applied ids follows
	refSpans   = 0x10 // the unpublished spans end the ref
)

// encodeRef keeps ref; applied are the applied ids of the invoice as written with it.
func encodeRef(ref RecordRef, applied []string) []byte {
	flags := byte(refBinary)
	if ref.Adopted {
		flags |= refAdopted
	}
	if ref.Outbox != 0 {
		flags |= refOutbox
	}
	if len(ref.Unpublished) > 0 {
		flags |= refSpans
	}
	idx := -1
	if ref.MessageID != "" {
		if idx = slices.Index(applied, ref.MessageID); idx >= 0 {
			flags |= refApplied
		} else {
			flags |= refMessage
		}
	}
	b := binary.AppendUvarint([]byte{flags}, ref.Seq)
	if ref.Outbox != 0 {
		b = binary.AppendUvarint(b, ref.Outbox)
	}
	switch {
	case idx >= 0:
		b = binary.AppendUvarint(b, uint64(idx))
	case ref.MessageID != "" && flags&refSpans != 0:
		b = append(binary.AppendUvarint(b, uint64(len(ref.MessageID))), ref.MessageID...)
	case ref.MessageID != "":
		return append(b, ref.MessageID...) // the rest of the ref, as before the spans
	}
	if flags&refSpans != 0 {
		b = binary.AppendUvarint(b, uint64(len(ref.Unpublished)))
		for _, sp := range ref.Unpublished {
			b = binary.AppendUvarint(binary.AppendUvarint(b, sp.First), sp.Last-sp.First)
		}
	}
	return b
}

var errShortRef = errors.New("record reference cut short")

// decodeRef reads a reference of either schema; applied gives the applied ids of its
// invoice (called only for a reference that points into them).
func decodeRef(v []byte, applied func() ([]string, error)) (RecordRef, error) {
	var ref RecordRef
	if len(v) == 0 || v[0]&refBinary == 0 {
		err := json.Unmarshal(v, &ref)
		return ref, err
	}
	flags, rest := v[0], v[1:]
	ref.Adopted = flags&refAdopted != 0
	var n int
	if ref.Seq, n = binary.Uvarint(rest); n <= 0 {
		return ref, errShortRef
	}
	rest = rest[n:]
	if flags&refOutbox != 0 {
		if ref.Outbox, n = binary.Uvarint(rest); n <= 0 {
			return ref, errShortRef
		}
		rest = rest[n:]
	}
	switch {
	case flags&refMessage != 0 && flags&refSpans == 0:
		ref.MessageID = string(rest)
		return ref, nil
	case flags&refMessage != 0:
		l, n := binary.Uvarint(rest)
		if n <= 0 || uint64(len(rest)-n) < l {
			return ref, errShortRef
		}
		ref.MessageID, rest = string(rest[n:n+int(l)]), rest[n+int(l):]
	case flags&refApplied != 0:
		idx, n := binary.Uvarint(rest)
		if n <= 0 {
			return ref, errShortRef
		}
		rest = rest[n:]
		ids, err := applied()
		if err != nil {
			return ref, err
		}
		if idx >= uint64(len(ids)) {
			return ref, fmt.Errorf("record reference to applied id %d of %d", idx, len(ids))
		}
		ref.MessageID = ids[idx]
	}
	if flags&refSpans == 0 {
		return ref, nil
	}
	return ref, decodeSpans(rest, &ref)
}

// decodeSpans reads the unpublished spans that end a binary ref.
func decodeSpans(rest []byte, ref *RecordRef) error {
	count, n := binary.Uvarint(rest)
	if n <= 0 || count > uint64(len(rest)) { // a span takes two bytes at least
		return errShortRef
	}
	rest = rest[n:]
	ref.Unpublished = make([]OutboxSpan, 0, count)
	for range count {
		first, n := binary.Uvarint(rest)
		if n <= 0 {
			return errShortRef
		}
		rest = rest[n:]
		length, n := binary.Uvarint(rest)
		if n <= 0 {
			return errShortRef
		}
		rest = rest[n:]
		ref.Unpublished = append(ref.Unpublished, OutboxSpan{First: first, Last: first + length})
	}
	return nil
}

// upgradeValue rewrites a record of bucket in schema 2 (nil: it is already, or the
// bucket keeps no records).
func upgradeValue(tx *bbolt.Tx, bucket, k, v []byte) ([]byte, error) {
	switch {
	case bytes.Equal(bucket, bucketInvoices) && bytes.HasPrefix(v, legacyInvoice):
		inv, f, err := decodeInvoice(string(k), v)
		if err != nil {
			return nil, fmt.Errorf("%w: invoice %s: %v", ErrCorrupt, k, err)
		}
		return encodeInvoice(inv, f)
	case bytes.Equal(bucket, bucketHistory):
		var s struct {
			Legacy *time.Time `json:"receivedAt"` // every schema 1 entry has it, no schema 2 one
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%w: history %q: %v", ErrCorrupt, k, err)
		}
		if s.Legacy == nil {
			return nil, nil
		}
		id, _, _ := bytes.Cut(k, []byte{0})
		inv, err := getInvoice(tx, string(id))
		if err != nil {
			return nil, err
		}
		h, err := decodeHistory(v, *inv)
		if err != nil {
			return nil, fmt.Errorf("%w: history %q: %v", ErrCorrupt, k, err)
		}
		return encodeHistory(h, *inv)
	}
	return nil, nil
}
