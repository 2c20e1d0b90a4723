package webhooks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/merchant"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("webhooks configuration")

// DefaultSchedule are the delays before each retry: 8 attempts over about 28 hours.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Config configures the webhooks service.
type Config struct {
	NATSURL  string
	Auth     natsbus.Auth
	Replicas int // of the bucket, like the streams'
	// Addr is the API's listen address (":0" in tests).
	Addr string
	// MetricsAddr (WEBHOOKS_METRICS_ADDR): /metrics on a listener of its own, and not on
	// Addr, so that monitoring reaches no API (a deployment's NetworkPolicy). Empty: on Addr.
	MetricsAddr string
	// APIKeys are accepted as Bearer tokens by the API.
	APIKeys []string
	// Env is EPAY_ENV: sandbox, test or prod (empty: sandbox). In prod the events are
	// verified and the secrets sealed, or the service does not start: there, a NATS
	// password alone must neither make a delivery nor read a secret.
	Env string
	// Events verifies each event before it is delivered (WEBHOOKS_EVENTS_PUBLIC_KEYS, the
	// workers' public keys): one without the workers' signature is never signed with an
	// endpoint's secret. Nil: events are not verified (local stacks; set it in prod).
	Events *merchant.EventVerifier
	// SecretsKey (WEBHOOKS_SECRETS_KEY, 32 bytes) seals the endpoints' secrets in the
	// bucket (AES-256-GCM, each bound to its endpoint). Nil: stored as they are (local
	// stacks; set it in prod).
	SecretsKey []byte
	// AllowPrivate are the non-public addresses deliveries may reach anyway.
	AllowPrivate []netip.Prefix
	// AllowHTTP accepts http:// endpoints (local development and tests only).
	AllowHTTP bool
	// Timeout bounds each delivery request. Default 10s.
	Timeout time.Duration
	// MaxBody bounds the events delivered; a larger one goes to the dead letter. Default 256 KiB.
	MaxBody int
	// MaxEndpoints bounds the endpoints registered (each gets every matching event, at
	// once, and has its own metric series): a registration past it is refused (409).
	// Default 1000.
	MaxEndpoints int
	// Schedule are the delays before each retry; after the last the event is dead.
	// Default DefaultSchedule. Jitter spreads each by up to ±Jitter of itself (default 0.2).
	Schedule []time.Duration
	Jitter   float64
	// RotationOverlap is how long a rotated-out secret keeps signing. Default 24h.
	RotationOverlap time.Duration
	// BreakerThreshold consecutive failures pause an endpoint for BreakerCooldown, then
	// one probe is sent. Defaults 5 and 1m.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Durable is the consumer on PAYMENT_EVENTS. Default "webhooks".
	Durable string
	// MaxInFlight bounds the events handled at once. Default 16.
	MaxInFlight int
	// AckWait is how long NATS waits for an event's settlement before it gives the event
	// to another process (this one died). Default twice Timeout and 30 s, far more than a
	// round of deliveries.
	AckWait time.Duration
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, 10*time.Second)
	def(&c.AckWait, 2*c.Timeout+30*time.Second)
	def(&c.RotationOverlap, 24*time.Hour)
	def(&c.BreakerCooldown, time.Minute)
	if c.MaxEndpoints == 0 {
		c.MaxEndpoints = 1000
	}
	if c.MaxBody == 0 {
		c.MaxBody = 256 << 10
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = 0.2
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = 5
	}
	if c.Durable == "" {
		c.Durable = "webhooks"
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 16
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
}

// Validate reports the first problem, wrapping ErrConfig.
func (c Config) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...) }
	switch {
	case c.NATSURL == "":
		return bad("NATS_URL is required")
	case len(c.APIKeys) == 0:
		return bad("WEBHOOKS_API_KEYS is required")
	case c.Timeout < 0 || c.BreakerCooldown < 0 || c.RotationOverlap < 0:
		return bad("durations must not be negative")
	case c.Jitter < 0 || c.Jitter >= 1:
		return bad("jitter %v: want 0 to 1", c.Jitter)
	case c.Replicas < 0 || c.Replicas > 5:
		return bad("replicas %d: want 1 to 5", c.Replicas)
	}
	for i, k := range c.APIKeys {
		if len(k) < 16 {
			return bad("WEBHOOKS_API_KEYS entry %d is shorter than 16 characters", i+1)
		}
	}
	if err := c.Auth.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c.validateEnv()
}

// validateEnv holds production to what keeps a NATS password alone from delivering an
// event or reading a secret, and refuses the secrets published in this repository.
func (c Config) validateEnv() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrConfig}, a...)...) }
	switch c.Env {
	case "", epay.EnvSandbox, epay.EnvTest:
		return nil
	case epay.EnvProd:
	default:
		return bad("-epay-env (EPAY_ENV) %q: want %s, %s or %s", c.Env, epay.EnvSandbox, epay.EnvTest, epay.EnvProd)
	}
	switch {
	case c.Events == nil:
		return bad("-events-public-keys (WEBHOOKS_EVENTS_PUBLIC_KEYS) is required with EPAY_ENV=prod: without the workers' public keys, " +
			"anyone who may publish to PAYMENT_EVENTS makes a delivery signed with the endpoints' secrets (worker events-key -public prints one)")
	case c.SecretsKey == nil:
		return bad("-secrets-key (WEBHOOKS_SECRETS_KEY) is required with EPAY_ENV=prod: without it the endpoints' signing secrets " +
			"lie in EPAY_WEBHOOKS as they are, for any NATS user with stream rights to copy out (openssl rand -base64 32 makes one)")
	}
	// what the flags say is for tests and local stacks: with them any API key holder
	// has the service send to the cluster's own addresses, or an event in clear
	switch {
	case c.AllowHTTP:
		return bad("-allow-http (WEBHOOKS_ALLOW_HTTP) is for local development; with EPAY_ENV=prod every endpoint is https")
	case len(c.AllowPrivate) > 0:
		return bad("-allow-private (WEBHOOKS_ALLOW_PRIVATE) %v is for tests and local stacks; with EPAY_ENV=prod deliveries reach public addresses only", c.AllowPrivate)
	}
	for i, k := range c.APIKeys {
		if err := epay.CheckSecret(fmt.Sprintf("WEBHOOKS_API_KEYS entry %d", i+1), k); err != nil {
			return bad("with EPAY_ENV=prod: %w", err)
		}
	}
	if err := epay.CheckSecret("-nats-password (NATS_PASSWORD)", c.Auth.Password); err != nil {
		return bad("with EPAY_ENV=prod: %w", err)
	}
	if epay.IsPublicSecret(c.SecretsKey) {
		return bad("with EPAY_ENV=prod: -secrets-key (WEBHOOKS_SECRETS_KEY) is published in this repository; generate a key of your own")
	}
	return nil
}

// delay is the wait before the attempt after the delivered-th, with jitter.
func (c Config) delay(delivered uint64) time.Duration {
	if len(c.Schedule) == 0 {
		return 0
	}
	i := min(int(delivered), len(c.Schedule)) - 1
	i = max(i, 0)
	d := float64(c.Schedule[i])
	return time.Duration(d + d*c.Jitter*(2*rand.Float64()-1))
}

// splitList splits a comma-separated list, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
