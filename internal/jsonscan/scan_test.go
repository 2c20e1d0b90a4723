package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Every sort of document and every way of being wrong, held to encoding/json: the same
// verdict, and for the wrong ones the same message at the same offset.
func TestScanAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{}`, ` { } `, `[]`, `[1,2]`, `[1,]`, `[,1]`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`,
		`{"a":1}x`, `{"a":1} {}`, `{"a":1`, `{"a`, `{"a"`, `{"a":`, `{`, `[`, `[1`, `"abc`, `"a\"b"`,
		`"a\u00e9"`, `"a\u00g9"`, `"a\u00"`, `"a\u00`, `"a\x"`, `"a\`, "\"a\tb\"", "\"a\x1fb\"",
		"\"a\x7fb\"", "\"\xff\xfe\"", `"\/\b\f\n\r\t\\"`, `{1:"a"}`, `{'a':1}`, `{"a":1 "b":2}`,
		`0`, `-0`, `01`, `-`, `-x`, `1.`, `1.x`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `1ex`,
		`-1.5e10`, `2.e3`, `1.5.5`, `+1`, `1 2`, `[1 2]`, `[1}`, `{"a":1]`,
		`true`, `t`, `tru`, `trux`, `truex`, `false`, `fals`, `falsy`, `null`, `nul`, `nulL`, `NULL`,
		`{"a":[{"b":[true,false,null,"x",1.5]}]}`, `{"a":{"b":{}}}`, `{"a":[]}`, `[[[]]]`,
		`{"a":1 , "b" : 2 }`, "{\n\"a\"\r:\t1}", "\x00", "{\"a\":1}\x00", `'`, `"`, "\xef\xbb\xbf{}",
	} {
		t.Run(s, func(t *testing.T) { checkAgainstEncodingJSON(t, []byte(s)) })
	}
}

// nested is a document depth objects and arrays deep: {"a":[[...]]}.
func nested(depth int) string {
	return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

func TestScanFollowsMaxDepthAndNoDeeper(t *testing.T) {
	for _, doc := range []string{
		nested(MaxDepth),
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth),
	} {
		if _, err := scanMembers(t, []byte(doc)); err != nil && err != ErrNotObject {
			t.Errorf("%d deep: %v", MaxDepth, err)
		}
		checkAgainstEncodingJSON(t, []byte(doc))
	}
	for _, doc := range []string{
		nested(MaxDepth + 1),
		nested(20000), // deeper than encoding/json follows, too
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
		nested(MaxDepth+1) + "x", // not JSON either, after the part too deep
	} {
		_, err := scanMembers(t, []byte(doc))
		scanErr, ok := errors.AsType[*Error](err)
		if !ok || !errors.Is(err, ErrTooDeep) || errors.Is(err, ErrSyntax) {
			t.Fatalf("%.20s… (%d bytes): %v, want ErrTooDeep", doc, len(doc), err)
		}
		// the offset is just past the bracket that opens level MaxDepth+1
		read := doc[:scanErr.Offset]
		if opened := strings.Count(read, "[") + strings.Count(read, "{"); !strings.ContainsAny(read[len(read)-1:], "[{") || opened != MaxDepth+1 {
			t.Errorf("%.20s…: offset %d", doc, scanErr.Offset)
		}
		if err.Error() != "JSON nested deeper than 64 levels" {
			t.Errorf("message %q", err)
		}
		checkAgainstEncodingJSON(t, []byte(doc))
	}
	if !json.Valid([]byte(nested(MaxDepth + 1))) {
		t.Fatal("the test's deep document should be JSON")
	}
}
