package worker

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
)

// envFunc is an environment of kv, with the secret_hash keys every worker needs (a
// status key as well under EPAY_ENV=prod) unless kv sets them. The keys are made at run
// time: EPAY_ENV=prod refuses every key the repository publishes.
func envFunc(t *testing.T, kv ...string) func(string) string {
	t.Helper()
	m := map[string]string{"EPAY_SECRET_KEYS": "A:" + clitest.OwnSecret(t), "WORKER_STATUS_KEY": clitest.OwnSecret(t), "WORKER_EVENTS_KEY": ownEventsKey(t)}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestEPayClientAndConfirmationConfig(t *testing.T) {
	c, err := parseFlags("worker", nil, envFunc(t), io.Discard)
	if err != nil || c.EPay != nil || c.ConfirmPayments || c.ReconcileAfter.Minutes() != 30 {
		t.Fatalf("default: no ePay client, confirmation off, reconcile after 30m: %+v %v", c, err)
	}
	c, err = parseFlags("worker", nil, envFunc(t, "EPAY_API_URL", "http://127.0.0.1:8090"), io.Discard)
	if err != nil || c.EPay == nil || c.ConfirmPayments || c.EPay.ClientID != "test" {
		t.Fatalf("sandbox with EPAY_API_URL: a client with test credentials, confirmation off: %+v %v", c, err)
	}
	clientSecret := clitest.OwnSecret(t)
	prod := []string{"EPAY_ENV", "prod", "EPAY_CLIENT_ID", "shop", "EPAY_CLIENT_SECRET", clientSecret, "EPAY_TERMINAL", "t1"}
	c, err = parseFlags("worker", nil, envFunc(t, prod...), io.Discard)
	if err != nil || c.EPay == nil || !c.ConfirmPayments || !c.EPay.RequireTLS {
		t.Fatalf("prod: a TLS client and confirmation on by default: %+v %v", c, err)
	}
	// a shopper can have ePay post their invoice's secret_hash to their own server (a P2P
	// payment object's postLink is in their browser): in prod no success goes unconfirmed
	if _, err = parseFlags("worker", []string{"-confirm-payments", "off"}, envFunc(t, prod...), io.Discard); !errors.Is(err, ErrConfig) ||
		!strings.Contains(err.Error(), "WORKER_CONFIRM_PAYMENTS") {
		t.Fatalf("prod with -confirm-payments off: %v, want a configuration error naming WORKER_CONFIRM_PAYMENTS", err)
	}
	bad := map[string][]string{
		"confirmation without a client":  {"WORKER_CONFIRM_PAYMENTS", "on"},
		"confirmation neither on or off": {"WORKER_CONFIRM_PAYMENTS", "sometimes", "EPAY_API_URL", "http://127.0.0.1:8090"},
		"plain-http API in prod":         append([]string{"EPAY_API_URL", "http://epay.example"}, prod...),
		"plain-http token URL in prod":   append([]string{"EPAY_TOKEN_URL", "http://epay.example/token"}, prod...),
		"prod without credentials":       {"EPAY_ENV", "prod"},
		"unknown environment":            {"EPAY_ENV", "staging"},
		"negative reconcile":             {"WORKER_RECONCILE_AFTER", "-1m"},
		"no status concurrency":          {"WORKER_STATUS_CONCURRENCY", "0"},
		"check every zero":               {"WORKER_CHECK_EVERY", "0s"},
	}
	for name, env := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := parseFlags("worker", nil, envFunc(t, env...), io.Discard)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, clientSecret) {
				t.Errorf("error %q is not one line or shows the secret", msg)
			}
		})
	}
}
