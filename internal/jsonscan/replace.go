package jsonscan

// ReplaceValue returns doc with the value of every top-level member whose key decodes to
// key replaced by val, and everything else byte for byte as it was. It returns doc
// itself when no member has that key, and doc with the scanner's error when doc is not a
// JSON object (ErrNotObject, or an *Error wrapping ErrSyntax or ErrTooDeep).
func ReplaceValue(doc []byte, key string, val []byte) ([]byte, error) {
	var out []byte
	last := 0 // doc[:last] is in out
	sc := ScanObject(doc)
	for sc.Next() {
		if !keyIs(sc.Key(), key) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(doc)+len(val))
		}
		out = append(append(out, doc[last:sc.val[0]]...), val...)
		last = sc.val[1]
	}
	if err := sc.Err(); err != nil {
		return doc, err
	}
	if out == nil {
		return doc, nil
	}
	return append(out, doc[last:]...), nil
}

// keyIs reports whether the string literal lit decodes to key.
func keyIs(lit []byte, key string) bool {
	if s, plain := RawString(lit); plain {
		return string(s) == key
	}
	s, err := Unquote(lit)
	return err == nil && s == key
}
