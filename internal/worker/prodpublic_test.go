package worker

import (
	"slices"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/events"
)

// prodEnv is an EPAY_ENV=prod environment the worker takes, with kv over it.
func prodEnv(t *testing.T, kv ...string) func(string) string {
	m := map[string]string{
		"EPAY_ENV": "prod", "EPAY_CLIENT_ID": "merchant-7", "EPAY_CLIENT_SECRET": clitest.OwnSecret(t),
		"EPAY_TERMINAL": "9a1b2c3d-0000-4000-8000-00000000abcd", "EPAY_SECRET_KEYS": "A:" + clitest.OwnSecret(t),
		"WORKER_STATUS_KEY": clitest.OwnSecret(t), "WORKER_READ_KEYS": "initiator:read:" + clitest.OwnSecret(t),
		"NATS_USER": "worker", "NATS_PASSWORD": clitest.OwnSecret(t), "WORKER_EVENTS_KEY": ownEventsKey(t),
	}
	return clitest.Env(m, kv...)
}

// ownEventsKey is a new events key, published nowhere.
func ownEventsKey(t *testing.T) string {
	s, err := events.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s.Key()
}

func TestProdAcceptsSecretsOfItsOwn(t *testing.T) {
	if _, err := ParseFlags("worker", nil, prodEnv(t)); err != nil {
		t.Fatal(err)
	}
	// a rotation: the previous status keys verify, the first signs
	prev1, prev2 := clitest.OwnSecret(t), clitest.OwnSecret(t)
	cfg, err := ParseFlags("worker", nil, prodEnv(t, "WORKER_STATUS_KEY_PREVIOUS", prev1+", "+prev2))
	if err != nil || !slices.Equal(cfg.StatusKeysPrevious, []string{prev1, prev2}) {
		t.Fatalf("previous status keys %d (%v), want the two given", len(cfg.StatusKeysPrevious), err)
	}
	for _, bad := range []struct {
		env  []string
		want string
	}{
		{[]string{"WORKER_STATUS_KEY_PREVIOUS", "short"}, "entry 1 is 5 characters"},
	} {
		if _, err := ParseFlags("worker", nil, prodEnv(t, bad.env...)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want %q", bad.env, err, bad.want)
		}
	}
}

// One refusal a case: what ePay or the repository publishes, and plain-http ePay URLs,
// given to the worker in prod.
func TestProdRefusesWhatIsPublic(t *testing.T) {
	tests := []struct {
		name, variable, value string
		env                   []string
	}{
		{"ePay's test client id", "EPAY_CLIENT_ID", `"test"`, []string{"EPAY_CLIENT_ID", epayapi.TestClientID}},
		{"ePay's test client secret", "EPAY_CLIENT_SECRET", string(epayapi.TestClientSecret), []string{"EPAY_CLIENT_SECRET", string(epayapi.TestClientSecret)}},
		{"ePay's test terminal", "EPAY_TERMINAL", epayapi.TestTerminal, []string{"EPAY_TERMINAL", epayapi.TestTerminal}},
		{"the devstack's signing key", "EPAY_SECRET_KEYS", "dev-only-signing-key-do-not-use-in-prod",
			[]string{"EPAY_SECRET_KEYS", "D:dev-only-signing-key-do-not-use-in-prod"}},
		{"a test's status key", "WORKER_STATUS_KEY", "not-the-workers-status-key", []string{"WORKER_STATUS_KEY", "not-the-workers-status-key"}},
		{"a test's status key as a previous one", "WORKER_STATUS_KEY_PREVIOUS", "not-the-workers-status-key",
			[]string{"WORKER_STATUS_KEY_PREVIOUS", clitest.OwnSecret(t) + ",not-the-workers-status-key"}},
		{"a test's read key, second", `WORKER_READ_KEYS) key "support"`, "worker-tests-read-key-support",
			[]string{"WORKER_READ_KEYS", "initiator:read:" + clitest.OwnSecret(t) + ",support:pii:worker-tests-read-key-support"}},
		{"the chaos test's read key", "WORKER_READ_KEYS", "chaos-read-api-key-0001", []string{"WORKER_READ_KEYS", "chaos:pii:chaos-read-api-key-0001"}},
		{"a test's NATS password", "NATS_PASSWORD", "worker-pw-from-file", []string{"NATS_PASSWORD", "worker-pw-from-file"}},
		{"a plain-http token URL", "token URL", "", []string{"EPAY_TOKEN_URL", "http://epay-oauth.homebank.kz/oauth2/token"}},
		{"a plain-http API URL", "API URL", "", []string{"EPAY_API_URL", "http://epay-api.homebank.kz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFlags("worker", nil, prodEnv(t, tt.env...))
			clitest.AssertRefusal(t, "worker", ErrConfig, err, tt.variable, tt.value)
		})
	}
	t.Run("ePay's test client secret as a flag", func(t *testing.T) {
		_, err := ParseFlags("worker", []string{"-epay-client-secret", string(epayapi.TestClientSecret)}, prodEnv(t))
		clitest.AssertRefusal(t, "worker", ErrConfig, err, "EPAY_CLIENT_SECRET", string(epayapi.TestClientSecret))
	})
}

// Every secret the repository publishes (epay.PublicSecrets), in each of the worker's
// secret settings.
func TestProdRefusesEverySecretTheRepositoryPublishes(t *testing.T) {
	for _, s := range epay.PublicSecrets() {
		for variable, value := range map[string]string{
			"EPAY_CLIENT_SECRET": s, "EPAY_SECRET_KEYS": "A:" + s, "WORKER_STATUS_KEY": s,
			"WORKER_READ_KEYS": "initiator:read:" + s, "NATS_PASSWORD": s,
		} {
			_, err := ParseFlags("worker", nil, prodEnv(t, variable, value))
			if err == nil {
				t.Errorf("%s=%s accepted in prod", variable, value)
				continue
			}
			clitest.AssertRefusal(t, "worker", ErrConfig, err, variable, s)
		}
	}
}
