package initiator

import (
	"errors"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoiceid"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// ErrConfig is wrapped by every Config.Validate error.
var ErrConfig = errors.New("initiator: invalid config")

// Config of the initiator. ParseFlags fills it from flags and environment; devstack
// and tests build it directly.
type Config struct {
	// Addr to listen on (":0" picks a port).
	Addr string
	// MetricsAddr (INITIATOR_METRICS_ADDR): /metrics on a listener of its own, and not
	// on Addr; empty: /metrics on Addr.
	MetricsAddr string
	// NATSURL of the JetStream server or cluster.
	NATSURL string
	// NATS is who the initiator is on NATS (NATS_USER, NATS_PASSWORD or
	// NATS_PASSWORD_FILE, NATS_CA): natsbus.RoleInitiator's permissions.
	NATS natsbus.Auth
	// EPayEnv is sandbox, test or prod; prod refuses plain-http ePay URLs.
	EPayEnv string
	// EPay is the token/status client; TokenURL and APIURL default from EPayEnv.
	EPay epayapi.Config
	// PayformJSURL is ePay's payment-api.js, loaded by the page; defaults from EPayEnv.
	PayformJSURL string
	// PublicBaseURL is where ePay reaches the ingest: postLink and failurePostLink.
	PublicBaseURL string
	// PublicURL is where browsers reach the initiator, for the default backLink and
	// failureBackLink. Empty: the URL of the listener.
	PublicURL string
	// APIKeys are the merchant API keys accepted as Bearer tokens to create payments
	// and read invoices.
	APIKeys []epayapi.Secret
	// OperateKeys (INITIATOR_OPERATE_KEYS) are the keys that may also refund, charge and
	// cancel (and do all an API key does; a key in both lists may operate): the keys that
	// move money back, kept apart so that a key a checkout holds to start payments cannot
	// refund them.
	OperateKeys []epayapi.Secret
	// Keyring signs secret_hash (EPAY_SECRET_KEYS, shared with the ingest).
	Keyring *epay.Keyring
	// Shards of the inbox; must equal every other service's.
	Shards int
	// WorkerURL is the worker's read API, for the return pages. Empty: not proxied.
	WorkerURL string
	// WorkerKey, if set, is sent to WorkerURL as Authorization: Bearer.
	WorkerKey epayapi.Secret
	// ReturnKeys sign the token of the buyer's return page (KID:secret,…; the first
	// signs, all verify). Nil: Keyring, under another HMAC input than secret_hash.
	ReturnKeys *epay.Keyring
	// BackLinkHosts are the hosts a merchant's backLink and failureBackLink may name
	// (host, host:port or *.domain). Empty: the host of PublicURL only.
	BackLinkHosts []string
	// Shop enables the demo shop page at GET / and its route POST /shop/payments, which
	// creates at most ShopRate payments a minute (0: DefaultShopRate).
	Shop     bool
	ShopRate int
	// IDs configures the invoiceId allocator (scheme, bucket).
	IDs invoiceid.Config
	// Streams is validated and otherwise unused: the worker makes EPAY_INBOX and the
	// buckets with its own settings (the same NATS_STREAM_* variables in a deployment).
	Streams natsbus.StreamsConfig
	// PublishTimeout bounds the wait for invoice.created's PubAck (default 5s).
	PublishTimeout time.Duration
}

// ApplyEnvDefaults fills what EPayEnv implies: ePay endpoints, and the published test
// credentials outside prod. Fields already set are kept.
func (c *Config) ApplyEnvDefaults() error {
	ep, err := epayapi.Preset(c.EPayEnv)
	if err != nil {
		return err
	}
	if c.EPay, err = c.EPay.WithEnvDefaults(c.EPayEnv); err != nil {
		return err
	}
	if c.PayformJSURL == "" {
		c.PayformJSURL = ep.PayformJSURL
	}
	return nil
}

// ePay's published test credentials (docs/EPAY.md): the sandbox and ePay's test hosts take them.
const (
	TestClientID     = epayapi.TestClientID
	TestClientSecret = epayapi.TestClientSecret
	TestTerminal     = epayapi.TestTerminal
)

// Validate reports the first problem, wrapping ErrConfig; it never quotes a secret.
func (c Config) Validate() error {
	prod := c.EPayEnv == epay.EnvProd
	if _, err := epayapi.Preset(c.EPayEnv); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if prod && !c.EPay.RequireTLS {
		return fmt.Errorf("%w: EPAY_ENV=prod requires https ePay endpoints", ErrConfig)
	}
	if err := epayapi.CheckProdHosts(c.EPayEnv, [2]string{"EPAY_TOKEN_URL", c.EPay.TokenURL}, [2]string{"EPAY_API_URL", c.EPay.APIURL},
		[2]string{"EPAY_PAYFORM_JS_URL", c.PayformJSURL}); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.checkMissing(); err != nil {
		return err
	}
	if err := httpserver.CheckAddr(c.Addr); err != nil {
		return fmt.Errorf("%w: INITIATOR_ADDR %v", ErrConfig, err)
	}
	if err := httpserver.CheckAddr(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		return fmt.Errorf("%w: INITIATOR_METRICS_ADDR %v", ErrConfig, err)
	}
	if err := natsbus.CheckURLs(c.NATSURL); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.EPay.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	checks := []struct {
		what, url string
		tls       bool
	}{
		{"EPAY_PAYFORM_JS_URL", c.PayformJSURL, prod},
		{"PUBLIC_BASE_URL", c.PublicBaseURL, prod},
	}
	for _, ch := range checks {
		if err := epayapi.CheckEndpoint(ch.what, ch.url, ch.tls); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if err := epayapi.CheckEndpoint("INITIATOR_PUBLIC_URL", c.PublicURL, prod); c.PublicURL != "" && err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, o := range [][2]string{{"WORKER_URL", c.WorkerURL}} {
		if o[1] != "" {
			if err := epayapi.CheckEndpoint(o[0], o[1], false); err != nil {
				return fmt.Errorf("%w: %w", ErrConfig, err)
			}
		}
	}
	return c.validateRest()
}

// checkMissing names every required setting left unset at once, in one line.
func (c Config) checkMissing() error {
	prod := c.EPayEnv == epay.EnvProd
	var missing []string
	for _, r := range [][2]string{
		{"EPAY_CLIENT_ID", c.EPay.ClientID}, {"EPAY_CLIENT_SECRET", string(c.EPay.ClientSecret)},
		{"EPAY_TERMINAL", c.EPay.Terminal}, {"EPAY_TOKEN_URL", c.EPay.TokenURL}, {"EPAY_API_URL", c.EPay.APIURL},
		{"EPAY_PAYFORM_JS_URL", c.PayformJSURL}, {"PUBLIC_BASE_URL", c.PublicBaseURL}, {"NATS_URL", c.NATSURL},
	} {
		if r[1] == "" {
			missing = append(missing, r[0])
		}
	}
	if len(c.APIKeys) == 0 {
		missing = append(missing, "INITIATOR_API_KEYS")
	}
	if c.Keyring == nil {
		missing = append(missing, "EPAY_SECRET_KEYS")
	}
	// In prod the default backLinks and the backLink hosts come from the public URL: it
	// must be named (and https).
	note := ""
	if prod && c.PublicURL == "" {
		missing = append(missing, "INITIATOR_PUBLIC_URL")
		note = " (INITIATOR_PUBLIC_URL with EPAY_ENV=prod: the default backLinks point there)"
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s%s", ErrConfig, envflag.Missing(missing), note)
	}
	return nil
}

func (c Config) validateRest() error {
	switch {
	case c.Shards < 1 || c.Shards > inbox.MaxShards:
		return fmt.Errorf("%w: EPAY_SHARDS %d: want 1 to %d", ErrConfig, c.Shards, inbox.MaxShards)
	case c.PublishTimeout < 0:
		return fmt.Errorf("%w: publish timeout is negative", ErrConfig)
	}
	if c.EPayEnv == epay.EnvProd {
		if err := c.Keyring.CheckNotPublic(); err != nil {
			return fmt.Errorf("%w: EPAY_SECRET_KEYS with EPAY_ENV=prod: %w", ErrConfig, err)
		}
	}
	for name, keys := range map[string][]epayapi.Secret{"INITIATOR_API_KEYS": c.APIKeys, "INITIATOR_OPERATE_KEYS": c.OperateKeys} {
		for i, k := range keys {
			if len(k) < 16 {
				return fmt.Errorf("%w: %s entry %d is shorter than 16 characters", ErrConfig, name, i+1)
			}
		}
	}
	if c.ShopRate < 0 {
		return fmt.Errorf("%w: INITIATOR_SHOP_RATE %d: want 1 or more payments a minute (0: %d)", ErrConfig, c.ShopRate, DefaultShopRate)
	}
	if _, err := parseHostPatterns(c.BackLinkHosts); err != nil {
		return fmt.Errorf("%w: INITIATOR_BACKLINK_HOSTS: %w", ErrConfig, err)
	}
	if c.ReturnKeys != nil && c.EPayEnv == epay.EnvProd {
		if err := c.ReturnKeys.CheckNotPublic(); err != nil {
			return fmt.Errorf("%w: INITIATOR_RETURN_KEYS with EPAY_ENV=prod: %w", ErrConfig, err)
		}
	}
	if err := c.IDs.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.NATS.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.Streams.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.EPayEnv == epay.EnvProd {
		return c.checkNotPublic()
	}
	return nil
}

// checkNotPublic refuses, for production, ePay's published test credentials and every
// secret this repository publishes (epay.IsPublicSecret): the API keys, the worker's
// read key, the NATS password (the signing and return keys are checked above). The
// error names the variable, never the value.
func (c Config) checkNotPublic() error {
	if err := c.EPay.CheckNotPublic(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for i, k := range c.APIKeys {
		if err := epay.CheckSecret(fmt.Sprintf("INITIATOR_API_KEYS entry %d", i+1), string(k)); err != nil {
			return fmt.Errorf("%w: with EPAY_ENV=prod: %w", ErrConfig, err)
		}
	}
	for i, k := range c.OperateKeys {
		if err := epay.CheckSecret(fmt.Sprintf("INITIATOR_OPERATE_KEYS entry %d", i+1), string(k)); err != nil {
			return fmt.Errorf("%w: with EPAY_ENV=prod: %w", ErrConfig, err)
		}
	}
	for _, s := range [][2]string{{"INITIATOR_WORKER_KEY", string(c.WorkerKey)}, {"NATS_PASSWORD", c.NATS.Password}} {
		if err := epay.CheckSecret(s[0], s[1]); err != nil {
			return fmt.Errorf("%w: with EPAY_ENV=prod: %w", ErrConfig, err)
		}
	}
	return nil
}
