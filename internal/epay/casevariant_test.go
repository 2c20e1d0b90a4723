package epay

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// caseVariant is a key that folds to a known key without being one: lit is its JSON string
// literal, name the key it decodes to.
type caseVariant struct{ lit, name string }

// caseVariantsOf returns spellings of known that encoding/json would take for it: all
// upper, all lower, the first letter flipped, every letter flipped, a letter given as a
// \u escape, and the Unicode letters that fold to ASCII ones ("ſ" for s, the Kelvin
// sign for k). Spellings that are known keys themselves (CardType) are left out.
func caseVariantsOf(known string) []caseVariant {
	flip := func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}
	names := []string{
		strings.ToUpper(known),
		strings.ToLower(known),
		string(flip(rune(known[0]))) + known[1:],
		strings.Map(flip, known),
	}
	for _, sub := range []struct{ ascii, unicode string }{{"s", "ſ"}, {"S", "ſ"}, {"k", "\u212a"}, {"K", "\u212a"}} {
		if strings.Contains(known, sub.ascii) {
			names = append(names, strings.Replace(known, sub.ascii, sub.unicode, 1))
		}
	}
	var out []caseVariant
	seen := map[string]bool{}
	for _, n := range names {
		if _, isKnown := fieldIndex([]byte(n)); isKnown || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, caseVariant{strconv.Quote(n), n})
	}
	// the first letter flipped, written as a \u escape: the rule is on the decoded key
	upper := string(flip(rune(known[0]))) + known[1:]
	if _, isKnown := fieldIndex([]byte(upper)); !isKnown {
		out = append(out, caseVariant{fmt.Sprintf(`"\u%04x%s"`, upper[0], upper[1:]), upper})
	}
	return out
}

func TestCaseVariantsCoverEveryKnownKey(t *testing.T) {
	for _, k := range KnownKeys() {
		if len(caseVariantsOf(k)) < 3 {
			t.Errorf("%s: only %v", k, caseVariantsOf(k))
		}
	}
	if got := len(KnownKeys()); got != len(knownFields) || !slices.Contains(KnownKeys(), "CardType") {
		t.Fatalf("KnownKeys() = %v", KnownKeys())
	}
}

// Every case variant of every known key is refused, alone or next to the key itself (in
// either order), with ErrCaseVariantKey and an error naming the key as sent; the
// reference decoder agrees.
func TestDecodeCallbackRefusesCaseVariantsOfKnownKeys(t *testing.T) {
	for _, known := range KnownKeys() {
		for _, v := range caseVariantsOf(known) {
			for _, body := range []string{
				`{` + v.lit + `:"1"}`,
				`{` + strconv.Quote(known) + `:"1",` + v.lit + `:"1"}`,
				`{` + v.lit + `:"1",` + strconv.Quote(known) + `:"1"}`,
				`{"id":"tx-1","invoiceId":"123456789",` + v.lit + `:"1","code":"ok"}`,
			} {
				c, err := DecodeCallback([]byte(body))
				if !errors.Is(err, ErrCaseVariantKey) || c != nil {
					t.Errorf("DecodeCallback(%s) = %v, %v; want ErrCaseVariantKey", body, c, err)
					continue
				}
				if !strings.Contains(err.Error(), strconv.Quote(v.name)) {
					t.Errorf("DecodeCallback(%s): error %q does not name the key %q", body, err, v.name)
				}
				if errors.Is(err, ErrDuplicateKey) || errors.Is(err, ErrNotJSONObject) || errors.Is(err, ErrFieldType) {
					t.Errorf("DecodeCallback(%s): error %v wraps another sentinel too", body, err)
				}
				checkAgainstReference(t, []byte(body), c, err)
			}
		}
	}
}

// The rule is encoding/json's own: every variant refused above is one that json.Unmarshal
// reads into a field tagged with the known key, and the near misses taken below are not.
func TestCaseVariantsAreWhatEncodingJSONReads(t *testing.T) {
	reads := func(known, lit string) bool {
		typ := reflect.StructOf([]reflect.StructField{{
			Name: "F", Type: reflect.TypeFor[string](), Tag: reflect.StructTag(`json:"` + known + `"`),
		}})
		v := reflect.New(typ)
		if err := json.Unmarshal([]byte(`{`+lit+`:"x"}`), v.Interface()); err != nil {
			t.Fatal(err)
		}
		return v.Elem().Field(0).String() == "x"
	}
	for _, known := range KnownKeys() {
		for _, v := range caseVariantsOf(known) {
			if !reads(known, v.lit) {
				t.Errorf("encoding/json does not read %s as %q: the test's variant is wrong", v.lit, known)
			}
		}
	}
	for known, lits := range nearMisses {
		for _, lit := range lits {
			if reads(known, lit) {
				t.Errorf("encoding/json reads %s as %q: not a near miss", lit, known)
			}
		}
	}
}

// nearMisses are keys close to a known key that are not case variants of it: unknown
// keys, kept in Extra. (encoding/json/v2's case:ignore would also ignore '_' and '-';
// v1, which the readers use, does not.)
var nearMisses = map[string][]string{
	"id":          {`"ıd"`, `"İd"`, `"id "`, `"i"`},
	"invoiceId":   {`"invoice_id"`, `"invoiceIdx"`, `"Invoice Id"`},
	"secret_hash": {`"secrethash"`, `"secret-hash"`, `"SecretHash"`},
	"amount":      {`"amounts"`, `"amоunt"`}, // the second with a Cyrillic о
}

func TestDecodeCallbackTakesCardTypeAndNearMisses(t *testing.T) {
	for _, body := range []string{`{"CardType":"VISA"}`, `{"cardType":"VISA"}`} {
		if c := mustDecode(t, body); c.CardType != "VISA" {
			t.Errorf("%s: CardType %q", body, c.CardType)
		}
	}
	for known, lits := range nearMisses {
		for _, lit := range lits {
			body := `{` + strconv.Quote(known) + `:"1",` + lit + `:"2"}`
			c := mustDecode(t, body)
			name, _ := strconv.Unquote(lit)
			if string(c.Extra[name]) != `"2"` {
				t.Errorf("%s: Extra %v, want %s kept", body, c.Extra, lit)
			}
		}
	}
	for _, body := range []string{`{"cardtype":"VISA"}`, `{"CARDTYPE":"VISA"}`, `{"CardType":"VISA","cardtype":"MC"}`} {
		if _, err := DecodeCallback([]byte(body)); !errors.Is(err, ErrCaseVariantKey) {
			t.Errorf("%s: %v, want ErrCaseVariantKey", body, err)
		}
	}
}

func TestCaseVariantErrorIsShortAndLongKeysAreNoVariants(t *testing.T) {
	for _, body := range []string{`{"INVOICEID":"1"}`, `{"ſecret_hash":"1"}`, `{"TOKENRECIPIENT":"1"}`} {
		_, err := DecodeCallback([]byte(body))
		if !errors.Is(err, ErrCaseVariantKey) || len(err.Error()) > 200 {
			t.Errorf("%s: error %v", body, err)
		}
	}
	long := "\u212a" + strings.Repeat("K", 10000)
	if c := mustDecode(t, `{"`+long+`":1}`); len(c.Extra) != 1 {
		t.Errorf("a long key: Extra %d", len(c.Extra))
	}
}

// foldedKey, on the hot path for every unknown key, allocates nothing.
func TestFoldedKeyAllocatesNothing(t *testing.T) {
	for _, name := range []string{"merchantRef", "INVOICEID", "ſecret_hash", strings.Repeat("x", 100)} {
		if n := testing.AllocsPerRun(100, func() { foldedKey(name) }); n != 0 {
			t.Errorf("foldedKey(%q): %v allocations", name, n)
		}
	}
}
