package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
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

// strPlain reads eight bytes at a time; held here to encoding/json (the verdict, and a
// wrong document's message and offset) and to what "plain" means, with each sort of
// special byte (the end, an escape, a control character, a byte from 0x80 up) at every
// place of a word, after every plain byte that could hide it, as a key and as a value.
func TestStrPlainAgreesWithEncodingJSONAtEveryOffset(t *testing.T) {
	specials := []string{`"`, `\"`, `\\`, `\u0041`, `\x`, "\x00", "\x1f", "\x80", "\xff", "\xd0\x9f", `\`}
	plains := []byte{' ', '!', '#', '[', ']', '~', 0x7f, '0', 'A'}
	for _, sp := range specials {
		for _, pl := range plains {
			for at := range 20 {
				for tail := range 10 {
					text := strings.Repeat(string(pl), at) + sp + strings.Repeat("a", tail)
					for _, doc := range []string{`{"` + text + `":1}`, `{"k":"` + text + `"}`} {
						checkAgainstEncodingJSON(t, []byte(doc))
					}
					lit := []byte(`"` + text + `"  `)
					end, plain, err := strPlain(lit, 0)
					if err != nil {
						continue // the verdict is encoding/json's, above
					}
					content := lit[1 : end-1]
					if want := !bytes.ContainsRune(content, '\\') && isASCII(content); plain != want {
						t.Fatalf("strPlain(%q): plain %v, want %v", lit, plain, want)
					}
				}
			}
		}
	}
	for n := range 40 { // unterminated, every length
		checkAgainstEncodingJSON(t, []byte(`{"k":"`+strings.Repeat("b", n)))
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func TestSpecialBytesMarksTheFirstSpecialByteExactly(t *testing.T) {
	for b := range 256 {
		for at := range 8 {
			var w [8]byte
			for k := range w {
				w[k] = 'a'
			}
			w[at] = byte(b)
			m := specialBytes(binary.LittleEndian.Uint64(w[:]))
			first := -1
			if m != 0 {
				first = bits.TrailingZeros64(m) >> 3
			}
			want := -1
			if strSpecial[b] {
				want = at
			}
			if first != want {
				t.Fatalf("byte %#x at %d: first marked %d, want %d", b, at, first, want)
			}
		}
	}
}

func TestValidIsJSONValid(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for _, doc := range []string{
		"", " ", "1", " 1 ", "1 2", `{"a":1}`, "\n{\"a\":[1,2]}\t", `{"a":1}x`, `"\xff"`, `"a`, `[1,]`, `nul`, `-`,
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	} {
		if got, want := Valid([]byte(doc)), json.Valid([]byte(doc)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", doc, got, want)
		}
	}
	if Valid([]byte(deep)) {
		t.Errorf("Valid takes a document %d deep", MaxDepth+1)
	}
}
