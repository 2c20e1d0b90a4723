package ingest

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Policy says what happens to a callback whose secret_hash does not verify.
type Policy string

const (
	// PolicyRequire answers 401 and publishes nothing. The default.
	PolicyRequire Policy = "require"
	// PolicyAcceptUnverified publishes it marked unverified (Epay-Receipt); the worker must
	// confirm it with ePay's status API before trusting it. For the case where real
	// callbacks turn out to come without secret_hash.
	PolicyAcceptUnverified Policy = "accept-unverified"
)

// ErrPolicy is wrapped by the error for an unknown policy.
var ErrPolicy = errors.New("invalid secret_hash policy")

// ParsePolicy reads "require" or "accept-unverified".
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyRequire, PolicyAcceptUnverified:
		return p, nil
	}
	return "", fmt.Errorf("%w %q: want %s or %s", ErrPolicy, s, PolicyRequire, PolicyAcceptUnverified)
}

// MaxBodyBytes is the largest callback body taken; a larger one is answered 413 unread.
const MaxBodyBytes = 64 << 10

// MaxPublishTimeout bounds Config.PublishTimeout: a publish must end well within the HTTP
// server's write timeout, or the answer it earns cannot be written.
const MaxPublishTimeout = 10 * time.Second

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("ingest config")

// Config is everything the ingest needs. Start from DefaultConfig or ParseFlags.
type Config struct {
	Addr           string        // INGEST_ADDR; ":0" picks a port
	MetricsAddr    string        // INGEST_METRICS_ADDR: /metrics on a listener of its own, not on Addr (empty: on Addr)
	NATSURL        string        // NATS_URL, comma-separated URLs
	NATS           natsbus.Auth  // NATS_USER, NATS_PASSWORD(_FILE), NATS_CA: who the ingest is on NATS
	Keys           *epay.Keyring // EPAY_SECRET_KEYS: verify secret_hash. Required.
	Shards         int           // EPAY_SHARDS: the same in every service
	Policy         Policy        // EPAY_SECRET_HASH_POLICY
	PublishTimeout time.Duration // INGEST_PUBLISH_TIMEOUT: bounded wait for the PubAck
	// Streams is validated, otherwise unused: the worker makes EPAY_INBOX.
	Streams natsbus.StreamsConfig
	HTTP    httpserver.Timeouts // zero fields take httpserver's defaults

	// Env is EPAY_ENV (sandbox, test or prod); prod refuses the public example keys.
	Env string
	// AllowCIDRs (INGEST_ALLOW_CIDRS), when not empty, are the only sources whose
	// callbacks are taken; others get 403. TrustedProxies (INGEST_TRUSTED_PROXIES) are
	// the peers whose X-Forwarded-For names the source; without them the header is ignored.
	AllowCIDRs     []netip.Prefix
	TrustedProxies []netip.Prefix
	// RateLimit (INGEST_RATE_LIMIT) is callbacks a second per source address, RateBurst
	// (INGEST_RATE_BURST) how many may come at once; a source over it gets 429 with
	// Retry-After. 0: no limit (the default). RateMaxSources bounds the addresses tracked.
	RateLimit      float64
	RateBurst      int
	RateMaxSources int
	// InvoiceBudget (INGEST_INVOICE_BUDGET) bounds the bytes of callbacks this ingest stores
	// for one invoice within a day (0: no bound); past it a callback gets 429 (invoiceBudget).
	InvoiceBudget int
	// TLSCert and TLSKey (INGEST_TLS_CERT, INGEST_TLS_KEY): PEM files; when set, the
	// ingest serves HTTPS only.
	TLSCert, TLSKey string
	// GCPercent (-gogc, GOGC) is the collector's GOGC that Run sets: DefaultGCPercent
	// unless GOGC says otherwise; -1 is "off"; 0 leaves the runtime's as it is.
	GCPercent int
}

// DefaultGCPercent is the ingest's GOGC when the environment sets none. The ingest
// keeps a few MiB live, so at Go's 100 it collected many times a second under load,
// about 6 us of CPU a callback (bench/NOTES.md, session 21): 400 trades ~4x a small heap
// for most of that. GOMEMLIMIT, when set, still bounds it (deploy/k8s sets it below the
// container's limit).
const DefaultGCPercent = 400

// ParseGCPercent reads GOGC's forms: a percent of 1 or more, or "off" (-1).
func ParseGCPercent(s string) (int, error) {
	if s == "off" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: want a percent of 1 or more, or off", s)
	}
	return n, nil
}

// DefaultConfig is the configuration with every default filled in, keys aside.
func DefaultConfig() Config {
	return Config{
		Addr:           ":8081",
		NATSURL:        "nats://127.0.0.1:4222",
		Shards:         inbox.DefaultShards,
		Policy:         PolicyRequire,
		PublishTimeout: 2 * time.Second,
		Streams:        natsbus.DefaultStreamsConfig(),
		Env:            epay.EnvSandbox,
		RateMaxSources: DefaultRateMaxSources,
		InvoiceBudget:  DefaultInvoiceBudget,
		HTTP:           httpserver.Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second},
		GCPercent:      DefaultGCPercent,
	}
}

// DefaultRateMaxSources is how many source addresses the rate limiter tracks at most
// (about 100 bytes each).
const DefaultRateMaxSources = 10000

// Validate reports the first bad setting; the error wraps ErrConfig and is one line.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if err := checkAddrs(c.Addr, c.MetricsAddr); err != nil {
		return bad("%v", err)
	}
	if err := natsbus.CheckURLs(c.NATSURL); err != nil {
		return bad("%v", err)
	}
	switch {
	case c.Keys == nil:
		return bad("-secret-keys (EPAY_SECRET_KEYS) is required: KID:secret[,KID:secret...]")
	case c.Shards < 1 || c.Shards > inbox.MaxShards:
		return bad("-shards (EPAY_SHARDS) %d: want 1 to %d", c.Shards, inbox.MaxShards)
	case c.PublishTimeout <= 0 || c.PublishTimeout > MaxPublishTimeout:
		return bad("-publish-timeout (INGEST_PUBLISH_TIMEOUT) %s: want more than 0 and at most %s", c.PublishTimeout, MaxPublishTimeout)
	}
	if err := c.validateHardening(); err != nil {
		return bad("%v", err)
	}
	if err := c.NATS.Validate(); err != nil {
		return bad("%v", err)
	}
	if _, err := ParsePolicy(string(c.Policy)); err != nil {
		return bad("-secret-hash-policy (EPAY_SECRET_HASH_POLICY): %v", err)
	}
	if err := c.Streams.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// checkAddrs checks the listen addresses (-metrics-addr may be empty).
func checkAddrs(addr, metricsAddr string) error {
	if err := httpserver.CheckAddr(addr); err != nil {
		return fmt.Errorf("-addr (INGEST_ADDR) %v", err)
	}
	if metricsAddr == "" {
		return nil
	}
	if err := httpserver.CheckAddr(metricsAddr); err != nil {
		return fmt.Errorf("-metrics-addr (INGEST_METRICS_ADDR) %v", err)
	}
	return nil
}

// validateHardening checks the environment, the source and rate limits, TLS and the
// slow-client timeouts.
func (c Config) validateHardening() error {
	switch c.Env {
	case epay.EnvSandbox, epay.EnvTest, epay.EnvProd:
	default:
		return fmt.Errorf("-epay-env (EPAY_ENV) %q: want %s, %s or %s", c.Env, epay.EnvSandbox, epay.EnvTest, epay.EnvProd)
	}
	if c.Env == epay.EnvProd {
		if err := c.Keys.CheckNotPublic(); err != nil {
			return fmt.Errorf("-secret-keys (EPAY_SECRET_KEYS) with EPAY_ENV=prod: %v", err)
		}
		if err := epay.CheckSecret("-nats-password (NATS_PASSWORD)", c.NATS.Password); err != nil {
			return fmt.Errorf("with EPAY_ENV=prod: %v", err)
		}
	}
	switch {
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return fmt.Errorf("-rate-limit (INGEST_RATE_LIMIT) %v: want 0 (off) or a positive rate a second", c.RateLimit)
	case c.RateLimit > 0 && c.RateBurst < 1:
		return fmt.Errorf("-rate-burst (INGEST_RATE_BURST) %d: want at least 1 with a rate limit", c.RateBurst)
	case c.InvoiceBudget != 0 && c.InvoiceBudget < MaxBodyBytes:
		return fmt.Errorf("-invoice-budget (INGEST_INVOICE_BUDGET) %d: want 0 (no bound) or at least %d bytes, one callback of the largest size", c.InvoiceBudget, MaxBodyBytes)
	case c.RateLimit > 0 && c.RateMaxSources < 1:
		return fmt.Errorf("rate limiter sources %d: want at least 1", c.RateMaxSources)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("-tls-cert (INGEST_TLS_CERT) and -tls-key (INGEST_TLS_KEY) go together")
	case c.HTTP.ReadHeader < 0 || c.HTTP.Read < 0:
		return fmt.Errorf("-read-header-timeout and -read-timeout must not be negative")
	}
	return nil
}

// Subcommands are the commands `ingest` runs besides the service (cmd/ingest), for its -h.
var Subcommands = []envflag.Subcommand{
	{Usage: "ingest sign [-secret-keys KID:secret,...] <terminal> <invoiceId>",
		Doc: "print the secret_hash of an invoice, signed with the first of EPAY_SECRET_KEYS, to sign a hand-made callback"},
}

// envNames are the environment variables of the flags.
var envNames = envflag.Merge(natsbus.StreamFlagEnvNames, natsbus.StreamLimitFlagEnvNames, natsbus.AuthFlagEnvNames, logging.FlagEnvNames, map[string]string{
	"addr": "INGEST_ADDR", "metrics-addr": "INGEST_METRICS_ADDR", "nats-url": "NATS_URL", "secret-keys": "EPAY_SECRET_KEYS", "shards": "EPAY_SHARDS",
	"secret-hash-policy": "EPAY_SECRET_HASH_POLICY", "publish-timeout": "INGEST_PUBLISH_TIMEOUT",
	"epay-env": "EPAY_ENV", "allow-cidrs": "INGEST_ALLOW_CIDRS", "trusted-proxies": "INGEST_TRUSTED_PROXIES",
	"rate-limit": "INGEST_RATE_LIMIT", "rate-burst": "INGEST_RATE_BURST", "invoice-budget": "INGEST_INVOICE_BUDGET",
	"tls-cert": "INGEST_TLS_CERT", "tls-key": "INGEST_TLS_KEY",
	"read-header-timeout": "INGEST_READ_HEADER_TIMEOUT", "read-timeout": "INGEST_READ_TIMEOUT",
	"gogc": "GOGC",
})

// ParseFlags reads the configuration from args and the environment (a flag wins over its
// variable). A -h prints the flags with their variables to stderr and returns
// flag.ErrHelp; every other error wraps ErrConfig, is one line and never contains a key.
func ParseFlags(name string, args []string, getenv func(string) string) (Config, error) {
	return ParseFlagsTo(name, args, getenv, os.Stderr)
}

// ParseFlagsTo is ParseFlags with the -h text going to usage.
func ParseFlagsTo(name string, args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c, _, err := ParseCommand(name, args, getenv, usage)
	return c, err
}

// ParseCommand is ParseFlagsTo that also returns the log flags, for main's logger.
func ParseCommand(name string, args []string, getenv func(string) string, usage io.Writer) (Config, logging.Flags, error) {
	c, lf := DefaultConfig(), logging.DefaultFlags()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	var keys, policy, allow, proxies string
	policy = string(c.Policy)
	gogc := strconv.Itoa(c.GCPercent)
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (callbacks, /livez, /readyz; /metrics unless -metrics-addr)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics here only, over plain HTTP, apart from the callbacks (empty: on -addr)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS server URL(s), comma-separated")
	c.NATS.BindFlags(fs)
	fs.StringVar(&keys, "secret-keys", "", "secret_hash keys `KID:secret,...`; the first signs, all verify (prefer the variable: flags show in ps)")
	fs.IntVar(&c.Shards, "shards", c.Shards, "number of inbox shards (the same in every service)")
	fs.StringVar(&policy, "secret-hash-policy", policy, "what to do with a callback whose secret_hash fails: require (401) or accept-unverified (publish it marked unverified in its Epay-Receipt)")
	fs.DurationVar(&c.PublishTimeout, "publish-timeout", c.PublishTimeout, "longest wait for JetStream's acknowledgement before answering 503")
	c.Streams.BindFlags(fs, "EPAY_INBOX")
	c.Streams.BindLimitFlags(fs) // kept for the deployments that set them; `worker streams` makes EPAY_INBOX
	lf.Bind(fs)
	fs.StringVar(&c.Env, "epay-env", c.Env, "ePay environment: sandbox, test or prod (prod refuses the documented example keys)")
	fs.StringVar(&allow, "allow-cidrs", "", "take callbacks only from these sources, CIDRs or addresses, comma-separated (empty: every source; others get 403)")
	fs.StringVar(&proxies, "trusted-proxies", "", "peers (CIDRs) whose X-Forwarded-For names the source; without them X-Forwarded-For is ignored")
	fs.Float64Var(&c.RateLimit, "rate-limit", 0, "callbacks a second per source address before 429 (0: off; see docs/INGEST.md before setting it)")
	fs.IntVar(&c.RateBurst, "rate-burst", 0, "callbacks a source may send at once above the rate (default: 10 seconds' worth of -rate-limit)")
	fs.IntVar(&c.InvoiceBudget, "invoice-budget", c.InvoiceBudget, "bytes of callbacks stored for one invoice within a day before 429 (0: no bound; see docs/INGEST.md)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS with -tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file of -tls-cert")
	fs.DurationVar(&c.HTTP.ReadHeader, "read-header-timeout", c.HTTP.ReadHeader, "a client must send its request headers within this")
	fs.DurationVar(&c.HTTP.Read, "read-timeout", c.HTTP.Read, "a client must send its whole request within this (slow clients are cut off)")
	fs.StringVar(&gogc, "gogc", gogc, "the garbage collector's GOGC: a percent, or off (Go's own variable; the ingest's default is higher than Go's 100)")
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig, Subcommands...); err != nil {
		return c, lf, err
	}
	var err error
	if c.Policy, err = ParsePolicy(policy); err != nil {
		return c, lf, fmt.Errorf("%w: -secret-hash-policy (EPAY_SECRET_HASH_POLICY): %v", ErrConfig, err)
	}
	if keys != "" {
		if c.Keys, err = epay.ParseKeyring(keys); err != nil {
			return c, lf, fmt.Errorf("%w: -secret-keys (EPAY_SECRET_KEYS): %v", ErrConfig, err)
		}
	}
	if c.AllowCIDRs, err = ParseCIDRs(allow); err != nil {
		return c, lf, fmt.Errorf("%w: -allow-cidrs (INGEST_ALLOW_CIDRS): %v", ErrConfig, err)
	}
	if c.TrustedProxies, err = ParseCIDRs(proxies); err != nil {
		return c, lf, fmt.Errorf("%w: -trusted-proxies (INGEST_TRUSTED_PROXIES): %v", ErrConfig, err)
	}
	if c.GCPercent, err = ParseGCPercent(gogc); err != nil {
		return c, lf, fmt.Errorf("%w: -gogc (GOGC): %v", ErrConfig, err)
	}
	if c.RateBurst == 0 && c.RateLimit > 0 {
		c.RateBurst = int(math.Min(math.Ceil(10*c.RateLimit), math.MaxInt32))
	}
	if err := lf.Check(); err != nil {
		return c, lf, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, lf, c.Validate()
}
