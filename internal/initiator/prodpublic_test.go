package initiator

import (
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/epay"
)

// prodEnv is an EPAY_ENV=prod environment the initiator takes, with kv over it.
func prodEnv(t *testing.T, kv ...string) func(string) string {
	m := map[string]string{
		"EPAY_ENV": "prod", "EPAY_CLIENT_ID": "merchant-7", "EPAY_CLIENT_SECRET": clitest.OwnSecret(t),
		"EPAY_TERMINAL": "9a1b2c3d-0000-4000-8000-00000000abcd", "PUBLIC_BASE_URL": "https://ingest.example.kz",
		"INITIATOR_PUBLIC_URL": "https://shop.example.kz", "INITIATOR_API_KEYS": clitest.OwnSecret(t),
		"EPAY_SECRET_KEYS": "A:" + clitest.OwnSecret(t), "INITIATOR_RETURN_KEYS": "R:" + clitest.OwnSecret(t),
		"WORKER_URL": "http://worker:8082", "INITIATOR_WORKER_KEY": clitest.OwnSecret(t),
		"NATS_USER": "initiator", "NATS_PASSWORD": clitest.OwnSecret(t),
	}
	return clitest.Env(m, kv...)
}

func TestProdAcceptsSecretsOfItsOwn(t *testing.T) {
	if _, err := ParseFlags("initiator", nil, prodEnv(t)); err != nil {
		t.Fatal(err)
	}
}

// One refusal a case: what ePay or the repository publishes, and plain-http ePay URLs,
// given to the initiator in prod.
func TestProdRefusesWhatIsPublic(t *testing.T) {
	tests := []struct {
		name, variable, value string
		env                   []string
	}{
		{"ePay's test client id", "EPAY_CLIENT_ID", `"test"`, []string{"EPAY_CLIENT_ID", TestClientID}},
		{"ePay's test client secret", "EPAY_CLIENT_SECRET", string(TestClientSecret), []string{"EPAY_CLIENT_SECRET", string(TestClientSecret)}},
		{"ePay's test terminal", "EPAY_TERMINAL", TestTerminal, []string{"EPAY_TERMINAL", TestTerminal}},
		{"the API key make run prints", "INITIATOR_API_KEYS", "dev-merchant-key", []string{"INITIATOR_API_KEYS", "dev-merchant-key"}},
		{"a test's API key, second", "INITIATOR_API_KEYS entry 2", "merchant-key-0123456780",
			[]string{"INITIATOR_API_KEYS", clitest.OwnSecret(t) + ",merchant-key-0123456780"}},
		{"the devstack's signing key", "EPAY_SECRET_KEYS", "dev-only-signing-key-do-not-use-in-prod",
			[]string{"EPAY_SECRET_KEYS", "D:dev-only-signing-key-do-not-use-in-prod"}},
		{"a test's return key", "INITIATOR_RETURN_KEYS", "ingest-test-signing-key-000002",
			[]string{"INITIATOR_RETURN_KEYS", "R:ingest-test-signing-key-000002"}},
		{"a test's worker read key", "INITIATOR_WORKER_KEY", "worker-read-key-0123456789",
			[]string{"INITIATOR_WORKER_KEY", "worker-read-key-0123456789"}},
		{"a test's NATS password", "NATS_PASSWORD", "initiator-pw-from-file", []string{"NATS_PASSWORD", "initiator-pw-from-file"}},
		{"a plain-http token URL", "token URL", "", []string{"EPAY_TOKEN_URL", "http://epay-oauth.homebank.kz/oauth2/token"}},
		{"a plain-http API URL", "API URL", "", []string{"EPAY_API_URL", "http://epay-api.homebank.kz"}},
		{"a plain-http payform URL", "EPAY_PAYFORM_JS_URL", "", []string{"EPAY_PAYFORM_JS_URL", "http://epay.homebank.kz/redesign-payform/payment-api.js"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFlags("initiator", nil, prodEnv(t, tt.env...))
			clitest.AssertRefusal(t, "initiator", ErrConfig, err, tt.variable, tt.value)
		})
	}
	t.Run("ePay's test client secret as a flag", func(t *testing.T) {
		_, err := ParseFlags("initiator", []string{"-epay-client-secret", string(TestClientSecret)}, prodEnv(t))
		clitest.AssertRefusal(t, "initiator", ErrConfig, err, "EPAY_CLIENT_SECRET", string(TestClientSecret))
	})
	t.Run("the API key make run prints as a flag", func(t *testing.T) {
		_, err := ParseFlags("initiator", []string{"-api-keys", "dev-merchant-key"}, prodEnv(t))
		clitest.AssertRefusal(t, "initiator", ErrConfig, err, "INITIATOR_API_KEYS", "dev-merchant-key")
	})
}

// Every secret the repository publishes (epay.PublicSecrets), in each of the
// initiator's secret settings.
func TestProdRefusesEverySecretTheRepositoryPublishes(t *testing.T) {
	for _, s := range epay.PublicSecrets() {
		for variable, value := range map[string]string{
			"EPAY_CLIENT_SECRET": s, "INITIATOR_API_KEYS": s, "EPAY_SECRET_KEYS": "A:" + s,
			"INITIATOR_RETURN_KEYS": "R:" + s, "INITIATOR_WORKER_KEY": s, "NATS_PASSWORD": s,
		} {
			_, err := ParseFlags("initiator", nil, prodEnv(t, variable, value))
			if err == nil {
				t.Errorf("%s=%s accepted in prod", variable, value)
				continue
			}
			clitest.AssertRefusal(t, "initiator", ErrConfig, err, variable, s)
		}
	}
}
