package epayapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

func TestWithEnvDefaultsFillsOnlyWhatIsEmpty(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		env  string
		want Config
	}{
		{"sandbox, nothing given", Config{}, epay.EnvSandbox, Config{TokenURL: SandboxBaseURL + "/oauth2/token", APIURL: SandboxBaseURL,
			ClientID: TestClientID, ClientSecret: TestClientSecret, Terminal: TestTerminal}},
		{"test keeps what is given", Config{APIURL: "http://127.0.0.1:9/api", ClientID: "shop", RequireTLS: true}, epay.EnvTest,
			Config{TokenURL: "https://testoauth.homebank.kz/epay2/oauth2/token", APIURL: "http://127.0.0.1:9/api",
				ClientID: "shop", ClientSecret: TestClientSecret, Terminal: TestTerminal}},
		{"prod: no test credentials, TLS", Config{ClientID: "shop"}, epay.EnvProd, Config{TokenURL: "https://epay-oauth.homebank.kz/oauth2/token",
			APIURL: "https://epay-api.homebank.kz", ClientID: "shop", RequireTLS: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.WithEnvDefaults(tt.env)
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
	if _, err := (Config{}).WithEnvDefaults("staging"); err == nil {
		t.Fatal("an unknown EPAY_ENV is accepted")
	}
}

// ePay's production hosts outside EPAY_ENV=prod are refused: every production safeguard
// (real credentials, https, unpredictable invoice ids, no published keys) hangs on
// EPAY_ENV=prod, and EPAY_ENV=test with the production URLs ran without them.
func TestProductionHostsNeedEPayEnvProd(t *testing.T) {
	for _, env := range []string{epay.EnvSandbox, epay.EnvTest} {
		for _, c := range []Config{
			{TokenURL: "https://epay-oauth.homebank.kz/oauth2/token"},
			{APIURL: "https://EPAY-API.homebank.kz."},
			{TokenURL: "https://testoauth.homebank.kz/epay2/oauth2/token", APIURL: "https://epay-api.homebank.kz/"},
		} {
			if _, err := c.WithEnvDefaults(env); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "set EPAY_ENV=prod") {
				t.Errorf("EPAY_ENV=%s with %+v: %v, want a refusal naming EPAY_ENV=prod", env, c, err)
			}
		}
	}
	if _, err := (Config{TokenURL: "https://epay-oauth.homebank.kz/oauth2/token", ClientID: "shop"}).WithEnvDefaults(epay.EnvProd); err != nil {
		t.Errorf("EPAY_ENV=prod with the production hosts: %v", err)
	}
	if err := CheckProdHosts(epay.EnvTest, [2]string{"EPAY_PAYFORM_JS_URL", "https://epay.homebank.kz/redesign-payform/payment-api.js"}); err == nil {
		t.Error("the production payform under EPAY_ENV=test is accepted")
	}
}
