package jsonscan

import (
	"errors"
	"strconv"
)

// MaxDepth is the deepest nesting of objects and arrays the scanner follows; the
// top-level object is depth 1. ePay's bodies are at most 3 deep (a status answer nests
// its transaction) and a callback is flat, so 64 refuses no real body while bounding the
// scanner's recursion to a few kilobytes of stack. encoding/json follows 10000.
const MaxDepth = 64

// Errors of the scanner. A refused document's error is an *Error that wraps ErrSyntax or
// ErrTooDeep; test for them with errors.Is.
var (
	ErrSyntax    = errors.New("not valid JSON")
	ErrTooDeep   = errors.New("JSON nested deeper than " + strconv.Itoa(MaxDepth) + " levels")
	ErrNotObject = errors.New("JSON value is not an object")
	ErrNotScalar = errors.New("an object or array where a scalar belongs")
)

// Error says where and why the scanner refused a document.
type Error struct {
	// Offset is the number of bytes read before the error: the offending byte is
	// doc[Offset-1], and Offset is len(doc) when the document ends too soon (as
	// encoding/json's SyntaxError.Offset).
	Offset int
	msg    string
	kind   error // ErrSyntax or ErrTooDeep
}

// Error is encoding/json's message for the same syntax error ("invalid character 'x'
// after top-level value", "unexpected end of JSON input"), or ErrTooDeep's.
func (e *Error) Error() string { return e.msg }

// Unwrap returns ErrSyntax or ErrTooDeep.
func (e *Error) Unwrap() error { return e.kind }

// syntaxError is the error for the byte at doc[i], or for the end of doc when i is past
// it; context says where the scanner was, in encoding/json's words.
func syntaxError(doc []byte, i int, context string) error {
	if i >= len(doc) {
		return &Error{Offset: len(doc), msg: "unexpected end of JSON input", kind: ErrSyntax}
	}
	return &Error{Offset: i + 1, msg: "invalid character " + quoteChar(doc[i]) + " " + context, kind: ErrSyntax}
}

// tokenError is syntaxError inside a string escape, number or literal: there,
// encoding/json reports the end of the document as the space it pretends to read
// ("invalid character ' ' in numeric literal").
func tokenError(doc []byte, i int, context string) error {
	if i >= len(doc) {
		return &Error{Offset: len(doc), msg: "invalid character ' ' " + context, kind: ErrSyntax}
	}
	return syntaxError(doc, i, context)
}

// tooDeep is the error for the object or array opening at doc[i].
func tooDeep(i int) error {
	return &Error{Offset: i + 1, msg: ErrTooDeep.Error(), kind: ErrTooDeep}
}

// quoteChar formats c as encoding/json does in its messages.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}
