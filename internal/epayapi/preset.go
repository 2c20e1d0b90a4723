package epayapi

import (
	"fmt"
	"net/url"
	"strings"

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

// CheckProdHosts refuses ePay's production hosts (Preset(EnvProd)'s) in urls, each a
// setting's name and value, unless env is EnvProd: every safeguard production needs (real
// credentials, https, unpredictable invoice ids, no published keys, confirmation) hangs on
// EPAY_ENV=prod, and a deployment talking to ePay's production under EPAY_ENV=test would
// take real money without them. The error wraps ErrConfig.
func CheckProdHosts(env string, urls ...[2]string) error {
	if env == epay.EnvProd {
		return nil
	}
	prod, _ := Preset(epay.EnvProd)
	hosts := map[string]bool{}
	for _, u := range []string{prod.TokenURL, prod.APIURL, prod.PayformJSURL} {
		if p, err := url.Parse(u); err == nil {
			hosts[strings.ToLower(p.Hostname())] = true
		}
	}
	for _, nv := range urls {
		if p, err := url.Parse(strings.TrimSpace(nv[1])); err == nil && hosts[strings.ToLower(strings.TrimSuffix(p.Hostname(), "."))] {
			return fmt.Errorf("%w: %s %s is ePay's production, but EPAY_ENV=%s: set EPAY_ENV=prod (every production check hangs on it)",
				ErrConfig, nv[0], nv[1], env)
		}
	}
	return nil
}
