package events

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// A signing key is a seed or a whole private key after whsk_; its public key is the
// Ed25519 one after whpk_, and a signature is Standard Webhooks' v1a of "id.timestamp.body".
func TestSigningKeysAndSignatures(t *testing.T) {
	n, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	k := n.Key()
	s, err := ParseSigningKey(k)
	if err != nil || s.PublicKey() != n.PublicKey() {
		t.Fatalf("its key %s read back: %v, public key %s, want %s", k, err, s.PublicKey(), n.PublicKey())
	}
	seed, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(k, SigningKeyPrefix))
	priv := ed25519.NewKeyFromSeed(seed)
	whole, err := ParseSigningKey(SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv))
	if err != nil || whole.PublicKey() != s.PublicKey() {
		t.Fatalf("the 64-byte form: %v, public key %s, want %s", err, whole.PublicKey(), s.PublicKey())
	}
	pub, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.PublicKey(), PublicKeyPrefix))
	sig := s.Sign("ev-1", 1722232257, []byte("{}"))
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1a,"))
	if !strings.HasPrefix(sig, "v1a,") || !ed25519.Verify(pub, []byte("ev-1.1722232257.{}"), raw) {
		t.Fatalf("signature %q is not v1a of id.timestamp.body", sig)
	}
	wrongHalf := append(append([]byte(nil), priv[:32]...), make([]byte, 32)...)
	for _, bad := range []string{"", strings.TrimPrefix(k, SigningKeyPrefix), "whsk_!!", "whsk_" + base64.StdEncoding.EncodeToString([]byte("short")),
		SigningKeyPrefix + base64.StdEncoding.EncodeToString(wrongHalf)} {
		if _, err := ParseSigningKey(bad); !errors.Is(err, ErrKey) {
			t.Errorf("%q: %v, want ErrKey", bad, err)
		}
	}
}
