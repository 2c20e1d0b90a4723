package jsonscan

// Valid says whether doc is one JSON value, with space around it at most: what
// json.Valid says, faster (strings are scanned eight bytes at a time), except that a
// value nested more than MaxDepth deep is refused.
func Valid(doc []byte) bool {
	i, err := value(doc, skipSpace(doc, 0), 0)
	return err == nil && skipSpace(doc, i) == len(doc)
}
