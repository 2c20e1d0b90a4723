// Package jsonscan reads JSON in place, for decoders that must see a document exactly as
// it was sent: one scanner that checks the syntax as it walks and yields the members of
// the top-level object as slices of the input, and what is built on it: a scalar's text
// (ePay sends the same field as a number or as a string) and replacing a top-level
// member's value (redaction) without re-encoding anything else.
//
// It accepts what encoding/json accepts (RFC 8259; invalid UTF-8 inside strings is
// taken, as json.Valid takes it) and says why it refuses a document in encoding/json's
// words, but it follows objects and arrays only MaxDepth deep: a deeper document is
// refused with ErrTooDeep instead of being followed.
//
// It imports only the standard library.
package jsonscan
