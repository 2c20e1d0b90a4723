// Package jsonw writes JSON objects member by member, without reflection, byte for
// byte as encoding/json's Marshal writes the struct they mirror: strings escaped as
// Marshal escapes them (HTML characters, U+2028 and U+2029, invalid UTF-8 as U+FFFD),
// times as time.Time's MarshalJSON writes them, maps with their keys sorted.
//
// It is for the worker's hot path, where a reflective Marshal of the invoice took a
// tenth of a message's CPU. An encoder written with it must be held to json.Marshal by
// a test that fills every field of the struct it mirrors (see the invoice, bolt and
// events packages' tests), so that a field added to the struct and not to its encoder
// fails that test.
//
// It imports only jsonscan, to check a raw value's syntax.
package jsonw

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// Object is a JSON object being written: Start it, write its members in the order of
// the struct's fields, then End it. The first error (a time Marshal would refuse, a
// value Marshal cannot encode) is kept and returned by End; the members written after
// it are not looked at.
type Object struct {
	b     []byte
	first bool
	err   error
}

// Start begins an object at the end of b.
func Start(b []byte) Object { return Object{b: append(b, '{'), first: true} }

// End closes the object and returns b with it appended, or the first error.
func (o *Object) End() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	return append(o.b, '}'), nil
}

// Key writes a member's key. The key must be plain: ASCII letters and digits, as the
// json tags of the structs mirrored are (Marshal would escape anything else).
func (o *Object) Key(k string) {
	if o.first {
		o.first = false
	} else {
		o.b = append(o.b, ',')
	}
	o.b = append(append(append(o.b, '"'), k...), '"', ':')
}

// Appender is a value that appends its own JSON (an amount, as its MarshalJSON writes it).
type Appender interface{ AppendJSON(b []byte) []byte }

// Appended writes a member whose value appends itself. (A function, not a method, so
// that v is not boxed in an interface: no allocation.)
func Appended[V Appender](o *Object, k string, v V) {
	o.Key(k)
	o.b = v.AppendJSON(o.b)
}

// AppendedOmitEmpty writes such a member unless v is its type's zero value (a number
// tagged omitempty).
func AppendedOmitEmpty[V interface {
	Appender
	comparable
}](o *Object, k string, v V) {
	var zero V
	if v != zero {
		Appended(o, k, v)
	}
}

// Object begins a member whose value is an object, written into the Object returned;
// Close ends it.
func (o *Object) Object(k string) Object {
	o.Key(k)
	return Object{b: append(o.b, '{'), first: true, err: o.err}
}

// Close ends in, an object begun by o.Object, and takes its bytes and its error.
func (o *Object) Close(in *Object) {
	o.b, o.err = append(in.b, '}'), in.err
}

// String writes a string member.
func (o *Object) String(k, v string) {
	o.Key(k)
	o.b = AppendString(o.b, v)
}

// StringOmitEmpty writes a string member unless it is empty (a field tagged omitempty).
func (o *Object) StringOmitEmpty(k, v string) {
	if v != "" {
		o.String(k, v)
	}
}

// Int writes an integer member.
func (o *Object) Int(k string, v int64) {
	o.Key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

// IntOmitEmpty writes an integer member unless it is 0.
func (o *Object) IntOmitEmpty(k string, v int64) {
	if v != 0 {
		o.Int(k, v)
	}
}

// Uints writes an array of unsigned integers (null when v is nil).
func (o *Object) Uints(k string, v []uint64) {
	o.Key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i, n := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = strconv.AppendUint(o.b, n, 10)
	}
	o.b = append(o.b, ']')
}

// Bool writes a boolean member.
func (o *Object) Bool(k string, v bool) {
	o.Key(k)
	if v {
		o.b = append(o.b, "true"...)
	} else {
		o.b = append(o.b, "false"...)
	}
}

// BoolOmitEmpty writes true, or nothing for false.
func (o *Object) BoolOmitEmpty(k string, v bool) {
	if v {
		o.Bool(k, v)
	}
}

// Time writes a time as its MarshalJSON does (RFC 3339 with nanoseconds, refused
// outside the years 0 to 9999).
func (o *Object) Time(k string, t time.Time) {
	if o.err != nil {
		return
	}
	o.Key(k)
	b, err := t.AppendText(append(o.b, '"'))
	if err != nil {
		o.err = fmt.Errorf("%s: %w", k, err)
		return
	}
	o.b = append(b, '"')
}

// TimeOmitZero writes a time unless it is the zero time (a field tagged omitzero).
func (o *Object) TimeOmitZero(k string, t time.Time) {
	if !t.IsZero() {
		o.Time(k, t)
	}
}

// Strings writes an array of strings (null when v is nil).
func (o *Object) Strings(k string, v []string) {
	o.Key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = AppendString(o.b, s)
	}
	o.b = append(o.b, ']')
}

// StringsOmitEmpty writes an array of strings unless it has none.
func (o *Object) StringsOmitEmpty(k string, v []string) {
	if len(v) > 0 {
		o.Strings(k, v)
	}
}

// StringMapOmitEmpty writes a map of strings, its keys sorted, unless it has none.
func (o *Object) StringMapOmitEmpty(k string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	o.Key(k)
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	o.b = append(o.b, '{')
	for i, key := range keys {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = append(AppendString(o.b, key), ':')
		o.b = AppendString(o.b, m[key])
	}
	o.b = append(o.b, '}')
}

// Value writes a member with encoding/json itself: for the values rare on the hot path
// (an operator's resolution, a refund's operations), not worth an encoder of their own.
func (o *Object) Value(k string, v any) {
	if o.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		o.err = fmt.Errorf("%s: %w", k, err)
		return
	}
	o.Key(k)
	o.b = append(o.b, b...)
}

// hex are the digits of a \u escape.
const hex = "0123456789abcdef"

// plain marks the ASCII bytes a string may hold as they are: Marshal escapes the
// others (controls, the quote, the backslash and, for HTML, <, > and &).
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a JSON string, escaped as json.Marshal escapes it.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // the other controls, and <, > and &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but not valid JavaScript
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// RawOmitEmpty writes a JSON value given as bytes (a json.RawMessage field tagged
// omitempty) as Marshal writes it: compacted, with <, >, &, U+2028 and U+2029 escaped.
// A value already so (the callbacks ePay sends are) is copied after one check of its
// syntax; any other goes through encoding/json.
func (o *Object) RawOmitEmpty(k string, v []byte) {
	if len(v) == 0 || o.err != nil {
		return
	}
	if !canonical(v) || !jsonscan.Valid(v) { // a document too deep for jsonscan goes to Marshal too
		o.Value(k, json.RawMessage(v))
		return
	}
	o.Key(k)
	o.b = append(o.b, v...)
}

// canonical says whether v, if it is valid JSON, is as Marshal writes it: no space
// outside its strings, and nothing Marshal escapes for HTML or JavaScript.
func canonical(v []byte) bool {
	in := false
	for i := 0; i < len(v); i++ {
		for i < len(v) && !notable[v[i]] { // most bytes: one load and one test each
			i++
		}
		if i == len(v) {
			break
		}
		switch c := v[i]; {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2:
			if i+2 < len(v) && v[i+1] == 0x80 && (v[i+2] == 0xA8 || v[i+2] == 0xA9) {
				return false
			}
		case c == '"':
			in = !in
		case c == '\\':
			if in {
				i++ // the escaped byte: \" does not end the string
			}
		case !in: // a space
			return false
		}
	}
	return true
}

// notable are the bytes canonical looks at: quotes, backslashes, spaces, what Marshal
// escapes for HTML, and the first byte of U+2028 and U+2029.
var notable = func() (t [256]bool) {
	for _, c := range []byte{'"', '\\', ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2} {
		t[c] = true
	}
	return t
}()

// BytesOmitEmpty writes bytes as Marshal writes a []byte (standard base64), unless
// there are none.
func (o *Object) BytesOmitEmpty(k string, v []byte) {
	if len(v) == 0 {
		return
	}
	o.Key(k)
	o.b = append(base64.StdEncoding.AppendEncode(append(o.b, '"'), v), '"')
}

// Encoded writes an array of values already encoded (each valid JSON as Marshal writes
// it): the elements of all the lists, in order. No list or only empty ones writes [].
func (o *Object) Encoded(k string, lists ...[][]byte) {
	o.Key(k)
	o.b = append(o.b, '[')
	n := 0
	for _, l := range lists {
		for _, v := range l {
			if n > 0 {
				o.b = append(o.b, ',')
			}
			o.b = append(o.b, v...)
			n++
		}
	}
	o.b = append(o.b, ']')
}
