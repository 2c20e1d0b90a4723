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
	"time"
)

// sealedPrefix marks a secret stored sealed: "enc:v2:" and the base64 of the nonce and
// the AES-256-GCM ciphertext of the secret, bound to its endpoint's id, URL and event
// types (additional): a bucket writer who changes where an endpoint's deliveries go, or
// what they carry, gets an entry no key opens. sealedPrefixV1's were bound to the id
// alone (the URL could be changed under them); Reseal seals them again as v2 at the
// start, and they are refused after it.
const (
	sealedPrefix   = "enc:v2:"
	sealedPrefixV1 = "enc:v1:"
)

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

// additional binds a sealed secret to its endpoint as stored: its id, where its
// deliveries go, which it gets and from when (createdAt as stored: zero until its first
// change), in JSON, which no two endpoints share. It opens under no other.
func additional(e Endpoint) []byte {
	b, _ := json.Marshal(struct {
		V          string    `json:"v"`
		ID         string    `json:"id"`
		URL        string    `json:"url"`
		EventTypes []string  `json:"eventTypes"`
		CreatedAt  time.Time `json:"createdAt"`
	}{"epayflow-webhook-secret-v2", e.ID, e.URL, e.EventTypes, e.CreatedAt})
	return b
}

// additionalV1 is a v1 secret's: the endpoint's id alone.
func additionalV1(endpointID string) []byte {
	return []byte("epayflow-webhook-secret-v1\n" + endpointID)
}

func (s *sealer) seal(e Endpoint, value string) string {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce) // never fails (crypto/rand)
	out := s.aead.Seal(nonce, nonce, []byte(value), additional(e))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out)
}

func (s *sealer) open(e Endpoint, stored string) (string, error) {
	prefix, ad := sealedPrefix, additional(e)
	if strings.HasPrefix(stored, sealedPrefixV1) {
		prefix, ad = sealedPrefixV1, additionalV1(e.ID)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, prefix))
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", fmt.Errorf("webhooks: endpoint %s: a sealed secret that is not one", e.ID)
	}
	n := s.aead.NonceSize()
	v, err := s.aead.Open(nil, b[:n], b[n:], ad)
	if err != nil {
		return "", fmt.Errorf("webhooks: endpoint %s: a sealed secret this WEBHOOKS_SECRETS_KEY does not open for this endpoint "+
			"(another key, or its URL or event types changed outside the API, or moved from another endpoint)", e.ID)
	}
	return string(v), nil
}

// encodeEndpoint is the bucket's value of e: its secrets sealed when the store has a
// sealer.
func (s *Store) encodeEndpoint(e Endpoint) ([]byte, error) {
	if s.sealer != nil {
		sealed := make([]Secret, len(e.Secrets))
		for i, sec := range e.Secrets {
			sealed[i] = Secret{Value: s.sealer.seal(e, sec.Value), ExpiresAt: sec.ExpiresAt}
		}
		e.Secrets = sealed
	}
	return json.Marshal(e)
}

// ErrUnsealed: with WEBHOOKS_SECRETS_KEY set, an endpoint whose secret is stored as it
// is, or sealed the v1 way, after Reseal: nobody but a bucket writer outside the service
// made it (the service seals every secret it writes).
var ErrUnsealed = errors.New("webhooks: an endpoint's secret not sealed for it with WEBHOOKS_SECRETS_KEY")

// decodeEndpoint reads the endpoint id from the bucket: a sealed secret is opened
// (ErrSealed without a sealer). With a sealer, a secret stored as it is (from before
// WEBHOOKS_SECRETS_KEY was set) or sealed the v1 way is taken only by Reseal (legacy);
// otherwise it is refused (ErrUnsealed). An entry whose endpoint is not the one its key
// names (copied from another key, with that endpoint's sealed secrets) is refused.
func (s *Store) decodeEndpoint(id string, b []byte) (Endpoint, error) {
	return s.decodeEndpointAs(id, b, false)
}

func (s *Store) decodeEndpointAs(id string, b []byte, legacy bool) (Endpoint, error) {
	var e Endpoint
	if err := json.Unmarshal(b, &e); err != nil {
		return e, err
	}
	if e.ID != id {
		return e, fmt.Errorf("webhooks: the entry of endpoint %s holds endpoint %q", id, e.ID)
	}
	if s.sealer != nil && len(e.Secrets) == 0 && !legacy {
		// nothing to open, nothing bound: every endpoint the service writes has a secret
		return e, fmt.Errorf("%w: endpoint %s has no secret", ErrUnsealed, e.ID)
	}
	for i, sec := range e.Secrets {
		v2, v1 := strings.HasPrefix(sec.Value, sealedPrefix), strings.HasPrefix(sec.Value, sealedPrefixV1)
		switch {
		case s.sealer == nil && (v1 || v2):
			return e, fmt.Errorf("%w: endpoint %s", ErrSealed, e.ID)
		case s.sealer == nil:
			continue
		case !v2 && !legacy:
			return e, fmt.Errorf("%w: endpoint %s", ErrUnsealed, e.ID)
		case !v1 && !v2:
			continue // stored as it is before the key was set: Reseal seals it
		}
		v, err := s.sealer.open(e, sec.Value)
		if err != nil {
			return e, err
		}
		e.Secrets[i].Value = v
	}
	return e, nil
}
