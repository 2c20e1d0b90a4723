package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// RawString returns the bytes between the quotes of the string literal lit, and whether
// they are its value as they stand: no escapes, and valid UTF-8 (encoding/json replaces
// invalid bytes with U+FFFD). When they are not, Unquote decodes lit.
func RawString(lit []byte) (content []byte, plain bool) {
	content = lit[1 : len(lit)-1]
	return content, bytes.IndexByte(content, '\\') < 0 && utf8.Valid(content)
}

// Unquote decodes the string literal lit as encoding/json does. It fails only on a
// literal the scanner would refuse.
func Unquote(lit []byte) (string, error) {
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// ScalarText returns the text of the JSON scalar v, for fields sent as a number or a
// string alike: a string's content trimmed of spaces, a number's literal,
// "true"/"false", and "" for null or an empty v. An object or array is ErrNotScalar.
func ScalarText(v []byte) (string, error) {
	if t, ok := InPlaceText(v); ok {
		return string(t), nil
	}
	if v[0] != '"' {
		return "", ErrNotScalar
	}
	s, err := Unquote(v)
	return strings.TrimSpace(s), err
}

// InPlaceText is ScalarText without allocating, for a v whose text is a part of it:
// every scalar but a string with escapes or invalid UTF-8. ok is false for those and for
// objects and arrays: ScalarText then says what they hold.
func InPlaceText(v []byte) (text []byte, ok bool) {
	if len(v) == 0 {
		return nil, true
	}
	switch v[0] {
	case '"':
		s, plain := RawString(v)
		if !plain {
			return nil, false
		}
		return bytes.TrimSpace(s), true
	case 'n':
		return nil, true
	case '{', '[':
		return nil, false
	}
	return v, true
}
