package events

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The headers of a signed event on PAYMENT_EVENTS: Standard Webhooks' names and its
// asymmetric scheme, so that the signature a merchant checks on a NATS message is the
// one its webhook libraries know. webhook-id is the event's id (its Nats-Msg-Id),
// webhook-timestamp the Unix seconds of the event's time, and webhook-signature
// "v1a,<base64>": the Ed25519 signature of "id.timestamp.body" by the workers' events key.
// Subscribers verify with merchant.EventVerifier (and the webhooks service with it too).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Key prefixes: a signing key is "whsk_" and the base64 of an Ed25519 seed (32 bytes; the
// 64-byte private key is taken too), a public key "whpk_" and the base64 of its 32 bytes.
const (
	SigningKeyPrefix = "whsk_"
	PublicKeyPrefix  = "whpk_"
)

// ErrKey: a signing key that is not "whsk_<base64 seed>".
var ErrKey = errors.New("event: not a key")

// Signer signs events with the workers' events key (WORKER_EVENTS_KEY). Only the workers
// hold it: an event published to PAYMENT_EVENTS by anyone else (anyone NATS lets publish
// there, a NATS server's own users file) carries no signature a subscriber takes.
type Signer struct{ key ed25519.PrivateKey }

// ParseSigningKey reads "whsk_<base64>".
func ParseSigningKey(s string) (Signer, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SigningKeyPrefix))
	switch {
	case !strings.HasPrefix(s, SigningKeyPrefix) || err != nil:
		return Signer{}, fmt.Errorf("%w: want %s and the base64 of an Ed25519 seed", ErrKey, SigningKeyPrefix)
	case len(b) == ed25519.SeedSize:
		return Signer{key: ed25519.NewKeyFromSeed(b)}, nil
	case len(b) == ed25519.PrivateKeySize:
		key := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !key.Equal(ed25519.PrivateKey(b)) {
			return Signer{}, fmt.Errorf("%w: its public half is not its seed's", ErrKey)
		}
		return Signer{key: key}, nil
	}
	return Signer{}, fmt.Errorf("%w: an Ed25519 seed is %d bytes, this is %d", ErrKey, ed25519.SeedSize, len(b))
}

// NewSigner makes a signer of a new key (Key says it, "whsk_<base64 seed>").
func NewSigner() (Signer, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return Signer{}, err
	}
	return Signer{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// Key is the signer's key as WORKER_EVENTS_KEY gives it: "whsk_<base64 seed>".
func (s Signer) Key() string {
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(s.key.Seed())
}

// PublicKey is the signer's public key, "whpk_<base64>": what subscribers verify with.
func (s Signer) PublicKey() string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey))
}

// Sign is the webhook-signature of an event: "v1a,<base64>" of "id.timestamp.body".
func (s Signer) Sign(id string, timestamp int64, body []byte) string {
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, signed(id, strconv.FormatInt(timestamp, 10), body)))
}

func signed(id, timestamp string, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(timestamp)+2+len(body))
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, timestamp...)
	msg = append(msg, '.')
	return append(msg, body...)
}
