package epay

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// FuzzDecodeCallback feeds the decoder outside input. It must never panic; what it
// accepts must be one valid JSON object, decode to the same callback twice, and keep the
// body verbatim; what it refuses must be refused with one of its sentinel errors.
func FuzzDecodeCallback(f *testing.F) {
	f.Add(mustReadSample(f, "success.json"))
	f.Add(mustReadSample(f, "failure.json"))
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"id":"1","id":"1"}`, `{"amount":"12.22","reasonCode":"-498","secure":true}`,
		`{"cardType":"VISA","CardType":"MC"}`, `{"invoiceId":{"x":1}}`, `{"a":1}x`, `{"amount":1e400}`,
		`{"invoice\u0049d":"123456"}`, "{\"name\":\"\xff\xfe\"}",
		`{"InvoiceId":"123456"}`, `{"invoiceId":"123456","INVOICEID":"654321"}`, `{"cardtype":"VISA"}`,
		`{"\u017fecret_hash":"A"}`, "{\"to\u212aenRecipient\":\"x\"}", `{"\u0041mount":1}`,
		// the lenient descriptive fields and ePay's second spellings (the reference must agree on them)
		`{"ipLongitude":"A"}`, `{"secure3D":{"eci":"05"}}`, `{"ip":[1]}`, `{"invoiceID":"123456"}`,
		`{"cardId":"1","cardID":"2"}`, `{"accountID":"a","ACCOUNTID":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		c, err := DecodeCallback(body)
		checkAgainstReference(t, body, c, err)
		if err != nil {
			if c != nil {
				t.Fatalf("callback returned with error %v", err)
			}
			if !errors.Is(err, ErrNotJSONObject) && !errors.Is(err, ErrDuplicateKey) && !errors.Is(err, ErrFieldType) &&
				!errors.Is(err, ErrCaseVariantKey) {
				t.Fatalf("error %v wraps none of the sentinels", err)
			}
			return
		}
		if !bytes.Equal(body, orig) {
			t.Fatal("DecodeCallback modified its input")
		}
		if !bytes.Equal(c.Raw, body) {
			t.Fatal("Raw is not the body")
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("accepted something that is not a JSON object: %v", err)
		}
		checkNoCaseVariants(t, body)
		again, err := DecodeCallback(c.Raw)
		if err != nil {
			t.Fatalf("re-decoding Raw: %v", err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("re-decoding Raw gave a different callback:\n%+v\n%+v", c, again)
		}
		for k, v := range c.Extra {
			if !json.Valid(v) {
				t.Fatalf("Extra[%q] = %q is not JSON", k, v)
			}
		}
		if c.Validate() == nil && (ValidateInvoiceID(c.InvoiceID) != nil || ValidateTransactionID(c.ID) != nil) {
			t.Fatal("Validate passed a bad id")
		}
	})
}

// checkAgainstReference compares DecodeCallback with the Decoder.Token based decoder it
// replaced: the same callback when both accept, the same verdict always, and the same kind
// of error except where the body is not JSON at all (the reference reads the body in
// order and may meet a repeated key or a bad field before the syntax error).
// A body nested deeper than jsonscan.MaxDepth is the one difference: the reference takes
// it, DecodeCallback refuses it with ErrNotJSONObject and jsonscan.ErrTooDeep.
func checkAgainstReference(t *testing.T, body []byte, c *Callback, err error) {
	t.Helper()
	if json.Valid(body) && nestingDepth(t, body) > jsonscan.MaxDepth {
		if !errors.Is(err, ErrNotJSONObject) || !errors.Is(err, jsonscan.ErrTooDeep) {
			t.Fatalf("DecodeCallback(%q) of a body nested deeper than %d: error %v", body, jsonscan.MaxDepth, err)
		}
		return
	}
	ref, refErr := referenceDecodeCallback(body)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("DecodeCallback(%q) error %v, reference error %v", body, err, refErr)
	}
	if err == nil {
		if !reflect.DeepEqual(c, ref) {
			t.Fatalf("DecodeCallback(%q) differs from the reference:\n%+v\n%+v", body, c, ref)
		}
		return
	}
	if !json.Valid(body) {
		return
	}
	for _, sentinel := range []error{ErrNotJSONObject, ErrDuplicateKey, ErrFieldType, ErrCaseVariantKey} {
		if errors.Is(err, sentinel) != errors.Is(refErr, sentinel) {
			t.Fatalf("DecodeCallback(%q) error %v, reference error %v", body, err, refErr)
		}
	}
}

// checkNoCaseVariants checks an accepted body: no two of its top-level keys fold to the
// same known key (as encoding/json matches them), and a key that folds to a known key is
// spelled as that key, so every reader using encoding/json sees the fields the decoder saw.
func checkNoCaseVariants(t *testing.T, body []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	byKnown := map[string]string{} // the known key, lower-cased, to the body's key folding to it
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		key := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
		for _, known := range KnownKeys() {
			if !strings.EqualFold(key, known) {
				continue
			}
			if _, spelled := fieldIndex([]byte(key)); !spelled {
				t.Fatalf("accepted %q, a case variant of %q", key, known)
			}
			if other, twice := byKnown[strings.ToLower(known)]; twice {
				t.Fatalf("accepted %q and %q, which fold to the same known key %q", other, key, known)
			}
			byKnown[strings.ToLower(known)] = key
			break
		}
	}
}

// nestingDepth is the deepest nesting of objects and arrays in the valid JSON body, as
// encoding/json's tokens show it.
func nestingDepth(t *testing.T, body []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("nestingDepth(%q): %v", body, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}
