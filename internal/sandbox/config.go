package sandbox

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/logging"
)

// The credentials ePay publishes for its test environment; the sandbox accepts them by
// default so a client configured for ePay's test hosts works against it unchanged.
const (
	TestClientID     = "test"
	TestClientSecret = "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
	TestTerminal     = epaytest.TestTerminal
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid sandbox config")

// Config configures the sandbox. The zero value of a field means its default, except
// where noted; Validate reports what cannot work.
type Config struct {
	Addr         string   // listen address, default ":8090"
	ClientID     string   // accepted client_id
	ClientSecret string   // accepted client_secret
	Terminals    []string // terminals of the client

	ExpiresIn       time.Duration // token lifetime, default 1200s
	ExpiresInString bool          // send expires_in as "1200" instead of 1200
	// ServiceTerminalOptional lets a service-scope token be issued without terminal;
	// the status API then answers resultCode "104".
	ServiceTerminalOptional bool

	TwoStep     bool // card payments end in AUTH (charge later) instead of CHARGE
	DeclineCode int  // reason code for a Luhn-valid card the sandbox does not know, default 484
	LockedCode  int  // reason code for the published locked test cards, default 465

	CallbackAttempts   int           // POSTs per callback before giving up, default 8
	CallbackBackoff    time.Duration // wait after the first failed attempt, doubled each time, default 500ms
	CallbackMaxBackoff time.Duration // cap of the wait, default 30s
	CallbackTimeout    time.Duration // per attempt, default 10s
	RedirectWait       time.Duration // how long the browser waits for the first attempt, default 3s
	MaxInFlight        int           // callbacks being delivered at once, default 256

	MaxInvoices int // invoices (and as many tokens) kept; the oldest go first, default 100000

	LogFormat string // json or text (used by the command only)
	LogLevel  string

	// Now is the sandbox clock (token expiry, card expiry, dateTime); nil means time.Now.
	Now func() time.Time
	// HTTPClient sends callbacks; nil means a client with CallbackTimeout.
	HTTPClient *http.Client
	// OnListen, when set, is called by Run with the base URL once the listener is bound.
	OnListen func(url string)
}

// DefaultConfig returns the defaults: ePay's published test credentials, one-step
// payments, 1200 s tokens.
func DefaultConfig() Config {
	return Config{
		Addr:               ":8090",
		ClientID:           TestClientID,
		ClientSecret:       TestClientSecret,
		Terminals:          []string{TestTerminal},
		ExpiresIn:          1200 * time.Second,
		DeclineCode:        484,
		LockedCode:         465,
		CallbackAttempts:   8,
		CallbackBackoff:    500 * time.Millisecond,
		CallbackMaxBackoff: 30 * time.Second,
		CallbackTimeout:    10 * time.Second,
		RedirectWait:       3 * time.Second,
		MaxInFlight:        256,
		MaxInvoices:        100_000,
		LogFormat:          "json",
		LogLevel:           "info",
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setStr := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setStr(&c.Addr, d.Addr)
	setStr(&c.ClientID, d.ClientID)
	setStr(&c.ClientSecret, d.ClientSecret)
	if len(c.Terminals) == 0 {
		c.Terminals = d.Terminals
	}
	setDur(&c.ExpiresIn, d.ExpiresIn)
	setInt(&c.DeclineCode, d.DeclineCode)
	setInt(&c.LockedCode, d.LockedCode)
	setInt(&c.CallbackAttempts, d.CallbackAttempts)
	setDur(&c.CallbackBackoff, d.CallbackBackoff)
	setDur(&c.CallbackMaxBackoff, d.CallbackMaxBackoff)
	setDur(&c.CallbackTimeout, d.CallbackTimeout)
	setDur(&c.RedirectWait, d.RedirectWait)
	setInt(&c.MaxInFlight, d.MaxInFlight)
	setInt(&c.MaxInvoices, d.MaxInvoices)
	setStr(&c.LogFormat, d.LogFormat)
	setStr(&c.LogLevel, d.LogLevel)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first setting that cannot work, wrapping ErrConfig. Zero fields
// are read as their defaults.
func (c Config) Validate() error { return c.withDefaults().check() }

// check validates c as it is, zero values included.
func (c Config) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	switch {
	case c.ExpiresIn < time.Second:
		return bad("token lifetime %s is under a second", c.ExpiresIn)
	case c.CallbackAttempts < 1 || c.CallbackAttempts > 100:
		return bad("callback attempts %d: want 1 to 100", c.CallbackAttempts)
	case c.CallbackBackoff < 0 || c.CallbackMaxBackoff < c.CallbackBackoff:
		return bad("callback backoff %s must be positive and at most the max %s", c.CallbackBackoff, c.CallbackMaxBackoff)
	case c.CallbackTimeout < 0 || c.RedirectWait < 0:
		return bad("timeouts must not be negative")
	case c.MaxInFlight < 1 || c.MaxInvoices < 1:
		return bad("max in flight and max invoices must be positive")
	case c.DeclineCode == 0 || c.LockedCode == 0:
		return bad("decline codes must not be 0 (0 means success)")
	}
	for _, t := range c.Terminals {
		if strings.TrimSpace(t) == "" {
			return bad("an empty terminal id")
		}
	}
	if err := httpserver.CheckAddr(c.Addr); err != nil {
		return bad("-addr (SANDBOX_ADDR) %v", err)
	}
	return nil
}

// Subcommands are the commands `epay-sandbox` runs besides serve (the default), for its -h.
var Subcommands = []envflag.Subcommand{
	{Usage: "epay-sandbox serve [flags]", Doc: "serve the sandbox (the default: epay-sandbox alone is epay-sandbox serve)"},
	{Usage: "epay-sandbox trigger [-url URL] [-invoice ID] [-kind success|failure] ...",
		Doc: "send signed ePay callbacks to a URL (the local ingest unless TRIGGER_URL or -url), keys from EPAY_SECRET_KEYS"},
}

// envNames are the environment variables of the flags.
var envNames = envflag.Merge(logging.FlagEnvNames, map[string]string{
	"addr": "SANDBOX_ADDR", "client-id": "SANDBOX_CLIENT_ID", "client-secret": "SANDBOX_CLIENT_SECRET",
	"terminals": "SANDBOX_TERMINALS", "expires-in": "SANDBOX_EXPIRES_IN",
	"expires-in-string": "SANDBOX_EXPIRES_IN_STRING", "service-terminal-optional": "SANDBOX_SERVICE_TERMINAL_OPTIONAL",
	"two-step": "SANDBOX_TWO_STEP", "decline-code": "SANDBOX_DECLINE_CODE", "locked-code": "SANDBOX_LOCKED_CODE",
	"callback-attempts": "SANDBOX_CALLBACK_ATTEMPTS", "callback-backoff": "SANDBOX_CALLBACK_BACKOFF",
	"callback-max-backoff": "SANDBOX_CALLBACK_MAX_BACKOFF", "callback-timeout": "SANDBOX_CALLBACK_TIMEOUT",
	"redirect-wait": "SANDBOX_REDIRECT_WAIT", "max-invoices": "SANDBOX_MAX_INVOICES",
})

// ParseFlags reads the configuration from args and, for flags not given, the
// environment (SANDBOX_ADDR, SANDBOX_CLIENT_ID, ...; -h lists them). It validates the
// result; errors wrap ErrConfig or are flag.ErrHelp.
func ParseFlags(name string, args []string, getenv func(string) string) (Config, error) {
	return ParseFlagsTo(name, args, getenv, os.Stderr)
}

// ParseFlagsTo is ParseFlags with the -h text going to usage.
func ParseFlagsTo(name string, args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	terminals := strings.Join(c.Terminals, ",")
	expires := int(c.ExpiresIn / time.Second)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address")
	fs.StringVar(&c.ClientID, "client-id", c.ClientID, "accepted client_id")
	fs.StringVar(&c.ClientSecret, "client-secret", c.ClientSecret, "accepted client_secret")
	fs.StringVar(&terminals, "terminals", terminals, "terminals of the client, comma-separated")
	fs.IntVar(&expires, "expires-in", expires, "token lifetime in seconds")
	fs.BoolVar(&c.ExpiresInString, "expires-in-string", false, "send expires_in as a string, as some real responses do")
	fs.BoolVar(&c.ServiceTerminalOptional, "service-terminal-optional", false, "issue service-scope tokens without terminal (status API then answers 104)")
	fs.BoolVar(&c.TwoStep, "two-step", false, "card payments end in AUTH and need a charge")
	fs.IntVar(&c.DeclineCode, "decline-code", c.DeclineCode, "reason code for unknown Luhn-valid cards")
	fs.IntVar(&c.LockedCode, "locked-code", c.LockedCode, "reason code for the locked test cards")
	fs.IntVar(&c.CallbackAttempts, "callback-attempts", c.CallbackAttempts, "POSTs per callback before giving up")
	fs.DurationVar(&c.CallbackBackoff, "callback-backoff", c.CallbackBackoff, "first retry wait, doubled per attempt")
	fs.DurationVar(&c.CallbackMaxBackoff, "callback-max-backoff", c.CallbackMaxBackoff, "longest retry wait")
	fs.DurationVar(&c.CallbackTimeout, "callback-timeout", c.CallbackTimeout, "timeout of one callback POST")
	fs.DurationVar(&c.RedirectWait, "redirect-wait", c.RedirectWait, "how long the browser waits for the first callback attempt")
	fs.IntVar(&c.MaxInvoices, "max-invoices", c.MaxInvoices, "invoices kept in memory; the oldest go first")
	logging.BindFlags(fs, &c.LogFormat, &c.LogLevel)
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig, Subcommands...); err != nil {
		return Config{}, err
	}
	c.Terminals = splitList(terminals)
	c.ExpiresIn = time.Duration(expires) * time.Second
	if len(c.Terminals) == 0 {
		return Config{}, fmt.Errorf("%w: no terminal", ErrConfig)
	}
	if err := c.check(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
