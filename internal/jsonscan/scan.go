package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// The grammar of RFC 8259 as encoding/json reads it. Each function scans the value
// starting at doc[i] and returns the index just past it, or where it stopped and why.
// depth is the number of objects and arrays around the value.

// value scans the value at doc[i]; spaces before it are already skipped.
func value(doc []byte, i, depth int) (int, error) {
	if i >= len(doc) {
		return i, syntaxError(doc, i, "")
	}
	switch c := doc[i]; {
	case c == '"':
		return str(doc, i)
	case c == '{':
		return object(doc, i, depth+1)
	case c == '[':
		return array(doc, i, depth+1)
	case c == '-' || isDigit(c):
		return number(doc, i)
	case c == 't':
		return literal(doc, i, "true")
	case c == 'f':
		return literal(doc, i, "false")
	case c == 'n':
		return literal(doc, i, "null")
	}
	return i, syntaxError(doc, i, "looking for beginning of value")
}

// object scans the object opening at doc[i] with the same walk as ScanObject.
func object(doc []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, tooDeep(i)
	}
	o := ObjectScanner{doc: doc, i: i + 1, depth: depth}
	for o.Next() {
	}
	return o.i, o.err
}

// array scans the array opening at doc[i].
func array(doc []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, tooDeep(i)
	}
	if i = skipSpace(doc, i+1); i < len(doc) && doc[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = value(doc, i, depth); err != nil {
			return i, err
		}
		if i = skipSpace(doc, i); i >= len(doc) {
			return i, syntaxError(doc, i, "")
		}
		switch doc[i] {
		case ']':
			return i + 1, nil
		case ',':
			i = skipSpace(doc, i+1)
		default:
			return i, syntaxError(doc, i, "after array element")
		}
	}
}

// str scans the string literal opening at doc[i] == '"'. Bytes from 0x80 up are taken
// as they are, valid UTF-8 or not, as encoding/json takes them.
func str(doc []byte, i int) (int, error) {
	end, _, err := strPlain(doc, i)
	return end, err
}

// strPlain is str, and whether the literal's content is plain ASCII: no escape and no
// byte from 0x80 up, so that it is its own value (RawString's plain) without a look.
func strPlain(doc []byte, i int) (end int, plain bool, err error) {
	plain = true
	for i++; i < len(doc); i++ {
		// Eight bytes at a time while none of them is special: most of a callback is the
		// plain ASCII content of its strings.
		for i+8 <= len(doc) {
			m := specialBytes(binary.LittleEndian.Uint64(doc[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(doc) {
			break
		}
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

// specialBytes has the top bit set of each byte of x (eight bytes of a document, the
// first in the lowest byte) that strSpecial marks, and of no byte below the lowest
// such: a byte above a marked one may be marked too (the borrow of the subtractions
// runs upwards), so only the lowest mark is exact, which is the one a scan needs.
func specialBytes(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	hasZero := func(v uint64) uint64 { return (v - ones) &^ v }
	// x itself for bytes from 0x80 up; below 0x20: x - 0x20 borrows (for bytes < 0x80)
	return (x | hasZero(x^(ones*'"')) | hasZero(x^(ones*'\\')) | (x - ones*0x20)) & highs
}

// strSpecial marks the bytes a string literal's scan must look at: its end, an escape,
// control characters (refused) and bytes from 0x80 up (not plain ASCII).
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80
	}
	return t
}()

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at doc[i].
func number(doc []byte, i int) (int, error) {
	if doc[i] == '-' {
		if i++; i >= len(doc) || !isDigit(doc[i]) {
			return i, tokenError(doc, i, "in numeric literal")
		}
	}
	if doc[i] == '0' {
		i++
	} else {
		i = digits(doc, i)
	}
	if i < len(doc) && doc[i] == '.' {
		if i++; i >= len(doc) || !isDigit(doc[i]) {
			return i, tokenError(doc, i, "after decimal point in numeric literal")
		}
		i = digits(doc, i)
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		if i++; i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		if i >= len(doc) || !isDigit(doc[i]) {
			return i, tokenError(doc, i, "in exponent of numeric literal")
		}
		i = digits(doc, i)
	}
	return i, nil
}

// literal scans true, false or null (lit) at doc[i], whose first byte is lit's.
func literal(doc []byte, i int, lit string) (int, error) {
	if len(doc)-i >= len(lit) && string(doc[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	k := 1
	for k < len(lit) && i+k < len(doc) && doc[i+k] == lit[k] {
		k++
	}
	return i + k, tokenError(doc, i+k, "in literal "+lit+" (expecting "+quoteChar(lit[k])+")")
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

func digits(doc []byte, i int) int {
	for i < len(doc) && isDigit(doc[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
