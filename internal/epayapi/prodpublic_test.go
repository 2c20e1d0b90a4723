package epayapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

// ownSecret is a secret no file of the repository holds (production refuses those).
func ownSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "own-" + hex.EncodeToString(b)
}

// Production refuses ePay's published test credentials, every client secret the
// repository publishes, and plain-http endpoints: each error wraps ErrConfig, is one line
// and names the variable, never the value.
func TestProdRefusesPublicCredentialsAndPlainHTTP(t *testing.T) {
	own := []string{"-epay-env", "prod", "-epay-client-id", "merchant-7", "-epay-client-secret", ownSecret(t), "-epay-terminal", "9a1b2c3d-0000-4000-8000-00000000abcd"}
	if _, err := parseFlags(t, own...).Config(); err != nil {
		t.Fatalf("prod with credentials of one's own: %v", err)
	}
	tests := []struct {
		name, variable, value string
		args                  []string
	}{
		{"ePay's test client id", "EPAY_CLIENT_ID", TestClientID, []string{"-epay-client-id", TestClientID}},
		{"ePay's test client id, upper case", "EPAY_CLIENT_ID", "TEST", []string{"-epay-client-id", "TEST"}},
		{"ePay's test client secret", "EPAY_CLIENT_SECRET", string(TestClientSecret), []string{"-epay-client-secret", string(TestClientSecret)}},
		{"ePay's test terminal", "EPAY_TERMINAL", TestTerminal, []string{"-epay-terminal", TestTerminal}},
		{"ePay's test terminal for P2P", "EPAY_P2P_TERMINAL", TestTerminal, []string{"-epay-p2p-terminal", TestTerminal}},
		{"a client secret the repository publishes", "EPAY_CLIENT_SECRET", "SECRETVALUE", []string{"-epay-client-secret", "SECRETVALUE"}},
		{"a dev-only client secret", "EPAY_CLIENT_SECRET", "dev-only-client-secret-1", []string{"-epay-client-secret", "dev-only-client-secret-1"}},
		{"plain-http token URL", "token URL", "http://epay-oauth.homebank.kz/oauth2/token", []string{"-epay-token-url", "http://epay-oauth.homebank.kz/oauth2/token"}},
		{"plain-http API URL", "API URL", "", []string{"-epay-api-url", "http://epay-api.homebank.kz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(t, append(append([]string(nil), own...), tt.args...)...).Config()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.variable) || strings.Contains(msg, "\n") {
				t.Errorf("%q does not name %s on one line", msg, tt.variable)
			}
			quoted := tt.value
			if len(quoted) <= 4 { // a word ("test"): look for it quoted
				quoted = `"` + quoted + `"`
			}
			if strings.HasPrefix(tt.variable, "EPAY_") && strings.Contains(msg, quoted) {
				t.Errorf("%q quotes the value", msg)
			}
		})
	}
}

// Outside prod the published test credentials are what the sandbox and ePay's test
// hosts take: not refused.
func TestTestCredentialsAreFineOutsideProd(t *testing.T) {
	c, err := parseFlags(t, "-epay-env", "test").Config()
	if err != nil || c.ClientID != TestClientID {
		t.Fatalf("test env: %+v %v", c, err)
	}
	if !epay.IsPublicSecret([]byte(TestClientSecret)) {
		t.Error("ePay's published test secret is not in epay's public secrets")
	}
	if err := c.CheckNotPublic(); err == nil {
		t.Error("CheckNotPublic accepts ePay's test credentials")
	}
}
