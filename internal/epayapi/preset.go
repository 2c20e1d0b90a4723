package epayapi

import (
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
)

// SandboxBaseURL is where the local ePay sandbox of the devstack listens.
const SandboxBaseURL = "http://127.0.0.1:8090"

// Endpoints are the URLs of one ePay environment.
type Endpoints struct {
	TokenURL     string
	APIURL       string
	PayformJSURL string
}

// Preset returns the endpoints of env: the local sandbox, or ePay's test and prod hosts
// as docs/EPAY.md lists them (test uses the hosts of the source document).
func Preset(env string) (Endpoints, error) {
	switch env {
	case epay.EnvSandbox:
		return Endpoints{
			TokenURL:     SandboxBaseURL + "/oauth2/token",
			APIURL:       SandboxBaseURL,
			PayformJSURL: SandboxBaseURL + "/payform/payment-api.js",
		}, nil
	case epay.EnvTest:
		return Endpoints{
			TokenURL:     "https://testoauth.homebank.kz/epay2/oauth2/token",
			APIURL:       "https://testepay.homebank.kz/api",
			PayformJSURL: "https://test-epay.homebank.kz/redesign-payform/payment-api.js",
		}, nil
	case epay.EnvProd:
		return Endpoints{
			TokenURL:     "https://epay-oauth.homebank.kz/oauth2/token",
			APIURL:       "https://epay-api.homebank.kz",
			PayformJSURL: "https://epay.homebank.kz/redesign-payform/payment-api.js",
		}, nil
	}
	return Endpoints{}, fmt.Errorf("%w: EPAY_ENV %q: want %s, %s or %s", ErrConfig, env, epay.EnvSandbox, epay.EnvTest, epay.EnvProd)
}
