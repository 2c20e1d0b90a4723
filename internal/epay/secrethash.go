package epay

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
)

// Errors returned by Keyring.Verify; the metric label of each is its Reason.
var (
	ErrSecretHashMissing    = errors.New("secret_hash missing")
	ErrSecretHashMalformed  = errors.New("secret_hash malformed")
	ErrSecretHashUnknownKey = errors.New("secret_hash names an unknown key")
	ErrSecretHashMismatch   = errors.New("secret_hash does not match")
)

// ErrKeyring is wrapped by every error about a malformed key list.
var ErrKeyring = errors.New("invalid signing keys")

// SecretHashLen is the length of a secret_hash: one key id and 24 base32 characters.
const SecretHashLen = 1 + secretHashMACLen

const secretHashMACLen = 24

// MinKeyLen is the shortest signing secret a Keyring accepts.
const MinKeyLen = 16

// Key is one signing key: a one-character id [A-Z0-9] and its secret.
type Key struct {
	ID     byte
	Secret []byte
}

// Keyring derives and verifies secret_hash values. The first key signs; every key
// verifies, so a new key is rolled out by adding it second, then moving it first, then
// removing the old one once no open invoice carries it.
//
// secret_hash = KID + first 24 characters of unpadded standard base32 of
// HMAC-SHA256(key[KID], terminal + ":" + invoiceId).
//
// It is derived, never stored: any replica verifies a callback with no lookup.
type Keyring struct {
	keys []Key
	macs []*sync.Pool // of *macState, one pool per key, in the order of keys
}

// maxPooledMACInput bounds the input buffer a pooled macState keeps.
const maxPooledMACInput = 256

// macState is an HMAC-SHA256 keyed with one secret and the buffers of one computation:
// reset and reused, so a Sign or Verify allocates nothing (the hash's key schedule is
// made once per pooled state, not once per callback).
type macState struct {
	h   hash.Hash
	in  []byte // terminal + ":" + invoiceId
	sum [sha256.Size]byte
}

// NewKeyring returns a keyring over keys; the first signs. It fails (ErrKeyring) on no
// keys, a bad or repeated id, or a secret shorter than MinKeyLen.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrKeyring)
	}
	seen := map[byte]bool{}
	for _, k := range keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("%w: key id %q must be one character A-Z or 0-9", ErrKeyring, k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("%w: key id %q given twice", ErrKeyring, k.ID)
		}
		seen[k.ID] = true
		if len(k.Secret) < MinKeyLen {
			return nil, fmt.Errorf("%w: key %q is shorter than %d bytes", ErrKeyring, k.ID, MinKeyLen)
		}
	}
	k := &Keyring{keys: append([]Key(nil), keys...)}
	for _, key := range k.keys {
		secret := key.Secret
		k.macs = append(k.macs, &sync.Pool{New: func() any {
			return &macState{h: hmac.New(sha256.New, secret), in: make([]byte, 0, 64)}
		}})
	}
	return k, nil
}

// ParseKeyring reads keys written as "KID:secret,KID:secret" (EPAY_SECRET_KEYS).
// Errors wrap ErrKeyring and never contain a secret.
func ParseKeyring(s string) (*Keyring, error) {
	var keys []Key
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, secret, ok := strings.Cut(part, ":")
		if !ok || len(id) != 1 {
			return nil, fmt.Errorf("%w: entry %d is not KID:secret", ErrKeyring, i+1)
		}
		keys = append(keys, Key{ID: id[0], Secret: []byte(secret)})
	}
	return NewKeyring(keys...)
}

func validKeyID(b byte) bool { return b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' }

// KeyIDs lists the key ids, signing key first.
func (k *Keyring) KeyIDs() string {
	ids := make([]byte, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.ID
	}
	return string(ids)
}

// String names the keys without their secrets.
func (k *Keyring) String() string { return "keyring[" + k.KeyIDs() + "]" }

// LogValue keeps secrets out of structured logs.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Sign returns the secret_hash of an invoice with the signing (first) key.
func (k *Keyring) Sign(terminal, invoiceID string) string {
	var buf [SecretHashLen]byte
	return string(k.mac(0, append(buf[:0], k.keys[0].ID), terminal, ':', invoiceID))
}

// Token returns a token of the keyring's shape (a key id and 24 base32 characters) for
// another purpose than secret_hash: an HMAC of purpose 0x00 id. Neither may hold a ':',
// which every secret_hash input (terminal ":" invoiceId) holds, so no token is the
// secret_hash of any terminal and invoice, nor the other way round, whatever terminal a
// callback names. It returns "" (which VerifyToken never accepts) when one holds a ':'.
func (k *Keyring) Token(purpose, id string) string {
	if strings.ContainsRune(purpose, ':') || strings.ContainsRune(id, ':') {
		return ""
	}
	var buf [SecretHashLen]byte
	return string(k.mac(0, append(buf[:0], k.keys[0].ID), purpose, 0, id))
}

// VerifyToken checks got against Token(purpose, id) of every key, in constant time, with
// Verify's errors.
func (k *Keyring) VerifyToken(purpose, id, got string) error {
	if strings.ContainsRune(purpose, ':') || strings.ContainsRune(id, ':') {
		return ErrSecretHashMismatch
	}
	return k.verify(purpose, 0, id, got)
}

// Verify checks got against terminal and invoiceID in constant time. It returns nil or
// one of ErrSecretHashMissing, ErrSecretHashMalformed (not a key id and 24 base32
// characters), ErrSecretHashUnknownKey, ErrSecretHashMismatch.
func (k *Keyring) Verify(terminal, invoiceID, got string) error {
	return k.verify(terminal, ':', invoiceID, got)
}

func (k *Keyring) verify(a string, sep byte, b, got string) error {
	if got == "" {
		return ErrSecretHashMissing
	}
	if !wellFormed(got) {
		return ErrSecretHashMalformed
	}
	for i, key := range k.keys {
		if key.ID != got[0] {
			continue
		}
		var buf [secretHashMACLen]byte
		want := k.mac(i, buf[:0], a, sep, b)
		if subtle.ConstantTimeCompare(want, []byte(got[1:])) != 1 {
			return ErrSecretHashMismatch
		}
		return nil
	}
	return ErrSecretHashUnknownKey
}

// wellFormed reports whether s has the shape of a secret_hash: a key id [A-Z0-9] and 24
// characters of the base32 alphabet [A-Z2-7], so garbage is counted as malformed rather
// than as an unknown key or a mismatch.
func wellFormed(s string) bool {
	if len(s) != SecretHashLen || !validKeyID(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// SecretHashReason is a short label for a Verify error, for metrics.
func SecretHashReason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrSecretHashMissing):
		return "missing"
	case errors.Is(err, ErrSecretHashMalformed):
		return "malformed"
	case errors.Is(err, ErrSecretHashUnknownKey):
		return "unknown_key"
	default:
		return "mismatch"
	}
}

// b32 is the encoding of the MAC: standard alphabet, no padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// mac appends the 24 base32 characters of HMAC-SHA256(key i's secret, a + sep + b) to
// dst: a secret_hash is terminal ":" invoiceID. It is on the hot path of the ingest and
// of the worker: the HMAC comes from key i's pool and the encoding is on the stack, so it
// allocates nothing.
func (k *Keyring) mac(i int, dst []byte, a string, sep byte, b string) []byte {
	st := k.macs[i].Get().(*macState)
	defer func() {
		if cap(st.in) > maxPooledMACInput { // an outsized input's buffer is not kept
			st.in = make([]byte, 0, 64)
		}
		k.macs[i].Put(st)
	}()
	st.h.Reset()
	st.in = append(append(append(st.in[:0], a...), sep), b...)
	st.h.Write(st.in)
	var enc [52]byte // unpadded base32 of 32 bytes
	b32.Encode(enc[:], st.h.Sum(st.sum[:0]))
	return append(dst, enc[:secretHashMACLen]...)
}
