package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// What encoding/json makes of a document, to hold the scanner to: its verdict, its
// syntax error, the depth of its nesting and the members of its top-level object.

// member is a top-level member: its key decoded, its value as in the document.
type member struct {
	key string
	val string
}

// scanMembers collects what ScanObject yields, keys decoded.
func scanMembers(t testing.TB, doc []byte) ([]member, error) {
	t.Helper()
	var ms []member
	sc := ScanObject(doc)
	for sc.Next() {
		key, err := Unquote(sc.Key())
		if err != nil {
			t.Fatalf("Unquote(%q) of a key the scanner took: %v", sc.Key(), err)
		}
		ms = append(ms, member{key, string(sc.Value())})
		checkTexts(t, &sc)
	}
	return ms, sc.Err()
}

// jsonMembers is the members of the valid JSON object doc, as encoding/json's Decoder
// reads them (every one, in order, repeated keys too).
func jsonMembers(t testing.TB, doc []byte) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("jsonMembers(%q): %v %v", doc, tok, err)
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{tok.(string), string(val)})
	}
	return ms
}

// jsonSyntaxError is encoding/json's error for the invalid document doc.
func jsonSyntaxError(t testing.TB, doc []byte) *json.SyntaxError {
	t.Helper()
	var v json.RawMessage
	err := json.Unmarshal(doc, &v)
	se, ok := errors.AsType[*json.SyntaxError](err)
	if !ok {
		t.Fatalf("json.Unmarshal(%q) = %v, want a *json.SyntaxError", doc, err)
	}
	return se
}

// jsonDepth is the deepest nesting of objects and arrays in the valid document doc.
func jsonDepth(t testing.TB, doc []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("jsonDepth(%q): %v", doc, err)
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

// checkAgainstEncodingJSON holds ScanObject's walk over doc to encoding/json: the same
// verdict, the same syntax error at the same offset, ErrTooDeep exactly for documents
// nested deeper than MaxDepth (or that are not JSON after such a part), the same
// members, and ScalarText's reading of each value equal to encoding/json's.
func checkAgainstEncodingJSON(t *testing.T, doc []byte) {
	t.Helper()
	ms, err := scanMembers(t, doc)
	valid := json.Valid(doc)
	var scanErr *Error
	if errors.As(err, &scanErr) && errors.Is(err, ErrTooDeep) {
		if valid && jsonDepth(t, doc) <= MaxDepth {
			t.Fatalf("ScanObject(%q): %v, but it nests %d deep", doc, err, jsonDepth(t, doc))
		}
		if !valid && int(jsonSyntaxError(t, doc).Offset) < scanErr.Offset {
			t.Fatalf("ScanObject(%q): %v at %d, but encoding/json finds %v before", doc, err, scanErr.Offset, jsonSyntaxError(t, doc))
		}
		return
	}
	if !valid {
		want := jsonSyntaxError(t, doc)
		if scanErr == nil || !errors.Is(err, ErrSyntax) || scanErr.Error() != want.Error() || scanErr.Offset != int(want.Offset) {
			t.Fatalf("ScanObject(%q) = %v (%+v), encoding/json: %v at offset %d", doc, err, scanErr, want, want.Offset)
		}
		return
	}
	if err != nil && err != ErrNotObject {
		t.Fatalf("ScanObject(%q): %v, but json.Valid takes it", doc, err)
	}
	if d := jsonDepth(t, doc); d > MaxDepth {
		t.Fatalf("ScanObject(%q) took a document nested %d deep", doc, d)
	}
	if isObject := bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{")); isObject != (err == nil) {
		t.Fatalf("ScanObject(%q): %v", doc, err)
	}
	if err != nil {
		return
	}
	want := jsonMembers(t, doc)
	if len(ms) != len(want) {
		t.Fatalf("ScanObject(%q) yields %q, encoding/json %q", doc, ms, want)
	}
	for i := range ms {
		if ms[i] != want[i] {
			t.Fatalf("ScanObject(%q) member %d is %q, encoding/json's %q", doc, i, ms[i], want[i])
		}
		checkScalarText(t, []byte(ms[i].val))
	}
}

// checkScalarText compares ScalarText's reading of the valid value v with
// encoding/json's, and InPlaceText's with ScalarText's.
func checkScalarText(t *testing.T, v []byte) {
	t.Helper()
	got, err := ScalarText(v)
	var want string
	var x any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	switch x := x.(type) {
	case string:
		want = string(bytes.TrimSpace([]byte(x)))
	case json.Number:
		want = string(x)
	case bool:
		want = map[bool]string{true: "true", false: "false"}[x]
	case nil:
		want = ""
	default: // object or array
		if !errors.Is(err, ErrNotScalar) {
			t.Fatalf("ScalarText(%q) = %q, %v; want ErrNotScalar", v, got, err)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("ScalarText(%q) = %q, %v; encoding/json reads %q", v, got, err, want)
	}
	if in, ok := InPlaceText(v); ok && string(in) != want {
		t.Fatalf("InPlaceText(%q) = %q, want %q", v, in, want)
	}
}

// checkTexts fails when the scanner's KeyText or ValueText differ from RawString and
// InPlaceText of the member's literals: the scan's own knowledge of a literal must
// change nothing.
func checkTexts(t testing.TB, sc *ObjectScanner) {
	t.Helper()
	k, kPlain := sc.KeyText()
	wk, wkPlain := RawString(sc.Key())
	if kPlain != wkPlain || kPlain && !same(k, wk) {
		t.Fatalf("KeyText of %q = %q, %v; RawString says %q, %v", sc.Key(), k, kPlain, wk, wkPlain)
	}
	v, vOK := sc.ValueText()
	wv, wvOK := InPlaceText(sc.Value())
	if vOK != wvOK || vOK && (len(v) != len(wv) || len(v) > 0 && !same(v, wv)) {
		t.Fatalf("ValueText of %q = %q, %v; InPlaceText says %q, %v", sc.Value(), v, vOK, wv, wvOK)
	}
}
