package epay

import "unicode/utf8"

// A minimal walker over JSON that json.Valid has already accepted: it finds where things
// end and never judges validity itself, so it cannot disagree with encoding/json about
// what JSON is. (DecodeCallback's hot path uses the strict scanner of jsonvalid.go
// instead, and this walker only for valid JSON that scanner leaves to encoding/json.)

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string literal starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// plainString returns the content of a string literal and whether it needs no decoding:
// no escapes and valid UTF-8, so its bytes are its value. Otherwise encoding/json must
// unquote it (escapes, and invalid UTF-8 that it replaces with U+FFFD).
func plainString(lit []byte) ([]byte, bool) {
	s := lit[1 : len(lit)-1]
	for _, c := range s {
		if c == '\\' {
			return s, false
		}
	}
	return s, utf8.Valid(s)
}
