package epay

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
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
			if !errors.Is(err, ErrNotJSONObject) && !errors.Is(err, ErrDuplicateKey) && !errors.Is(err, ErrFieldType) {
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
func checkAgainstReference(t *testing.T, body []byte, c *Callback, err error) {
	t.Helper()
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
	for _, sentinel := range []error{ErrNotJSONObject, ErrDuplicateKey, ErrFieldType} {
		if errors.Is(err, sentinel) != errors.Is(refErr, sentinel) {
			t.Fatalf("DecodeCallback(%q) error %v, reference error %v", body, err, refErr)
		}
	}
}
