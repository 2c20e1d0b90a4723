package initiator

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// envNames maps each flag to its environment variable.
var envNames = map[string]string{
	"addr": "INITIATOR_ADDR", "nats-url": "NATS_URL", "epay-env": "EPAY_ENV",
	"epay-client-id": "EPAY_CLIENT_ID", "epay-client-secret": "EPAY_CLIENT_SECRET",
	"epay-terminal": "EPAY_TERMINAL", "epay-token-url": "EPAY_TOKEN_URL", "epay-api-url": "EPAY_API_URL",
	"epay-payform-js-url": "EPAY_PAYFORM_JS_URL", "epay-timeout": "EPAY_TIMEOUT",
	"public-base-url": "PUBLIC_BASE_URL", "public-url": "INITIATOR_PUBLIC_URL",
	"api-keys": "INITIATOR_API_KEYS", "secret-keys": "EPAY_SECRET_KEYS", "shards": "EPAY_SHARDS",
	"worker-url": "WORKER_URL", "shop": "INITIATOR_SHOP", "shop-key": "INITIATOR_SHOP_KEY",
	"log-format": "LOG_FORMAT", "log-level": "LOG_LEVEL",
	"stream-replicas": "NATS_STREAM_REPLICAS", "duplicate-window": "NATS_DUPLICATE_WINDOW",
}

// ParseFlags reads the configuration from args and the environment (a flag wins over
// its variable), applies the EPAY_ENV defaults and validates. It returns flag.ErrHelp
// for -h (the usage has been printed to stderr).
func ParseFlags(name string, args []string, getenv func(string) string) (Config, error) {
	return parseFlags(name, args, getenv, os.Stderr)
}

func parseFlags(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c := Config{IDs: defaultIDs(), Streams: natsbus.DefaultStreamsConfig(), PublishTimeout: 5 * time.Second}
	var secret, apiKeys, secretKeys, shop, shopKey string
	fs.StringVar(&c.Addr, "addr", ":8080", "listen address")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	fs.StringVar(&c.EPayEnv, "epay-env", epayapi.EnvSandbox, "ePay environment: sandbox, test or prod")
	fs.StringVar(&c.EPay.ClientID, "epay-client-id", "", "ePay client id (default: the published test id outside prod)")
	fs.StringVar(&secret, "epay-client-secret", "", "ePay client secret; prefer the variable (default: the published test secret outside prod)")
	fs.StringVar(&c.EPay.Terminal, "epay-terminal", "", "ePay terminal id (default: the published test terminal outside prod)")
	fs.StringVar(&c.EPay.TokenURL, "epay-token-url", "", "ePay OAuth token URL (default from -epay-env)")
	fs.StringVar(&c.EPay.APIURL, "epay-api-url", "", "ePay API base URL for status checks (default from -epay-env)")
	fs.StringVar(&c.PayformJSURL, "epay-payform-js-url", "", "ePay payment-api.js URL (default from -epay-env)")
	fs.DurationVar(&c.EPay.Timeout, "epay-timeout", 10*time.Second, "timeout of each ePay request attempt")
	fs.StringVar(&c.PublicBaseURL, "public-base-url", "", "public URL where ePay reaches the ingest (required)")
	fs.StringVar(&c.PublicURL, "public-url", "", "public URL where browsers reach the initiator (default: the listener's URL)")
	fs.StringVar(&apiKeys, "api-keys", "", "merchant API keys, comma-separated, at least 16 characters each (required)")
	fs.StringVar(&secretKeys, "secret-keys", "", "secret_hash signing keys KID:secret,KID:secret (required)")
	fs.IntVar(&c.Shards, "shards", natsbus.DefaultShards, "number of inbox shards (same in every service)")
	fs.StringVar(&c.WorkerURL, "worker-url", "", "worker read API URL for the return pages")
	fs.StringVar(&shop, "shop", "auto", "serve the demo shop page: true, false or auto (on unless -epay-env=prod)")
	fs.StringVar(&shopKey, "shop-key", "", "API key the shop page uses (default: the first API key, outside prod)")
	fs.IntVar(&c.Streams.Replicas, "stream-replicas", c.Streams.Replicas, "replicas of EPAY_INBOX and of the invoiceId sequence bucket (3 on a cluster)")
	fs.DurationVar(&c.Streams.DuplicateWindow, "duplicate-window", c.Streams.DuplicateWindow, "JetStream duplicate window of EPAY_INBOX")
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := envflag.Parse(fs, args, getenv, envNames); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrConfig, fs.Arg(0))
	}
	c.EPay.ClientSecret = epayapi.Secret(secret)
	// The sequence bucket lives on the same cluster as the streams: as replicated as they are.
	c.IDs.Replicas = c.Streams.Replicas
	if err := c.ApplyEnvDefaults(); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.applyKeys(apiKeys, secretKeys, shop, shopKey); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

func (c *Config) applyKeys(apiKeys, secretKeys, shop, shopKey string) error {
	for _, k := range strings.Split(apiKeys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.APIKeys = append(c.APIKeys, epayapi.Secret(k))
		}
	}
	if secretKeys != "" {
		kr, err := epay.ParseKeyring(secretKeys)
		if err != nil {
			return fmt.Errorf("%w: EPAY_SECRET_KEYS: %w", ErrConfig, err)
		}
		c.Keyring = kr
	}
	prod := c.EPayEnv == epayapi.EnvProd
	switch shop {
	case "auto":
		c.Shop = !prod
	default:
		on, err := strconv.ParseBool(shop)
		if err != nil {
			return fmt.Errorf("%w: INITIATOR_SHOP %q: want true, false or auto", ErrConfig, shop)
		}
		c.Shop = on
	}
	c.ShopKey = epayapi.Secret(shopKey)
	if c.Shop && c.ShopKey == "" && !prod && len(c.APIKeys) > 0 {
		c.ShopKey = c.APIKeys[0]
	}
	return nil
}
