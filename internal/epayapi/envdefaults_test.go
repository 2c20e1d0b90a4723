package epayapi

import (
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
