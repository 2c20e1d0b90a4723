package worker

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Read API scopes.
const (
	// ScopeRead sees invoices and their history with personal data masked (names,
	// contacts, IPs, card ids: epay.MaskPersonal).
	ScopeRead = "read"
	// ScopePII sees the history bodies as stored (secret_hash always redacted).
	ScopePII = "pii"
	// ScopeOperator reads as ScopeRead does, and may resolve invoices that need a
	// human (POST /v1/invoices/{invoiceId}/resolve).
	ScopeOperator = "operator"
	// ScopeOperate reads as ScopeRead does, and may charge, cancel and refund
	// (POST /v1/invoices/{invoiceId}/refund, /charge, /cancel): the initiator's key, which
	// passes the merchant's requests on. Operator and operate are the scopes that move money.
	ScopeOperate = "operate"
)

// minReadKey is the shortest read API key taken.
const minReadKey = 16

// ReadKey is one reader of the read API (WORKER_READ_KEYS: name:scope:key,...).
type ReadKey struct {
	Name  string
	Scope string
	sum   [sha256.Size]byte // of the key: compared in constant time, never kept in clear
}

// ParseReadKeys reads "name:scope:key[,name:scope:key...]"; scope is read, pii,
// operator or operate; keys
// at least 16 characters, names and keys unique.
func ParseReadKeys(s string) ([]ReadKey, error) {
	var out []ReadKey
	names, sums := map[string]bool{}, map[[sha256.Size]byte]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rest, ok1 := strings.Cut(part, ":")
		scope, key, ok2 := strings.Cut(rest, ":")
		switch {
		case !ok1 || !ok2 || name == "":
			return nil, fmt.Errorf("%q: want name:scope:key", redactKey(part))
		case scope != ScopeRead && scope != ScopePII && scope != ScopeOperator && scope != ScopeOperate:
			return nil, fmt.Errorf("key %q: scope %q: want %s, %s, %s or %s", name, scope, ScopeRead, ScopePII, ScopeOperator, ScopeOperate)
		case len(key) < minReadKey:
			return nil, fmt.Errorf("key %q is %d characters: want at least %d", name, len(key), minReadKey)
		case names[name]:
			return nil, fmt.Errorf("key name %q given twice", name)
		}
		sum := sha256.Sum256([]byte(key))
		if sums[sum] {
			return nil, fmt.Errorf("key %q: the same key as another reader's", name)
		}
		names[name], sums[sum] = true, true
		out = append(out, ReadKey{Name: name, Scope: scope, sum: sum})
	}
	return out, nil
}

// redactKey shows name:scope of an entry, never its key.
func redactKey(part string) string {
	if i := strings.LastIndexByte(part, ':'); i >= 0 {
		return part[:i] + ":…"
	}
	return "…"
}

// reader is the key a request carries (Authorization: Bearer <key>), nil when none
// matches. Every key is compared, in constant time.
func reader(keys []ReadKey, r *http.Request) *ReadKey {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	var found *ReadKey
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].sum[:]) == 1 {
			found = &keys[i]
		}
	}
	return found
}
