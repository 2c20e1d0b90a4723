package epayapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// ErrConfig is wrapped by every Config.Validate error.
var ErrConfig = errors.New("epayapi: invalid config")

// Secret is a credential: it prints, logs and marshals as "[REDACTED]".
type Secret string

const redacted = "[REDACTED]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Config of a Client. Zero Timeout, MaxAttempts and BackoffBase take the defaults.
type Config struct {
	// TokenURL is the OAuth token endpoint, APIURL the base of the status API.
	TokenURL string
	APIURL   string
	// Credentials issued at registration.
	ClientID     string
	ClientSecret Secret
	Terminal     string
	// P2PTerminal is the terminal of P2P transfers, when ePay gave the merchant one of
	// their own (its P2P pages name other test terminals than its card pages): transfer
	// tokens, P2P status answers and P2P invoices use it. Empty: Terminal.
	P2PTerminal string
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the tries of one request, the first included (default 3).
	MaxAttempts int
	// BackoffBase is the pause before the second attempt; it doubles after each,
	// jittered (default 200ms).
	BackoffBase time.Duration
	// RequireTLS refuses http:// endpoints (production).
	RequireTLS bool
	// HTTPClient, if set, sends the requests (its Timeout is left as is).
	HTTPClient *http.Client
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = 200 * time.Millisecond
	}
}

// Validate reports the first problem, wrapping ErrConfig. It never quotes the secret.
func (c Config) Validate() error {
	c.setDefaults()
	if err := checkURL("token URL", c.TokenURL, c.RequireTLS); err != nil {
		return err
	}
	if err := checkURL("API URL", c.APIURL, c.RequireTLS); err != nil {
		return err
	}
	switch {
	case c.ClientID == "":
		return fmt.Errorf("%w: client id is required", ErrConfig)
	case c.ClientSecret == "":
		return fmt.Errorf("%w: client secret is required", ErrConfig)
	case c.Terminal == "":
		return fmt.Errorf("%w: terminal is required", ErrConfig)
	case c.Timeout < 0:
		return fmt.Errorf("%w: timeout %s is negative", ErrConfig, c.Timeout)
	case c.MaxAttempts < 1 || c.MaxAttempts > 10:
		return fmt.Errorf("%w: max attempts %d: want 1 to 10", ErrConfig, c.MaxAttempts)
	case c.BackoffBase < 0:
		return fmt.Errorf("%w: backoff %s is negative", ErrConfig, c.BackoffBase)
	}
	return nil
}

func checkURL(what, raw string, requireTLS bool) error {
	if raw == "" {
		return fmt.Errorf("%w: %s is required", ErrConfig, what)
	}
	return CheckEndpoint(what, raw, requireTLS)
}

// CheckEndpoint reports whether raw is an absolute http(s) URL without credentials,
// and https when requireTLS. Errors wrap ErrConfig.
func CheckEndpoint(what, raw string, requireTLS bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%w: %s %q is not an absolute http(s) URL", ErrConfig, what, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s must not carry credentials", ErrConfig, what)
	}
	if requireTLS && u.Scheme != "https" {
		return fmt.Errorf("%w: %s %q must be https", ErrConfig, what, raw)
	}
	return nil
}

// CheckNotPublic refuses what production (EPAY_ENV=prod) must never run with: ePay's
// published test client id (TestClientID) and terminal (TestTerminal), and a client
// secret that is public (ePay's TestClientSecret, or any secret this repository
// publishes: epay.IsPublicSecret). The error wraps ErrConfig and names the variable,
// never its value.
func (c Config) CheckNotPublic() error {
	switch {
	case strings.EqualFold(strings.TrimSpace(c.ClientID), TestClientID):
		return fmt.Errorf("%w: EPAY_CLIENT_ID is ePay's published test client id; production needs the merchant's own", ErrConfig)
	case strings.EqualFold(strings.TrimSpace(c.Terminal), TestTerminal):
		return fmt.Errorf("%w: EPAY_TERMINAL is ePay's published test terminal; production needs the merchant's own", ErrConfig)
	case strings.EqualFold(strings.TrimSpace(c.P2PTerminal), TestTerminal):
		return fmt.Errorf("%w: EPAY_P2P_TERMINAL is ePay's published test terminal; production needs the merchant's own", ErrConfig)
	}
	if err := epay.CheckSecret("EPAY_CLIENT_SECRET", string(c.ClientSecret)); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
