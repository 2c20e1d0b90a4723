package jsonscan

import "bytes"

// ObjectScanner walks the members of a JSON object in place, checking the syntax as it
// goes, with no allocation. Use it as bufio.Scanner:
//
//	sc := jsonscan.ScanObject(doc)
//	for sc.Next() {
//		use(sc.Key(), sc.Value())
//	}
//	if err := sc.Err(); err != nil { ... }
//
// A member is yielded once its value has been scanned whole; what follows it is scanned
// by the next call to Next, so a document can yield members and still fail. A caller
// that stops early on an error of its own calls Rest to learn whether the document was
// JSON at all.
type ObjectScanner struct {
	doc      []byte
	i        int // where the walk goes on
	depth    int // of this object: 1 for the top level
	top      bool
	started  bool // past the first member (a ',' or '}' comes next)
	done     bool
	key, val [2]int // the current member's key literal and value, as doc[a:b]
	// keyPlain and valPlain: the key, and the value when it is a string, are plain
	// ASCII literals (no escape, no byte from 0x80 up).
	keyPlain, valPlain bool
	err                error
}

// ScanObject returns a scanner over the members of the object doc holds. When doc is
// JSON but not an object, the scanner yields nothing and Err is ErrNotObject; when it is
// not JSON, Err is the *Error that says why.
func ScanObject(doc []byte) ObjectScanner {
	i := skipSpace(doc, 0)
	if i < len(doc) && doc[i] == '{' {
		return ObjectScanner{doc: doc, i: i + 1, depth: 1, top: true}
	}
	end, err := value(doc, i, 0)
	if err == nil {
		if end = skipSpace(doc, end); end < len(doc) {
			err = syntaxError(doc, end, "after top-level value")
		} else {
			err = ErrNotObject
		}
	}
	return ObjectScanner{doc: doc, i: end, done: true, err: err}
}

// Next scans the next member. It returns false at the end of the object or at the
// first error (see Err).
func (o *ObjectScanner) Next() bool {
	if o.done {
		return false
	}
	doc := o.doc
	i := skipSpace(doc, o.i)
	switch {
	case !o.started && i < len(doc) && doc[i] == '}':
		return o.close(i + 1)
	case o.started && i >= len(doc):
		return o.fail(i, syntaxError(doc, i, ""))
	case o.started && doc[i] == '}':
		return o.close(i + 1)
	case o.started && doc[i] == ',':
		i = skipSpace(doc, i+1)
	case o.started:
		return o.fail(i, syntaxError(doc, i, "after object key:value pair"))
	}
	if i >= len(doc) || doc[i] != '"' {
		return o.fail(i, syntaxError(doc, i, "looking for beginning of object key string"))
	}
	keyEnd, keyPlain, err := strPlain(doc, i)
	if err != nil {
		return o.fail(keyEnd, err)
	}
	o.key, o.keyPlain = [2]int{i, keyEnd}, keyPlain
	if i = skipSpace(doc, keyEnd); i >= len(doc) || doc[i] != ':' {
		return o.fail(i, syntaxError(doc, i, "after object key"))
	}
	i = skipSpace(doc, i+1)
	var end int
	o.valPlain = false
	if i < len(doc) && doc[i] == '"' {
		end, o.valPlain, err = strPlain(doc, i)
	} else {
		end, err = value(doc, i, o.depth)
	}
	if err != nil {
		return o.fail(end, err)
	}
	o.val = [2]int{i, end}
	o.i, o.started = end, true
	return true
}

// close ends the walk at the object's end, doc[:end]; at the top level only spaces may
// follow.
func (o *ObjectScanner) close(end int) bool {
	o.i, o.done = end, true
	if o.top {
		if j := skipSpace(o.doc, end); j < len(o.doc) {
			o.err = syntaxError(o.doc, j, "after top-level value")
		}
	}
	return false
}

func (o *ObjectScanner) fail(i int, err error) bool {
	o.i, o.done, o.err = i, true, err
	return false
}

// Key returns the current member's key as its JSON string literal, quotes included: a
// part of the document (see RawString and Unquote).
func (o *ObjectScanner) Key() []byte { return o.doc[o.key[0]:o.key[1]] }

// Value returns the current member's value as it is in the document: a part of it.
func (o *ObjectScanner) Value() []byte { return o.doc[o.val[0]:o.val[1]] }

// KeyText is RawString(Key()), without a second look at a key the scan found plain.
func (o *ObjectScanner) KeyText() (content []byte, plain bool) {
	if o.keyPlain {
		return o.doc[o.key[0]+1 : o.key[1]-1], true
	}
	return RawString(o.Key())
}

// ValueText is InPlaceText(Value()), without a second look at a string the scan found
// plain.
func (o *ObjectScanner) ValueText() (text []byte, ok bool) {
	if o.valPlain {
		return bytes.TrimSpace(o.doc[o.val[0]+1 : o.val[1]-1]), true
	}
	return InPlaceText(o.Value())
}

// Err returns nil once Next has returned false at the end of a well-formed object, with
// only spaces after it; otherwise why the walk stopped: an *Error (wrapping ErrSyntax or
// ErrTooDeep) or ErrNotObject.
func (o *ObjectScanner) Err() error { return o.err }

// Rest scans the rest of the document without yielding its members, and returns Err.
func (o *ObjectScanner) Rest() error {
	for o.Next() {
	}
	return o.err
}
