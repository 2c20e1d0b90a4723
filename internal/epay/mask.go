package epay

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Masked replaces the value of a field that holds personal data in a masked view.
const Masked = "[masked]"

// personalKeys are the keys (compared ignoring case) whose values say who the customer
// is: name, contacts, network location, the saved-card and card-token ids. Card masks
// (440563...5096) are not among them: they are what ePay shows the merchant.
var personalKeys = map[string]bool{
	"name": true, "email": true, "phone": true, "ip": true, "ipcity": true, "ipcountry": true,
	"ipdistrict": true, "ipregion": true, "iplatitude": true, "iplongitude": true,
	"cardid": true, "tokenrecipient": true,
}

// MaskPersonal returns raw with the values of personal fields replaced by "[masked]" and
// secret_hash by "[redacted]", at any depth (a status answer nests ePay's transaction).
// raw that is not JSON is returned as it is; a masked document is re-encoded (its keys
// sorted), so it is a view, never what is stored.
func MaskPersonal(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return raw
	}
	if !maskValue(v) {
		return raw
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return raw
	}
	return bytes.TrimRight(out.Bytes(), "\n")
}

// maskValue masks v in place and reports whether it changed anything.
func maskValue(v any) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			switch lk := strings.ToLower(k); {
			case lk == "secret_hash":
				t[k], changed = "[redacted]", true
			case personalKeys[lk]:
				if val != nil && val != "" {
					t[k], changed = Masked, true
				}
			default:
				if str, ok := val.(string); ok {
					if masked, ok := maskString(str); ok {
						t[k], changed = masked, true
					}
					continue
				}
				changed = maskValue(val) || changed
			}
		}
	case []any:
		for i, val := range t {
			if str, ok := val.(string); ok {
				if masked, ok := maskString(str); ok {
					t[i], changed = masked, true
				}
				continue
			}
			changed = maskValue(val) || changed
		}
	}
	return changed
}

// maskString masks a string that is itself a JSON object or array: ePay's status answer
// carries the payment's "data" as a JSON-encoded string ("{\"email\":…}"). It reports
// false when s is not one, or holds nothing to mask.
func maskString(s string) (string, bool) {
	trimmed := strings.TrimSpace(s)
	if trimmed == "" || trimmed[0] != '{' && trimmed[0] != '[' {
		return s, false
	}
	masked := MaskPersonal([]byte(trimmed))
	if bytes.Equal(masked, []byte(trimmed)) {
		return s, false
	}
	return string(masked), true
}
