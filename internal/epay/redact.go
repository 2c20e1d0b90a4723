package epay

import (
	"bytes"
	"encoding/json"
)

// Redacted replaces the value of a redacted field.
const Redacted = `"[redacted]"`

// RedactSecretHash returns raw with the value of its top-level "secret_hash" replaced by
// "[redacted]", or raw itself when it has none or is not a JSON object.
//
// A secret_hash binds only terminal and invoiceId, and ePay sends it back in every
// callback: whoever reads it can sign a callback for that invoice. The worker keeps
// callbacks verbatim; what it shows (read API, payment events) goes through this.
func RedactSecretHash(raw []byte) []byte {
	if !bytes.Contains(raw, []byte("secret_hash")) && !bytes.Contains(raw, []byte(`\u`)) {
		return raw // the key is neither there plainly nor possibly escaped
	}
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' || !json.Valid(raw) {
		return raw
	}
	i = skipSpace(raw, i+1)
	for i < len(raw) && raw[i] != '}' {
		keyEnd := skipString(raw, i)
		key, err := unquote(raw[i:keyEnd])
		start := skipSpace(raw, skipSpace(raw, keyEnd)+1)
		end := skipValue(raw, start)
		if err == nil && key == "secret_hash" {
			out := make([]byte, 0, len(raw))
			out = append(out, raw[:start]...)
			out = append(out, Redacted...)
			return append(out, raw[end:]...)
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return raw
}
