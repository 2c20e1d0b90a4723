package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzScanObject is the scanner against encoding/json on any input: the same verdict
// (json.Valid) within MaxDepth, the same syntax errors at the same offsets, the same
// top-level members, the same scalar readings; and ReplaceValue changes only the values
// it replaces.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":[1,-2.5e3,"x\u0041",true,null]}`, `"\ud800"`, `01`, "\"\x01\"", `{"a":1}x`,
		`{"a":1,"a":2}`, `{"k\u0065y":" v "}`, "{\"\xff\":\"\xfe\"}", `{"a":{"b":[{}]}} `, `{"a":tru}`,
		`{"a":-}`, `{"a":1.}`, `{"a":1e+}`, `{"a":"\u12"}`, `{"a":"\q"}`, `[1,]`, `{"a" 1}`, `{,}`,
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		orig := bytes.Clone(doc)
		checkAgainstEncodingJSON(t, doc)
		checkReplaceValue(t, doc)
		checkValid(t, doc)
		if !bytes.Equal(doc, orig) {
			t.Fatal("the scan modified its input")
		}
	})
}

// checkValid holds Valid to json.Valid: the same answer, but for a document json.Valid
// takes that is nested deeper than MaxDepth.
func checkValid(t *testing.T, doc []byte) {
	t.Helper()
	got, want := Valid(doc), json.Valid(doc)
	if got == want {
		return
	}
	_, err := value(doc, skipSpace(doc, 0), 0)
	if got || !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Valid(%q) = %v, json.Valid says %v (%v)", doc, got, want, err)
	}
}

// checkReplaceValue replaces the first key of doc, if it is an object, and checks that
// encoding/json reads the replacement under that key and every other key as before.
func checkReplaceValue(t *testing.T, doc []byte) {
	t.Helper()
	ms, err := scanMembers(t, doc)
	got, rerr := ReplaceValue(doc, "k", []byte(`"R"`))
	if (err == nil) != (rerr == nil) || rerr != nil && !same(got, doc) {
		t.Fatalf("ReplaceValue(%q) = %q, %v; the scan says %v", doc, got, rerr, err)
	}
	if err != nil || len(ms) == 0 {
		return
	}
	key := ms[0].key
	out, err := ReplaceValue(doc, key, []byte(`"R"`))
	if err != nil {
		t.Fatalf("ReplaceValue(%q): %v", doc, err)
	}
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal(doc, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatalf("ReplaceValue(%q) = %q: %v", doc, out, err)
	}
	if len(after) != len(before) || string(after[key]) != `"R"` {
		t.Fatalf("ReplaceValue(%q, %q) = %q", doc, key, out)
	}
	for k, v := range before {
		if k != key && !bytes.Equal(after[k], v) {
			t.Fatalf("ReplaceValue(%q, %q) = %q changed %q", doc, key, out, k)
		}
	}
}

// same reports whether a and b are the same slice, not only equal.
func same(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
