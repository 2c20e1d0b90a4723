package epay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// Errors returned by DecodeCallback and Callback.Validate. Each is wrapped with context;
// test for them with errors.Is.
var (
	ErrNotJSONObject = errors.New("callback body is not a JSON object")
	ErrDuplicateKey  = errors.New("callback body repeats a key")
	ErrFieldType     = errors.New("callback field has the wrong type")
	// ErrCaseVariantKey: a key that is not a known key but matches one ignoring case
	// (InvoiceId, AMOUNT, Secret_Hash). encoding/json matches keys to struct fields that
	// way, so a reader using it could see another callback than the one verified.
	ErrCaseVariantKey = errors.New("callback key differs from a known key only in case")
)

// Callback is what ePay POSTs to postLink (success) or failurePostLink (failure).
//
// Types drift between ePay endpoints, so every field is decoded tolerantly: strings
// accept numbers and booleans, numbers accept strings, `CardType` and `cardType` are the
// same field. Fields the type does not know are kept in Extra, and Raw is the body
// exactly as received: it is what gets stored and forwarded, never a re-encoding.
type Callback struct {
	ID             string // ePay's transaction id
	InvoiceID      string
	InvoiceIDAlt   string
	Code           string // "ok" on success, "error" on failure
	Reason         string
	ReasonCode     int
	Amount         Amount
	AmountBonus    Amount
	Currency       string
	Terminal       string
	AccountID      string
	Description    string
	Language       string
	DateTime       string // RFC 3339 with nanoseconds and zone, as sent
	ApprovalCode   string
	CardID         string
	CardMask       string
	CardType       string
	Issuer         string
	Reference      string
	IntReference   string
	Secure         string // "yes"/"no" (a boolean elsewhere becomes "true"/"false")
	Secure3D       string
	SecureDetails  string
	TokenRecipient string
	Name           string
	Email          string
	Phone          string
	IP             string
	IPCity         string
	IPCountry      string
	IPDistrict     string
	IPRegion       string
	IPLatitude     float64
	IPLongitude    float64
	SecretHash     string

	// Extra holds every top-level field this type does not know, verbatim.
	Extra map[string]json.RawMessage
	// Raw is the body as received.
	Raw []byte
}

// Succeeded reports whether ePay says the payment went through (code "ok").
func (c *Callback) Succeeded() bool { return strings.EqualFold(c.Code, "ok") }

// Time parses DateTime. It returns the zero time and an error when ePay sent none or
// sent something that is not RFC 3339.
func (c *Callback) Time() (time.Time, error) { return time.Parse(time.RFC3339Nano, c.DateTime) }

// Validate checks what every callback must carry to be routed: a well-formed
// invoiceId and transaction id. Errors wrap ErrInvoiceID or ErrTransactionID.
func (c *Callback) Validate() error {
	return errors.Join(ValidateInvoiceID(c.InvoiceID), ValidateTransactionID(c.ID))
}

// field binds a JSON key to where its value goes.
type field struct {
	str *string
	num *int
	flt *float64
	amt *Amount
}

// knownFields are the keys Callback decodes, each with where its value goes. A key's index
// is its bit in DecodeCallback's set of keys seen, so there are at most 64.
var knownFields = [...]struct {
	key string
	get func(*Callback) field
}{
	{"id", func(c *Callback) field { return field{str: &c.ID} }},
	{"invoiceId", func(c *Callback) field { return field{str: &c.InvoiceID} }},
	{"invoiceID", func(c *Callback) field { return field{str: &c.InvoiceID} }},
	{"invoiceIdAlt", func(c *Callback) field { return field{str: &c.InvoiceIDAlt} }},
	{"code", func(c *Callback) field { return field{str: &c.Code} }},
	{"reason", func(c *Callback) field { return field{str: &c.Reason} }},
	{"reasonCode", func(c *Callback) field { return field{num: &c.ReasonCode} }},
	{"amount", func(c *Callback) field { return field{amt: &c.Amount} }},
	{"amountBonus", func(c *Callback) field { return field{amt: &c.AmountBonus} }},
	{"currency", func(c *Callback) field { return field{str: &c.Currency} }},
	{"terminal", func(c *Callback) field { return field{str: &c.Terminal} }},
	{"accountId", func(c *Callback) field { return field{str: &c.AccountID} }},
	{"accountID", func(c *Callback) field { return field{str: &c.AccountID} }},
	{"description", func(c *Callback) field { return field{str: &c.Description} }},
	{"language", func(c *Callback) field { return field{str: &c.Language} }},
	{"dateTime", func(c *Callback) field { return field{str: &c.DateTime} }},
	{"approvalCode", func(c *Callback) field { return field{str: &c.ApprovalCode} }},
	{"cardId", func(c *Callback) field { return field{str: &c.CardID} }},
	{"cardID", func(c *Callback) field { return field{str: &c.CardID} }},
	{"cardMask", func(c *Callback) field { return field{str: &c.CardMask} }},
	{"cardType", func(c *Callback) field { return field{str: &c.CardType} }},
	{"CardType", func(c *Callback) field { return field{str: &c.CardType} }},
	{"issuer", func(c *Callback) field { return field{str: &c.Issuer} }},
	{"reference", func(c *Callback) field { return field{str: &c.Reference} }},
	{"intReference", func(c *Callback) field { return field{str: &c.IntReference} }},
	{"secure", func(c *Callback) field { return field{str: &c.Secure} }},
	{"secure3D", func(c *Callback) field { return field{str: &c.Secure3D} }},
	{"secureDetails", func(c *Callback) field { return field{str: &c.SecureDetails} }},
	{"tokenRecipient", func(c *Callback) field { return field{str: &c.TokenRecipient} }},
	{"name", func(c *Callback) field { return field{str: &c.Name} }},
	{"email", func(c *Callback) field { return field{str: &c.Email} }},
	{"phone", func(c *Callback) field { return field{str: &c.Phone} }},
	{"ip", func(c *Callback) field { return field{str: &c.IP} }},
	{"ipCity", func(c *Callback) field { return field{str: &c.IPCity} }},
	{"ipCountry", func(c *Callback) field { return field{str: &c.IPCountry} }},
	{"ipDistrict", func(c *Callback) field { return field{str: &c.IPDistrict} }},
	{"ipRegion", func(c *Callback) field { return field{str: &c.IPRegion} }},
	{"ipLatitude", func(c *Callback) field { return field{flt: &c.IPLatitude} }},
	{"ipLongitude", func(c *Callback) field { return field{flt: &c.IPLongitude} }},
	{"secret_hash", func(c *Callback) field { return field{str: &c.SecretHash} }},
}

// fieldByHash finds a known key with one hash of four of its bytes and one compare:
// its slot holds the key's index in knownFields + 1, 0 for none. The hash has no two
// known keys in one slot (checked as the table is made), which makes a lookup cheaper
// than comparing a key with every known key of its length (those were a sixth of
// DecodeCallback's time), and no map is hashed (a fifth, before that).
var fieldByHash = func() (t [fieldHashSlots]uint8) {
	for i, f := range knownFields {
		h := fieldHash(f.key)
		if t[h] != 0 {
			panic("epay: known keys " + knownFields[t[h]-1].key + " and " + f.key + " share a slot of fieldByHash: choose other factors in fieldHash")
		}
		t[h] = uint8(i + 1)
	}
	return t
}()

const fieldHashSlots = 128

// fieldHash is the slot of a key (not empty) in fieldByHash: its length, first, middle
// and last bytes mixed by factors that keep the known keys apart.
func fieldHash[S []byte | string](key S) int {
	n := len(key)
	return (n*43 + int(key[0])*55 + int(key[n/2]) + int(key[n-1])) & (fieldHashSlots - 1)
}

// fieldIndex returns the index in knownFields of the known key spelled as key.
func fieldIndex(key []byte) (int, bool) {
	if len(key) == 0 {
		return 0, false
	}
	slot := fieldByHash[fieldHash(key)]
	if slot == 0 || string(key) != knownFields[slot-1].key {
		return 0, false
	}
	return int(slot - 1), true
}

// mustFieldIndex is fieldIndex of a key that is known.
func mustFieldIndex(key string) int {
	i, ok := fieldIndex([]byte(key))
	if !ok {
		panic("epay: " + key + " is not a known key")
	}
	return i
}

// KnownKeys returns the keys DecodeCallback reads into Callback's fields, as spelled
// (both cardType and CardType), in a new slice.
func KnownKeys() []string {
	keys := make([]string, len(knownFields))
	for i, f := range knownFields {
		keys[i] = f.key
	}
	return keys
}

// foldIndex maps a known key in lower case (ASCII) to its index in knownFields: the keys
// that encoding/json would take for a known key are those that fold to it. cardType and
// CardType share "cardtype" (either index names the field).
var foldIndex = func() map[string]int {
	m := make(map[string]int, len(knownFields))
	for i, f := range knownFields {
		if len(f.key) > maxKnownKeyLen {
			panic("epay: known key " + f.key + " is longer than maxKnownKeyLen")
		}
		if _, ok := m[strings.ToLower(f.key)]; !ok {
			m[strings.ToLower(f.key)] = i
		}
	}
	return m
}()

// maxKnownKeyLen bounds the known keys' length (all ASCII), for foldedKey's buffer.
const maxKnownKeyLen = 32

// foldedKey returns the index of the known key that name matches ignoring case, as
// encoding/json matches object keys to struct fields (Unicode simple folding, so "ſ"
// matches "s" and the Kelvin sign "k"), or -1. It is called for keys that are not known
// as spelled, and allocates nothing.
func foldedKey(name string) int {
	var buf [maxKnownKeyLen]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return foldedKeyUnicode(name)
		}
		if i == len(buf) {
			return -1 // longer than every known key
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if i, ok := foldIndex[string(buf[:len(name)])]; ok {
		return i
	}
	return -1
}

// foldedKeyUnicode is foldedKey for a name with non-ASCII letters: rare, so plain.
func foldedKeyUnicode(name string) int {
	if len(name) > utf8.UTFMax*maxKnownKeyLen {
		return -1
	}
	for i, f := range knownFields {
		if strings.EqualFold(name, f.key) {
			return i
		}
	}
	return -1
}

// spelledTwice are the known keys ePay spells two ways (the failure sample's CardType;
// invoiceID, cardID and accountID in its token request, status and P2P answers, where
// the callback has invoiceId, cardId and accountId): either is read into the field, and
// a body must not carry both (two readers could take different ones).
var spelledTwice = [...][2]string{{"cardType", "CardType"}, {"invoiceId", "invoiceID"}, {"cardId", "cardID"}, {"accountId", "accountID"}}

// bothSpellings is the bits of each spelledTwice pair.
var bothSpellings = func() (b [len(spelledTwice)]uint64) {
	for i, p := range spelledTwice {
		b[i] = uint64(1)<<mustFieldIndex(p[0]) | uint64(1)<<mustFieldIndex(p[1])
	}
	return b
}()

// lenientBits are the known fields that only describe (the 3-D Secure details, the
// card's issuer, the payer's address and place): no decision reads them, so a value of
// another type than theirs (an object where ePay's other answers have one) leaves the
// field empty instead of refusing the callback; the body keeps it verbatim.
var lenientBits = func() (b uint64) {
	for _, k := range []string{"secure3D", "secureDetails", "issuer", "ip", "ipCity", "ipCountry", "ipDistrict", "ipRegion", "ipLatitude", "ipLongitude"} {
		b |= uint64(1) << mustFieldIndex(k)
	}
	return b
}()

// The set of keys seen is a uint64: this fails to compile beyond 64 known keys.
var _ [64 - len(knownFields)]struct{}

// DecodeCallback decodes a callback body. It fails on anything that is not a single JSON
// object (ErrNotJSONObject, wrapping jsonscan's error: a body nested deeper than
// jsonscan.MaxDepth is refused, wrapping jsonscan.ErrTooDeep), on a key given twice
// (ErrDuplicateKey: two readers of the same body must never see two different
// callbacks), on a key that is a known key in another case (ErrCaseVariantKey, for the
// same reason: encoding/json matches keys ignoring case; CardType, which ePay sends, is
// a known key), and on a known field whose value cannot be read as its type
// (ErrFieldType). A body that is not JSON is refused as such whatever else is wrong with
// it, in encoding/json's words. It does not check required fields: see Validate.
// The returned Callback keeps raw (not a copy): the caller must not modify it. Its string
// fields share one copy of raw, and Extra values are copies.
//
// It is on the ingest's hot path: the body is walked once, in place, checking its
// syntax as it goes, with a handful of allocations however many fields it has.
func DecodeCallback(raw []byte) (*Callback, error) {
	d := decoder{c: &Callback{Raw: raw}}
	sc := jsonscan.ScanObject(raw)
	for sc.Next() {
		if err := d.set(&sc); err != nil {
			if err := sc.Rest(); err != nil {
				return nil, notJSONObject(err)
			}
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, notJSONObject(err)
	}
	for i, both := range bothSpellings {
		if d.seen&both == both {
			return nil, fmt.Errorf("%w: %q and %q", ErrDuplicateKey, spelledTwice[i][0], spelledTwice[i][1])
		}
	}
	return d.c, nil
}

// notJSONObject is ErrNotJSONObject for the scanner's verdict err.
func notJSONObject(err error) error {
	if errors.Is(err, jsonscan.ErrNotObject) {
		return ErrNotJSONObject
	}
	return fmt.Errorf("%w: %w", ErrNotJSONObject, err)
}

// decoder is the state of one DecodeCallback.
type decoder struct {
	c    *Callback
	seen uint64 // bits of the known keys seen
	text string // string(c.Raw), made on first need: string fields are slices of it
}

// set stores the member sc is at.
func (d *decoder) set(sc *jsonscan.ObjectScanner) error {
	var (
		name  string
		idx   int
		known bool
	)
	val := sc.Value()
	if key, plain := sc.KeyText(); plain {
		idx, known = fieldIndex(key)
		if !known {
			name = string(key)
		}
	} else {
		var err error
		if name, err = jsonscan.Unquote(sc.Key()); err != nil {
			return fmt.Errorf("%w: %v", ErrNotJSONObject, err)
		}
		idx, known = fieldIndex([]byte(name))
	}
	if !known {
		if i := foldedKey(name); i >= 0 {
			return fmt.Errorf("%w: %q (known key %q)", ErrCaseVariantKey, truncate(name), knownFields[i].key)
		}
		return d.setExtra(name, val)
	}
	if d.seen&(1<<idx) != 0 {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, knownFields[idx].key)
	}
	d.seen |= 1 << idx
	if err := d.store(knownFields[idx].get(d.c), sc); err != nil && lenientBits&(1<<idx) == 0 {
		return fmt.Errorf("%w: %s: %v", ErrFieldType, knownFields[idx].key, err)
	}
	return nil
}

func (d *decoder) setExtra(name string, val []byte) error {
	if _, dup := d.c.Extra[name]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, truncate(name))
	}
	if d.c.Extra == nil {
		d.c.Extra = make(map[string]json.RawMessage)
	}
	d.c.Extra[name] = bytes.Clone(val)
	return nil
}

func (d *decoder) store(f field, sc *jsonscan.ObjectScanner) error {
	scalar, err := d.scalarText(sc)
	if err != nil {
		return err
	}
	switch {
	case f.str != nil:
		*f.str = scalar
	case scalar == "":
		// null or "" leaves a number at zero
	case f.num != nil:
		n, err := strconv.Atoi(scalar)
		if err != nil {
			return fmt.Errorf("%q is not an integer", truncate(scalar))
		}
		*f.num = n
	case f.flt != nil:
		x, err := strconv.ParseFloat(scalar, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", truncate(scalar))
		}
		*f.flt = x
	case f.amt != nil:
		a, err := ParseAmount(scalar)
		if err != nil {
			return err
		}
		*f.amt = a
	}
	return nil
}

// scalarText returns a JSON scalar as text (jsonscan.ScalarText), sharing the copy of
// the body when the text is a part of it.
func (d *decoder) scalarText(sc *jsonscan.ObjectScanner) (string, error) {
	if t, ok := sc.ValueText(); ok {
		return d.slice(t), nil
	}
	return jsonscan.ScalarText(sc.Value())
}

// slice returns b, a part of c.Raw, as a string sharing one copy of the body.
func (d *decoder) slice(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if d.text == "" {
		d.text = string(d.c.Raw)
	}
	off := cap(d.c.Raw) - cap(b) // b is a subslice of Raw
	return d.text[off : off+len(b)]
}
