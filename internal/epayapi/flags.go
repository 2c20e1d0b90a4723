package epayapi

import (
	"flag"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
)

// FlagEnvNames are the ePay client's flags and their environment variables, the same
// in every service that talks to ePay.
var FlagEnvNames = map[string]string{
	"epay-env": "EPAY_ENV", "epay-client-id": "EPAY_CLIENT_ID", "epay-client-secret": "EPAY_CLIENT_SECRET",
	"epay-terminal": "EPAY_TERMINAL", "epay-p2p-terminal": "EPAY_P2P_TERMINAL", "epay-token-url": "EPAY_TOKEN_URL", "epay-api-url": "EPAY_API_URL",
	"epay-timeout": "EPAY_TIMEOUT",
}

// ePay's published test credentials (docs/EPAY.md): the sandbox and ePay's test hosts take them.
const (
	TestClientID     = "test"
	TestClientSecret = Secret("yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG")
	TestTerminal     = "67e34d63-102f-4bd1-898e-370781d0074d"
)

// Flags are the ePay client settings as flags: Bind them on a FlagSet, parse, then
// call Config.
type Flags struct {
	Env                string
	ClientID, Terminal string
	P2PTerminal        string
	ClientSecret       string
	TokenURL, APIURL   string
	Timeout            time.Duration
}

// Bind declares the flags of FlagEnvNames on fs.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Env, "epay-env", epay.EnvSandbox, "ePay environment: sandbox, test or prod (prod: https only, no test credentials)")
	fs.StringVar(&f.ClientID, "epay-client-id", "", "ePay client id (default: the published test id outside prod)")
	fs.StringVar(&f.ClientSecret, "epay-client-secret", "", "ePay client secret; prefer the variable (default: the published test secret outside prod)")
	fs.StringVar(&f.Terminal, "epay-terminal", "", "ePay terminal id (default: the published test terminal outside prod)")
	fs.StringVar(&f.P2PTerminal, "epay-p2p-terminal", "", "ePay terminal id of P2P transfers, when ePay gave them one of their own (default: -epay-terminal)")
	fs.StringVar(&f.TokenURL, "epay-token-url", "", "ePay OAuth token URL (default from -epay-env)")
	fs.StringVar(&f.APIURL, "epay-api-url", "", "ePay API base URL for status checks (default from -epay-env)")
	fs.DurationVar(&f.Timeout, "epay-timeout", 10*time.Second, "timeout of each ePay request attempt")
}

// Configured reports whether the settings name an ePay to talk to: an explicit API URL,
// or the test or prod environment (whose hosts are known). The default sandbox
// environment without a URL is "no ePay client".
func (f Flags) Configured() bool {
	return f.APIURL != "" || f.Env == epay.EnvTest || f.Env == epay.EnvProd
}

// Given returns the client configuration as the flags give it, nothing filled in but
// RequireTLS in prod: for a caller that defaults more than the client from EPAY_ENV.
func (f Flags) Given() Config {
	return Config{TokenURL: f.TokenURL, APIURL: f.APIURL, ClientID: f.ClientID, ClientSecret: Secret(f.ClientSecret),
		Terminal: f.Terminal, P2PTerminal: f.P2PTerminal, Timeout: f.Timeout, RequireTLS: f.Env == epay.EnvProd}
}

// Config returns the client configuration: endpoints default from the environment's
// Preset, the published test credentials fill in outside prod, and prod requires TLS
// and refuses public credentials (Config.CheckNotPublic).
// Errors wrap ErrConfig, are one line and never quote the secret.
func (f Flags) Config() (Config, error) {
	c, err := f.Given().WithEnvDefaults(f.Env)
	if err != nil {
		return Config{}, err
	}
	if missing := f.Missing(); len(missing) > 0 {
		verb := " is"
		if len(missing) > 1 {
			verb = " are"
		}
		return Config{}, fmt.Errorf("%w: %s%s required with EPAY_ENV=%s", ErrConfig, envflag.List(missing), verb, f.Env)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if f.Env == epay.EnvProd {
		if err := c.CheckNotPublic(); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// Missing names the credentials Config requires and the flags leave unset, all of them:
// outside prod, none (the published test credentials fill in).
func (f Flags) Missing() []string {
	c, err := f.Given().WithEnvDefaults(f.Env)
	if err != nil {
		return nil
	}
	var missing []string
	for _, r := range [][2]string{{"EPAY_CLIENT_ID", c.ClientID}, {"EPAY_CLIENT_SECRET", string(c.ClientSecret)}, {"EPAY_TERMINAL", c.Terminal}} {
		if r[1] == "" {
			missing = append(missing, r[0])
		}
	}
	return missing
}

// WithEnvDefaults returns c with what env (EPAY_ENV) implies where c leaves it empty: the
// endpoints of Preset(env) and, outside prod, ePay's published test credentials. RequireTLS
// is set in prod and cleared elsewhere. The error, for an unknown env, wraps ErrConfig.
func (c Config) WithEnvDefaults(env string) (Config, error) {
	ep, err := Preset(env)
	if err != nil {
		return Config{}, err
	}
	def := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	def(&c.TokenURL, ep.TokenURL)
	def(&c.APIURL, ep.APIURL)
	if env != epay.EnvProd {
		def(&c.ClientID, TestClientID)
		if c.ClientSecret == "" {
			c.ClientSecret = TestClientSecret
		}
		def(&c.Terminal, TestTerminal)
	}
	c.RequireTLS = env == epay.EnvProd
	if err := CheckProdHosts(env, [2]string{"EPAY_TOKEN_URL", c.TokenURL}, [2]string{"EPAY_API_URL", c.APIURL}); err != nil {
		return Config{}, err
	}
	return c, nil
}
