package jsonscan

import (
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

// strPlain reads eight bytes at a time; held here to a byte-at-a-time reading with each
// sort of special byte (the end, an escape, a control character, a byte from 0x80 up)
// at every place of a word, after every plain byte that could hide it.
func TestStrPlainAgreesWithAByteAtATime(t *testing.T) {
	specials := []string{`"`, `\"`, `\\`, `\u0041`, `\x`, "\x00", "\x1f", "\x80", "\xff", "\xd0\x9f", `\`}
	plains := []byte{' ', '!', '#', '[', ']', '~', 0x7f, 0x21, 0x5b, 0x5d, '0', 'A'}
	for _, sp := range specials {
		for _, pl := range plains {
			for at := range 20 {
				for tail := range 10 {
					doc := []byte(`"` + strings.Repeat(string(pl), at) + sp + strings.Repeat("a", tail) + `"` + "  ")
					end, plain, err := strPlain(doc, 0)
					wend, wplain, werr := strPlainBytewise(doc, 0)
					if end != wend || plain != wplain || (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
						t.Fatalf("strPlain(%q) = %d, %v, %v; a byte at a time %d, %v, %v", doc, end, plain, err, wend, wplain, werr)
					}
				}
			}
		}
	}
	for n := range 40 { // unterminated, every length
		doc := []byte(`"` + strings.Repeat("b", n))
		end, _, err := strPlain(doc, 0)
		wend, _, werr := strPlainBytewise(doc, 0)
		if end != wend || err == nil || werr == nil || err.Error() != werr.Error() {
			t.Fatalf("strPlain(%q) = %d, %v; a byte at a time %d, %v", doc, end, err, wend, werr)
		}
	}
}

// strPlainBytewise is strPlain as it was before it read words: one byte at a time.
func strPlainBytewise(doc []byte, i int) (end int, plain bool, err error) {
	plain = true
	for i++; i < len(doc); i++ {
		c := doc[i]
		if !strSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			return i + 1, plain, nil
		case c >= 0x80:
			plain = false
		case c < 0x20:
			return i, false, syntaxError(doc, i, "in string literal")
		default: // '\\'
			plain = false
			i++
			if i >= len(doc) {
				return i, false, tokenError(doc, i, "in string escape code")
			}
			switch doc[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					if i++; i >= len(doc) || !isHex(doc[i]) {
						return i, false, tokenError(doc, i, `in \u hexadecimal character escape`)
					}
				}
			default:
				return i, false, syntaxError(doc, i, "in string escape code")
			}
		}
	}
	return i, false, syntaxError(doc, i, "")
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
