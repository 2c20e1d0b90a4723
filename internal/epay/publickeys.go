package epay

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPublicKey is wrapped by the error for a signing key whose secret is public.
var ErrPublicKey = errors.New("signing key is public")

// ErrPublicSecret is wrapped by CheckSecret's error: a key, password or client secret
// that is public.
var ErrPublicSecret = errors.New("secret is public")

// publicSecrets are the secrets written in this repository: the devstack's defaults, the
// examples of the docs, the tests' keys and passwords, and ePay's published test client
// secret. Anyone can read them, so production (EPAY_ENV=prod) refuses every one, in every
// setting: signing keys, API keys, read keys, the status key, NATS passwords, ePay's
// client secret.
//
// TestEverySecretTheRepositoryPublishesIsRefused scans the repository for assignments of
// secret settings and fails on a value missing here: add it (or give it the
// PublicSecretPrefix). Never remove one: git's history keeps it public. A test that
// runs in prod makes its secrets at run time.
var publicSecrets = []string{
	// The devstack (make run) and the docs.
	"dev-only-signing-key-do-not-use-in-prod", // devstack.DevSecretKeys, README.md, docs/INGEST.md
	"dev-only-change-me-0123",                 // docs/SANDBOX.md
	"dev-merchant-key",                        // devstack.DevAPIKey, README.md, docs/INITIATOR.md
	"secret",                                  // "KID:secret", the format in usage texts
	"not-this-one",                            // internal/dlq/discard_test.go, a NATS password the test expects refused
	"test-api-key-0123456789",                 // internal/webhooks tests: the API key
	"webhooks-test-password",                  // internal/webhooks tests: the NATS password
	"whsec_",                                  // internal/webhooks: the prefix of a Standard Webhooks secret
	// ePay's published test client secret (epayapi.TestClientSecret, docs/EPAY.md).
	"yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG",
	// Tests, examples and tools: keys.
	"0123456789abcdef",
	"0123456789abcdef0123",
	"0123456789abcdef0123456789abcdef",
	"a-key-of-at-least-16-bytes",
	"a-secret-without-an-id-at-all",
	"chaos-read-api-key-0001",
	"ingest-test-signing-key-000001",
	"ingest-test-signing-key-000002",
	"merchant-key-0123456780",
	"merchant-key-0123456789",
	"new-merchant-secret-0123",
	"old-merchant-secret-0123",
	"shop-key-abcdefghijklmnop",
	"not-a-key-list-SECRETVALUE",
	"the-new-key-that-signs-from-now",
	"the-old-key-that-signed-invoices",
	"tiny-Secret",
	"worker-config-test-key-0001",
	"worker-read-key-0123456789",
	"worker-tests-read-key-pii",
	"worker-tests-read-key-support",
	"worker-tests-operator-key",
	"loadgen-bench-status-key-0001",
	"operate-key-0123456789abc",
	"status-key-after-rotation-002",
	"status-key-before-rotation-01",
	"someone-elses-status-key-0003",
	"whsk_dGVzdHMtZXZlbnRzLWtleS0wMTIzNDU2Nzg5YWJjZGU=",  // the tests' WORKER_EVENTS_KEY
	"whsk_ZGV2LW9ubHktZXZlbnRzLWtleS1ub3QtZm9yLXByb2Q=",  // devstack.DevEventsKey
	"whsk_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",  // docs/WEBHOOKS.md, "Test vectors"
	"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", // docs/WEBHOOKS.md, "Test vectors"
	"tests-webhooks-secrets-key-0123!",                   // internal/webhooks tests: WEBHOOKS_SECRETS_KEY's bytes
	"another-webhooks-secrets-key-01!",
	"whsk_bG9hZGdlbi1iZW5jaC1ldmVudHMta2V5LTAwMDAwMSE=", // bench/suite: the workers' WORKER_EVENTS_KEY
	"worker-tests-operate-key",
	"worker-test-signing-key-01",
	"chaos-webhooks-api-key",
	"not-a-key-of-the-webhooks-api",
	"not-a-read-key-of-the-worker",
	"webhooks-api-keys",
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"whsec_c29tZWJvZHktZWxzZXMtc2VjcmV0LTAxMjM0NQ==",
	"worker-tests-status-key-0123",
	"TOPSECRETVALUE-0123456789",
	"a-worker-status-key-for-tests",
	"cmd-test-signing-key-0000001",
	"do-not-print-this-secret",
	"not-the-workers-status-key",
	"paste-the-read-key-here",
	"password",
	"s3cr3t-value-not-to-print",
	"secret-secret",
	"short",
	"wrong-password-4711",
	// Tests: client secrets and NATS passwords.
	"SECRETVALUE",
	"SECRETVALUE-123",
	"flag-pw-4567",
	"initiator-pw-from-file",
	"kept-password",
	"lonely-pw-890",
	"not-the-password",
	"pw-0123456789",
	"pw-from-a-file-123",
	"s3cret-pw",
	"streams-pw-from-file",
	"the-new-password-123",
	"worker-pw-from-file",
	"wrong-password",
	// deploy/k8s's tests map variables to the names of their Kubernetes Secrets; a
	// secret equal to one of those names is no secret either.
	"epay-credentials",
	"epay-signing-keys",
	"initiator-api-keys",
	"initiator-worker-key",
	"worker-read-keys",
	"worker-status-key",
}

// PublicSecrets returns a copy of the secrets this repository publishes, for tests that
// try each in every secret setting.
func PublicSecrets() []string { return append([]string(nil), publicSecrets...) }

// PublicSecretPrefix marks a secret as an example: every secret starting with it is public.
const PublicSecretPrefix = "dev-only"

// IsPublicSecret reports whether secret is public: one of the secrets this repository
// publishes (white space around it aside), or one starting with PublicSecretPrefix.
func IsPublicSecret(secret []byte) bool {
	s := strings.TrimSpace(string(secret))
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

// CheckSecret returns an error wrapping ErrPublicSecret, naming setting (a variable, a
// flag, an entry of one) and never the secret, when secret is public (IsPublicSecret).
// Services call it for each of their secrets in production (EPAY_ENV=prod).
func CheckSecret(setting, secret string) error {
	if secret != "" && IsPublicSecret([]byte(secret)) {
		return fmt.Errorf("%w: %s is published in this repository (a documented example, a test's, or ePay's test credential; or it starts with %q); generate a secret of your own", ErrPublicSecret, setting, PublicSecretPrefix)
	}
	return nil
}

// CheckNotPublic returns an error wrapping ErrPublicKey, naming the key id (never its
// secret), when any key of the ring has a public secret. Services call it in
// production (EPAY_ENV=prod).
func (k *Keyring) CheckNotPublic() error {
	for _, key := range k.keys {
		if IsPublicSecret(key.Secret) {
			return fmt.Errorf("%w: key %q is a documented example or a test's key (published in this repository, or starting with %q); generate a secret of your own", ErrPublicKey, string(key.ID), PublicSecretPrefix)
		}
	}
	return nil
}
