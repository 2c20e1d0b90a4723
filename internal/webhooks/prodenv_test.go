package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
)

// In production the service does not start unless events are verified and secrets
// sealed: a NATS password alone must neither make a delivery nor read a secret. The
// secrets this repository publishes are refused there too. Elsewhere both stay optional.
func TestProductionRequiresVerifiedEventsAndSealedSecrets(t *testing.T) {
	signer, err := events.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() string {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	apiKey := fresh()
	prod := func(change map[string]string) map[string]string {
		env := map[string]string{"EPAY_ENV": "prod", "WEBHOOKS_API_KEYS": apiKey,
			"WEBHOOKS_EVENTS_PUBLIC_KEYS": signer.PublicKey(), "WEBHOOKS_SECRETS_KEY": fresh()}
		for k, v := range change {
			env[k] = v
		}
		return env
	}
	parse := func(env map[string]string) (Config, error) {
		cfg, _, err := ParseCommand("webhooks", nil, func(k string) string { return env[k] }, io.Discard)
		return cfg, err
	}
	if cfg, err := parse(prod(nil)); err != nil || cfg.Env != epay.EnvProd || cfg.Events == nil || cfg.SecretsKey == nil {
		t.Fatalf("prod with both keys: env %q, verifier %v, sealing %v, err %v; want it to start", cfg.Env, cfg.Events != nil, cfg.SecretsKey != nil, err)
	}
	for _, c := range []struct {
		name   string
		change map[string]string
		want   string
		public bool
	}{
		{"events not verified", map[string]string{"WEBHOOKS_EVENTS_PUBLIC_KEYS": ""}, "WEBHOOKS_EVENTS_PUBLIC_KEYS", false},
		{"secrets not sealed", map[string]string{"WEBHOOKS_SECRETS_KEY": ""}, "WEBHOOKS_SECRETS_KEY", false},
		{"the tests' API key", map[string]string{"WEBHOOKS_API_KEYS": apiKey + ",test-api-key-0123456789"}, "WEBHOOKS_API_KEYS entry 2", true},
		{"the tests' secrets key", map[string]string{"WEBHOOKS_SECRETS_KEY": base64.StdEncoding.EncodeToString([]byte("tests-webhooks-secrets-key-0123!"))}, "WEBHOOKS_SECRETS_KEY", false},
		{"the tests' NATS password", map[string]string{"NATS_USER": "webhooks", "NATS_PASSWORD": "webhooks-test-password"}, "NATS_PASSWORD", true},
		{"an environment that is not one", map[string]string{"EPAY_ENV": "production"}, "EPAY_ENV", false},
		{"http endpoints", map[string]string{"WEBHOOKS_ALLOW_HTTP": "true"}, "WEBHOOKS_ALLOW_HTTP", false},
		{"the cluster's addresses", map[string]string{"WEBHOOKS_ALLOW_PRIVATE": "0.0.0.0/0,::/0"}, "WEBHOOKS_ALLOW_PRIVATE", false},
		{"one private network", map[string]string{"WEBHOOKS_ALLOW_PRIVATE": "10.0.0.0/8"}, "WEBHOOKS_ALLOW_PRIVATE", false},
	} {
		_, err := parse(prod(c.change))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) || c.public && !errors.Is(err, epay.ErrPublicSecret) {
			t.Errorf("%s: err %v; want a configuration error naming %s", c.name, err, c.want)
		}
	}
	for _, env := range []string{"", "sandbox", "test"} {
		if _, err := parse(map[string]string{"EPAY_ENV": env, "WEBHOOKS_API_KEYS": "test-api-key-0123456789"}); err != nil {
			t.Errorf("EPAY_ENV=%q without either key: %v; want it to start (with a warning)", env, err)
		}
	}
}
