package epay

import (
	"encoding/json"
	"strings"
	"testing"
)

// scanAll reports whether the strict scanner accepts b as one value with only spaces
// around it.
func scanAll(b []byte) bool {
	end, ok := scanValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, end) == len(b)
}

func TestStrictScanAgreesWithJSONValid(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{}`, ` { } `, `[]`, `[1,2]`, `[1,]`, `[,1]`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`,
		`{"a":1}x`, `{"a":1} {}`, `{"a":1`, `{"a`, `"abc`, `"a\"b"`, `"a\u00e9"`, `"a\u00g9"`, `"a\u00"`, `"a\x"`,
		"\"a\tb\"", "\"a\x1fb\"", "\"a\x7fb\"", "\"\xff\xfe\"", `"\/\b\f\n\r\t\\"`,
		`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.5e10`, `2.e3`, `1.5.5`, `+1`,
		`true`, `tru`, `truex`, `false`, `null`, `nul`, `NULL`, `{"a":[{"b":[true,false,null,"x",1.5]}]}`,
		`{"a":{"b":{}}}`, `{"a":[]}`, `[[[]]]`, `{"a":1 , "b" : 2 }`, "{\n\"a\"\r:\t1}",
		strings.Repeat("[", maxScanDepth) + strings.Repeat("]", maxScanDepth),
	} {
		if got := scanAll([]byte(s)); got && !json.Valid([]byte(s)) {
			t.Errorf("strict scan accepts %q, json.Valid does not", s)
		} else if !got && json.Valid([]byte(s)) && !strings.HasPrefix(s, strings.Repeat("[", maxScanDepth)) {
			t.Errorf("strict scan refuses %q, json.Valid accepts it", s)
		}
	}
}

// A body nested deeper than the strict scan follows is still decoded (by encoding/json's
// verdict and the plain walk), exactly as before.
func TestDecodeCallbackDeepExtraFallsBack(t *testing.T) {
	deep := strings.Repeat("[", maxScanDepth+5) + strings.Repeat("]", maxScanDepth+5)
	c, err := DecodeCallback([]byte(`{"invoiceId":"000123","deep":` + deep + `}`))
	if err != nil || c.InvoiceID != "000123" || string(c.Extra["deep"]) != deep {
		t.Fatalf("DecodeCallback = %v, %v", c, err)
	}
}

// FuzzScanValue: what the strict scanner accepts, json.Valid accepts; below its depth
// limit they agree both ways.
func FuzzScanValue(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,-2.5e3,"x\u0041",true,null]}`, `"\ud800"`, `01`, "\"\x01\"", `{"a":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := scanAll(b), json.Valid(b)
		if got && !want {
			t.Fatalf("strict scan accepts %q, json.Valid does not", b)
		}
		if !got && want && len(b) < maxScanDepth {
			t.Fatalf("strict scan refuses %q, json.Valid accepts it", b)
		}
	})
}
