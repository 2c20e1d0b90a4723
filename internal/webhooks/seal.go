package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// sealedPrefix marks a secret stored sealed: "enc:v1:" and the base64 of the nonce and
// the AES-256-GCM ciphertext of the secret, bound to its endpoint's id.
const sealedPrefix = "enc:v1:"

// ErrSealed: an endpoint's secret is stored sealed and this process has no
// WEBHOOKS_SECRETS_KEY that opens it.
var ErrSealed = errors.New("webhooks: the endpoint's secrets are sealed with a WEBHOOKS_SECRETS_KEY this process does not have")

// sealer seals the endpoints' secrets in the bucket with WEBHOOKS_SECRETS_KEY, which
// only the webhooks service holds: whoever reads the bucket some other way (a RePublish
// or a source added to a stream by a holder of a NATS password with stream rights, a
// backup, an operator's nats CLI) gets no secret that would sign a webhook a merchant
// takes. Nil: secrets are stored as they are.
type sealer struct{ aead cipher.AEAD }

// ParseSecretsKey reads WEBHOOKS_SECRETS_KEY: the base64 of 32 random bytes.
func ParseSecretsKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != 32 {
		return nil, errors.New("want the base64 of 32 random bytes (head -c 32 /dev/urandom | base64)")
	}
	return k, nil
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// additional binds a sealed secret to its endpoint: it opens under no other id.
func additional(endpointID string) []byte {
	return []byte("epayflow-webhook-secret-v1\n" + endpointID)
}

func (s *sealer) seal(endpointID, value string) string {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce) // never fails (crypto/rand)
	out := s.aead.Seal(nonce, nonce, []byte(value), additional(endpointID))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out)
}

func (s *sealer) open(endpointID, stored string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", fmt.Errorf("webhooks: endpoint %s: a sealed secret that is not one", endpointID)
	}
	n := s.aead.NonceSize()
	v, err := s.aead.Open(nil, b[:n], b[n:], additional(endpointID))
	if err != nil {
		return "", fmt.Errorf("webhooks: endpoint %s: a sealed secret this WEBHOOKS_SECRETS_KEY does not open (another key, or moved from another endpoint)", endpointID)
	}
	return string(v), nil
}

// encodeEndpoint is the bucket's value of e: its secrets sealed when the store has a
// sealer.
func (s *Store) encodeEndpoint(e Endpoint) ([]byte, error) {
	if s.sealer != nil {
		sealed := make([]Secret, len(e.Secrets))
		for i, sec := range e.Secrets {
			sealed[i] = Secret{Value: s.sealer.seal(e.ID, sec.Value), ExpiresAt: sec.ExpiresAt}
		}
		e.Secrets = sealed
	}
	return json.Marshal(e)
}

// decodeEndpoint reads the endpoint id from the bucket: a sealed secret is opened
// (ErrSealed without a sealer); one stored as it is (before WEBHOOKS_SECRETS_KEY was set)
// is taken, and sealed at the endpoint's next write. An entry whose endpoint is not the
// one its key names (copied from another key, with that endpoint's sealed secrets) is
// refused.
func (s *Store) decodeEndpoint(id string, b []byte) (Endpoint, error) {
	var e Endpoint
	if err := json.Unmarshal(b, &e); err != nil {
		return e, err
	}
	if e.ID != id {
		return e, fmt.Errorf("webhooks: the entry of endpoint %s holds endpoint %q", id, e.ID)
	}
	for i, sec := range e.Secrets {
		if !strings.HasPrefix(sec.Value, sealedPrefix) {
			continue
		}
		if s.sealer == nil {
			return e, fmt.Errorf("%w: endpoint %s", ErrSealed, e.ID)
		}
		v, err := s.sealer.open(e.ID, sec.Value)
		if err != nil {
			return e, err
		}
		e.Secrets[i].Value = v
	}
	return e, nil
}
