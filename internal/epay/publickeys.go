package epay

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPublicKey is wrapped by the error for a signing key whose secret is public.
var ErrPublicKey = errors.New("signing key is public")

// publicSecrets are the signing secrets written in this repository: the devstack's
// default and the examples in docs/. Anyone can read them, so they must never sign a
// real payment. Keep every example key a document prints in this list (or give it the
// PublicSecretPrefix).
var publicSecrets = []string{
	"dev-only-signing-key-do-not-use-in-prod", // devstack.DevSecretKeys, docs/INGEST.md
	"dev-only-change-me-0123",                 // docs/SANDBOX.md
}

// PublicSecretPrefix marks a secret as an example: every secret starting with it is public.
const PublicSecretPrefix = "dev-only"

// IsPublicSecret reports whether secret is one of the public example secrets.
func IsPublicSecret(secret []byte) bool {
	s := string(secret)
	if strings.HasPrefix(s, PublicSecretPrefix) {
		return true
	}
	for _, p := range publicSecrets {
		if s == p {
			return true
		}
	}
	return false
}

// CheckNotPublic returns an error wrapping ErrPublicKey, naming the key id (never its
// secret), when any key of the ring has a public secret. Services call it in
// production (EPAY_ENV=prod).
func (k *Keyring) CheckNotPublic() error {
	for _, key := range k.keys {
		if IsPublicSecret(key.Secret) {
			return fmt.Errorf("%w: key %q is a documented example (or starts with %q); generate a secret of your own", ErrPublicKey, string(key.ID), PublicSecretPrefix)
		}
	}
	return nil
}
