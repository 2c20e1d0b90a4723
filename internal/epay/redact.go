package epay

import (
	"bytes"
	"errors"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// Redacted replaces the value of a redacted field.
const Redacted = `"[redacted]"`

// RedactSecretHash returns raw with the value of its top-level "secret_hash" replaced by
// "[redacted]" (every one, should the key be repeated), or raw itself when it has none
// or is not a JSON object. A body nested deeper than jsonscan.MaxDepth, which no
// decoder of this package reads, cannot be searched: it is replaced whole by
// "[redacted]".
//
// A secret_hash binds only terminal and invoiceId, and ePay sends it back in every
// callback: whoever reads it can sign a callback for that invoice. The worker keeps
// callbacks verbatim; what it shows (read API, payment events) goes through this.
func RedactSecretHash(raw []byte) []byte {
	if !bytes.Contains(raw, []byte("secret_hash")) && !bytes.Contains(raw, []byte(`\u`)) {
		return raw // the key is neither there plainly nor possibly escaped
	}
	out, err := jsonscan.ReplaceValue(raw, "secret_hash", []byte(Redacted))
	if errors.Is(err, jsonscan.ErrTooDeep) {
		return []byte(Redacted) // stored before the depth limit: show nothing rather than maybe the key
	}
	return out
}
