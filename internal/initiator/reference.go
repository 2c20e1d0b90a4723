package initiator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode"
	"unicode/utf8"
)

// The merchant's references on a payment: orderId and metadata. Only a merchant's
// backend sends them (POST /v1/payments with its API key; the shop page's route and ePay
// never can), but they travel into logs, the invoice, the read API and every event, and
// a merchant's system may show them in HTML: so orderId is a short token of safe
// characters, and metadata values are bounded text without control characters.
const (
	// OrderIDMaxLen bounds orderId; its characters are A-Z a-z 0-9 - _ . : / # (no
	// spaces, quotes, angle brackets or control characters).
	OrderIDMaxLen = 64
	// MetadataMaxKeys, MetadataKeyMaxLen, MetadataValueMaxLen and MetadataMaxBytes bound
	// metadata: at most 20 keys of 1 to 40 characters of A-Z a-z 0-9 - _ ., string
	// values of at most 500 characters, 2048 bytes of keys and values (UTF-8) in all.
	MetadataMaxKeys     = 20
	MetadataKeyMaxLen   = 40
	MetadataValueMaxLen = 500
	MetadataMaxBytes    = 2048
)

func parseOrderID(p *PaymentRequest, v json.RawMessage) string {
	s, ok := rawString(v)
	switch {
	case !ok:
		return "must be a string"
	case s == "":
		return ""
	case len(s) > OrderIDMaxLen || !tokenChars(s, "-_.:/#"):
		return fmt.Sprintf("must be 1 to %d characters of A-Z, a-z, 0-9 and - _ . : / #", OrderIDMaxLen)
	}
	p.OrderID = s
	return ""
}

// rawString reads a JSON string as written, without trimming.
func rawString(v json.RawMessage) (string, bool) {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// tokenChars says whether s holds only ASCII letters, digits and the bytes of extra.
func tokenChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || bytes.IndexByte([]byte(extra), c) >= 0) {
			return false
		}
	}
	return true
}

func parseMetadata(p *PaymentRequest, v json.RawMessage) string {
	if len(v) == 0 || v[0] != '{' {
		return "must be an object of string values"
	}
	obj, errs := decodeObject(v)
	if obj == nil {
		return "must be an object of string values"
	}
	if len(errs) > 0 {
		return fmt.Sprintf("key %q is given more than once", slices.Sorted(maps.Keys(errs))[0])
	}
	if len(obj) > MetadataMaxKeys {
		return fmt.Sprintf("must have at most %d keys (has %d)", MetadataMaxKeys, len(obj))
	}
	md, size := make(map[string]string, len(obj)), 0
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		if msg := metadataEntry(key, obj[key]); msg != "" {
			return msg
		}
		val, _ := rawString(obj[key])
		md[key] = val
		size += len(key) + len(val)
	}
	if size > MetadataMaxBytes {
		return fmt.Sprintf("must hold at most %d bytes of keys and values (has %d)", MetadataMaxBytes, size)
	}
	if len(md) > 0 {
		p.Metadata = md
	}
	return ""
}

// metadataEntry says what is wrong with one key and its value, or "".
func metadataEntry(key string, v json.RawMessage) string {
	if key == "" || len(key) > MetadataKeyMaxLen || !tokenChars(key, "-_.") {
		return fmt.Sprintf("key %q: keys must be 1 to %d characters of A-Z, a-z, 0-9 and - _ .", key, MetadataKeyMaxLen)
	}
	val, ok := rawString(v)
	switch {
	case !ok:
		return fmt.Sprintf("key %q: values must be strings", key)
	case utf8.RuneCountInString(val) > MetadataValueMaxLen:
		return fmt.Sprintf("key %q: values must be at most %d characters", key, MetadataValueMaxLen)
	case unprintable(val):
		return fmt.Sprintf("key %q: values must not contain control, format or line-separator characters", key)
	}
	return ""
}

// unprintable finds what could forge a log line or reorder text on a screen: control
// characters (newlines included), format characters (bidirectional overrides,
// zero-width ones), line and paragraph separators, and invalid UTF-8.
func unprintable(s string) bool {
	return !utf8.ValidString(s) || bytes.ContainsFunc([]byte(s), func(r rune) bool {
		return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
	})
}
