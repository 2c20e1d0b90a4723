package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jsonw/jsonwtest"
)

// fillEvery sets every exported field of v (recursively through structs and pointers)
// to a value that is not its zero: a field the stored form forgets comes back zero.
func fillEvery(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // raw JSON
			v.SetBytes([]byte(`{"x":1}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillEvery(t, s.Index(0), n)
		v.Set(s)
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]string{"k": "v"}))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillEvery(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2024, 1, 2, 3, 4, 5, *n, time.FixedZone("", 5*3600))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillEvery(t, v.Field(i), n)
			}
		}
	default:
		t.Fatalf("fillEvery: kind %s", v.Kind())
	}
}

// Every field of an invoice survives the schema 2 encoding (a field added to
// invoice.Invoice and not to storedInvoice fails here).
func TestStoredInvoiceKeepsEveryField(t *testing.T) {
	var inv invoice.Invoice
	n := 0
	fillEvery(t, reflect.ValueOf(&inv).Elem(), &n)
	inv.InvoiceID, inv.Amount = "777777777123", 12345
	ref := encodeRef(RecordRef{Seq: 42, MessageID: inv.Applied[0], Outbox: 9}, inv.Applied)
	v, err := encodeInvoice(inv, onFile{history: []uint64{7, 1 << 40}, ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	got, f, err := decodeInvoice(inv.InvoiceID, v)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.history, []uint64{7, 1 << 40}) || !bytes.Equal(f.ref, ref) {
		t.Fatalf("history keys %v, record reference %x after the round trip", f.history, f.ref)
	}
	want, _ := json.Marshal(inv)
	have, _ := json.Marshal(got)
	if !bytes.Equal(want, have) {
		t.Fatalf("round trip lost fields:\nwant %s\nhave %s", want, have)
	}
	if bytes.Contains(v, []byte(inv.InvoiceID)) {
		t.Fatalf("the stored invoice repeats its id (the key): %s", v)
	}
}

// A history body comes back byte for byte, whatever its bytes; an invoice.created body
// the invoice rebuilds is not stored.
func TestHistoryBodyKeptByteForByte(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111111"
	bodies := [][]byte{
		[]byte(`{ "invoiceId": "191111111",  "id":"tx-1", "note":"<b>&amp;</b>" }`),
		[]byte(" {\"id\":\"tx-2\"}\n"),
		[]byte(`not json at all`),
		[]byte(`{"id":"tx-4","reason":"\u00e9"}`),
	}
	created := createdMsg(id)
	created.Created.CreatedAt = t0.Add(-time.Minute) // kept as sent: the invoice rebuilds the body
	mustApply(t, s, created)
	for i, b := range bodies {
		m := callbackMsg(id, "tx-"+string(rune('1'+i)), false)
		m.Payment.Raw = b
		mustApply(t, s, m)
	}
	inv, hist, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1+len(bodies) {
		t.Fatalf("%d history entries", len(hist))
	}
	createdBody, _ := json.Marshal(created.Created)
	if !bytes.Equal(hist[0].Body, createdBody) {
		t.Fatalf("invoice.created body = %s, want %s", hist[0].Body, createdBody)
	}
	for i, b := range bodies {
		if !bytes.Equal(hist[i+1].Body, b) {
			t.Errorf("body %d = %q, want %q", i, hist[i+1].Body, b)
		}
	}
	if inv.Version != int64(1+len(bodies)) {
		t.Fatalf("version %d", inv.Version)
	}
	var stored []byte
	s.db.View(func(tx *bbolt.Tx) error {
		_, v := tx.Bucket(bucketHistory).Cursor().First()
		stored = bytes.Clone(v)
		return nil
	})
	if bytes.Contains(stored, []byte(terminal)) {
		t.Fatalf("the invoice.created entry stores its body again: %s", stored)
	}
}

func TestRecordRefRoundTrip(t *testing.T) {
	applied := []string{"191111111", "cb:191111111:2:ok"}
	ids := func() ([]string, error) { return applied, nil }
	spans := []OutboxSpan{{First: 1 << 33, Last: 1<<33 + 2}, {First: 9, Last: 9}}
	for _, ref := range []RecordRef{{}, {Seq: 1}, {Seq: 1 << 40, MessageID: "cb:1:2:ok", Outbox: 77}, {Seq: 9, Adopted: true, MessageID: "x"},
		{Seq: 3, MessageID: applied[1], Outbox: 5}, {Seq: 2, MessageID: applied[0]},
		{Seq: 4, MessageID: applied[1], Outbox: 1<<33 + 2, Unpublished: spans}, {Seq: 5, MessageID: "x", Adopted: true, Unpublished: spans[1:]},
		{Seq: 6, Unpublished: spans}} {
		v := encodeRef(ref, applied)
		got, err := decodeRef(v, ids)
		if err != nil || !reflect.DeepEqual(got, ref) {
			t.Errorf("%+v -> %+v, %v", ref, got, err)
		}
		if slices.Contains(applied, ref.MessageID) && bytes.Contains(v, []byte(ref.MessageID)) {
			t.Errorf("%+v: the message id is written again: %q", ref, v)
		}
		if ref.Unpublished == nil || ref.MessageID == "x" {
			continue
		}
		// a worker from before the spans knows no refSpans flag: it reads the rest alike
		old := bytes.Clone(v)
		old[0] &^= refSpans
		want := ref
		want.Unpublished = nil
		if got, err := decodeRef(old, ids); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v read without its spans: %+v, %v; want %+v", ref, got, err, want)
		}
	}
	for _, v := range [][]byte{{refBinary}, {refBinary | refSpans, 1, 3, 1}, {refBinary | refSpans | refMessage, 1, 9, 'x'}} {
		if _, err := decodeRef(v, ids); err == nil {
			t.Errorf("a ref cut short decoded: %q", v)
		}
	}
}

// writeSchema1 writes a paid invoice as schema 1 did (encoding/json of invoice.Invoice,
// history with the body in base64, the record reference in JSON).
func writeSchema1(t *testing.T, path, id string, body []byte) invoice.Invoice {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inv := invoice.Invoice{InvoiceID: id, State: invoice.StatePaid, Kind: "payment", Amount: 10000, Currency: "KZT",
		Terminal: terminal, TransactionID: "tx-1", CreatedAt: t0, UpdatedAt: t0, PaidAt: t0.In(time.FixedZone("", 5*3600)),
		Version: 2, Applied: []string{id, "cb:" + id + ":tx-1:ok"}}
	type v1Entry struct {
		HistoryEntry
		Raw []byte `json:"raw"`
	}
	verified := true
	entries := []v1Entry{
		{HistoryEntry: HistoryEntry{MessageID: id, Kind: invoice.MsgCreated, ReceivedAt: t0, AppliedAt: t0, StateAfter: invoice.StateCreated}, Raw: []byte(`{"invoiceId":"` + id + `"}`)},
		{HistoryEntry: HistoryEntry{MessageID: inv.Applied[1], Kind: invoice.MsgSuccess, ReceivedAt: t0, AppliedAt: t0.Add(time.Second),
			Verified: &verified, StateBefore: invoice.StateCreated, StateAfter: invoice.StatePaid, Events: []string{id + "-2"}}, Raw: body},
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		v, _ := json.Marshal(inv)
		tx.Bucket(bucketInvoices).Put([]byte(id), v)
		for i, e := range entries {
			v, _ := json.Marshal(e)
			tx.Bucket(bucketHistory).Put(binary.BigEndian.AppendUint64(legacyHistoryPrefix(id), uint64(i+1)), v)
		}
		tx.Bucket(bucketHistory).SetSequence(uint64(len(entries)))
		v, _ = json.Marshal(RecordRef{Seq: 42, MessageID: inv.Applied[1], Outbox: 3})
		tx.Bucket(bucketRecords).Put([]byte(id), v)
		tx.Bucket(bucketMeta).Put(stateKey(invoice.StatePaid), binary.BigEndian.AppendUint64(nil, 1))
		return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// A file of schema 1 is upgraded on open: it reads as it did, takes new messages, and
// UpgradeRecords rewrites its records in schema 2 with the same content.
func TestOpenUpgradesASchema1File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	const id = "191111111"
	body := []byte(`{ "id": "tx-1" }`)
	want := writeSchema1(t, path, id, body)

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		inv, hist, err := s.Get(id)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		a, _ := json.Marshal(inv)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: invoice\n%s\nwant\n%s", stage, a, b)
		}
		if len(hist) != 2 || !bytes.Equal(hist[1].Body, body) || hist[1].StateBefore != invoice.StateCreated ||
			hist[1].Verified == nil || !*hist[1].Verified || !hist[1].ReceivedAt.Equal(t0) || !hist[1].AppliedAt.Equal(t0.Add(time.Second)) ||
			string(hist[0].Body) != `{"invoiceId":"`+id+`"}` {
			t.Fatalf("%s: history %+v", stage, hist)
		}
		ref, err := s.Ref(id)
		if err != nil || !reflect.DeepEqual(ref, RecordRef{Seq: 42, MessageID: want.Applied[1], Outbox: 3}) {
			t.Fatalf("%s: ref %+v, %v", stage, ref, err)
		}
	}
	check("schema 1 records")
	n, err := s.UpgradeRecords()
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("upgraded %d records, want 4 (invoice, two history entries, record reference)", n)
	}
	check("upgraded")
	if n, _ := s.UpgradeRecords(); n != 0 {
		t.Fatalf("a second upgrade rewrote %d records", n)
	}
	again := callbackMsg(id, "tx-1", true)
	again.ID = want.Applied[1]
	r := mustApply(t, s, again)
	if r.Outcome != Duplicate {
		t.Fatalf("the schema 1 invoice's applied ids were lost: %s", r.Outcome)
	}
	s.Close()
	if v := schemaOf(t, path); v != schemaVersion {
		t.Fatalf("schema %q after open, want %q", v, schemaVersion)
	}
	db, _ := bbolt.Open(path, 0o600, nil)
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketInvoices, bucketHistory} {
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				if bytes.HasPrefix(v, legacyInvoice) || bytes.Contains(v, []byte(`"receivedAt"`)) {
					t.Errorf("%s %q still in schema 1: %s", name, k, v)
				}
				return nil
			})
		}
		return nil
	})
}

// Tools read the file without this package (the chaos tests' collector): the invoice's
// state, version and applied ids and each history entry's id, kind, apply time, state
// after and event ids keep their JSON names in schema 2, and in schema 3 the invoice
// lists its history entries' keys ("h": each an 8-byte big-endian sequence).
func TestTheFieldsToolsReadKeepTheirNames(t *testing.T) {
	s := openTest(t, Options{})
	const id = "191111111"
	mustApply(t, s, createdMsg(id))
	mustApply(t, s, callbackMsg(id, "tx-1", true))
	var inv struct {
		State   string   `json:"state"`
		Version int      `json:"version"`
		Applied []string `json:"applied"`
		History []uint64 `json:"h"`
	}
	type toolHistory struct {
		MessageID  string    `json:"messageId"`
		Kind       string    `json:"kind"`
		AppliedAt  time.Time `json:"appliedAt"`
		StateAfter string    `json:"stateAfter"`
		Events     []string  `json:"events"`
	}
	var hist []toolHistory
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := json.Unmarshal(tx.Bucket(bucketInvoices).Get([]byte(id)), &inv); err != nil {
			return err
		}
		for _, seq := range inv.History {
			var h toolHistory
			if err := json.Unmarshal(tx.Bucket(bucketHistory).Get(binary.BigEndian.AppendUint64(nil, seq)), &h); err != nil {
				return err
			}
			hist = append(hist, h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != "paid" || inv.Version != 2 || len(inv.Applied) != 2 {
		t.Fatalf("invoice as a tool reads it: %+v", inv)
	}
	if len(hist) != 2 || hist[1].MessageID != "cb:191111111:tx-1:success" || hist[1].Kind != "success" || !hist[1].AppliedAt.Equal(t0) ||
		hist[1].StateAfter != "paid" || len(hist[1].Events) != 1 || hist[0].StateAfter != "created" {
		t.Fatalf("history as a tool reads it: %+v", hist)
	}
}

func TestStoredInvoiceAppendJSONIsMarshal(t *testing.T) {
	jsonwtest.Check(t, 3000, func(s *storedInvoice) ([]byte, error) { return s.appendJSON(nil) })
}

func TestStoredHistoryAppendJSONIsMarshal(t *testing.T) {
	jsonwtest.Check(t, 3000, func(s *storedHistory) ([]byte, error) { return s.appendJSON(nil) })
}
