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
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoiceid"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// envNames maps each flag to its environment variable.
var envNames = envflag.Merge(epayapi.FlagEnvNames, natsbus.StreamFlagEnvNames, natsbus.StreamLimitFlagEnvNames, natsbus.AuthFlagEnvNames, logging.FlagEnvNames, map[string]string{
	"addr": "INITIATOR_ADDR", "metrics-addr": "INITIATOR_METRICS_ADDR", "nats-url": "NATS_URL", "epay-payform-js-url": "EPAY_PAYFORM_JS_URL",
	"public-base-url": "PUBLIC_BASE_URL", "public-url": "INITIATOR_PUBLIC_URL",
	"api-keys": "INITIATOR_API_KEYS", "operate-keys": "INITIATOR_OPERATE_KEYS", "secret-keys": "EPAY_SECRET_KEYS", "shards": "EPAY_SHARDS",
	"worker-url": "WORKER_URL", "shop": "INITIATOR_SHOP", "shop-rate": "INITIATOR_SHOP_RATE", "invoice-id-random": "INITIATOR_INVOICE_ID_RANDOM",
	"worker-key": "INITIATOR_WORKER_KEY", "return-keys": "INITIATOR_RETURN_KEYS",
	"backlink-hosts": "INITIATOR_BACKLINK_HOSTS",
})

// ParseFlags reads the configuration from args and the environment (a flag wins over
// its variable), applies the EPAY_ENV defaults and validates. It returns flag.ErrHelp
// for -h (the usage has been printed to stderr); every other error wraps ErrConfig and
// is one line.
func ParseFlags(name string, args []string, getenv func(string) string) (Config, error) {
	return ParseFlagsTo(name, args, getenv, os.Stderr)
}

// ParseFlagsTo is ParseFlags with the -h text going to usage.
func ParseFlagsTo(name string, args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c, _, err := parseCommand(name, args, getenv, usage)
	return c, err
}

// ParseCommand is ParseFlagsTo that also returns the log flags, for main's logger.
func ParseCommand(name string, args []string, getenv func(string) string, usage io.Writer) (Config, logging.Flags, error) {
	return parseCommand(name, args, getenv, usage)
}

// parseFlags is parseCommand without the log flags.
func parseFlags(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c, _, err := parseCommand(name, args, getenv, out)
	return c, err
}

func parseCommand(name string, args []string, getenv func(string) string, out io.Writer) (Config, logging.Flags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c := Config{IDs: defaultIDs(), Streams: natsbus.DefaultStreamsConfig(), PublishTimeout: 5 * time.Second}
	var ep epayapi.Flags
	var apiKeys, operateKeys, secretKeys, shop, idRandom string
	var sec securityFlags
	ep.Bind(fs)
	fs.StringVar(&c.Addr, "addr", ":8080", "listen address (payments, pages, /livez, /readyz; /metrics unless -metrics-addr)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics here only, apart from the payments API (empty: on -addr)")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	c.NATS.BindFlags(fs)
	fs.StringVar(&c.PayformJSURL, "epay-payform-js-url", "", "ePay payment-api.js URL (default from -epay-env)")
	fs.StringVar(&c.PublicBaseURL, "public-base-url", "", "public URL where ePay reaches the ingest (required)")
	fs.StringVar(&c.PublicURL, "public-url", "", "public URL where browsers reach the initiator (default: the listener's URL)")
	fs.StringVar(&apiKeys, "api-keys", "", "merchant API keys, comma-separated, at least 16 characters each, that create payments and read invoices (required)")
	fs.StringVar(&operateKeys, "operate-keys", "", "merchant API keys that may also refund, charge and cancel, comma-separated, at least 16 characters each (none: no key may)")
	fs.StringVar(&secretKeys, "secret-keys", "", "secret_hash signing keys KID:secret,KID:secret (required)")
	fs.IntVar(&c.Shards, "shards", inbox.DefaultShards, "number of inbox shards (same in every service)")
	fs.StringVar(&c.WorkerURL, "worker-url", "", "worker read API URL for the return pages")
	fs.StringVar(&shop, "shop", "auto", "serve the demo shop page: true, false or auto (on unless -epay-env=prod)")
	fs.StringVar(&idRandom, "invoice-id-random", "auto", "invoiceIds of 15 digits with 5 random ones, so the next cannot be guessed: true, false or auto (on with -epay-env=prod); off: 12 digits in order from 100000000001")
	sec.bind(fs, &c)
	c.Streams.BindFlags(fs, "EPAY_INBOX and of the invoiceId sequence bucket")
	c.Streams.BindLimitFlags(fs) // kept for the deployments that set them; `worker streams` makes EPAY_INBOX
	lf := logging.DefaultFlags()
	lf.Bind(fs)
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig); err != nil {
		return Config{}, lf, err
	}
	c.EPayEnv, c.EPay = ep.Env, ep.Given()
	if err := c.ApplyEnvDefaults(); err != nil {
		return Config{}, lf, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.OperateKeys = splitKeys(operateKeys)
	if err := c.applyIDs(idRandom); err != nil {
		return Config{}, lf, err
	}
	if err := c.applyKeys(apiKeys, secretKeys, shop); err != nil {
		return Config{}, lf, err
	}
	if err := sec.apply(&c); err != nil {
		return Config{}, lf, err
	}
	if err := lf.Check(); err != nil {
		return c, lf, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, lf, c.Validate()
}

// splitKeys reads a comma-separated list of keys.
func splitKeys(s string) []epayapi.Secret {
	var out []epayapi.Secret
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, epayapi.Secret(k))
		}
	}
	return out
}

// applyIDs picks the invoiceId scheme: random digits in every id (invoiceid.ProdScheme)
// when asked, or by default in prod, where a shopper who could name the next invoice could
// pay a tenge against it through a P2P transfer token, which binds no invoiceId.
func (c *Config) applyIDs(random string) error {
	on := c.EPayEnv == epay.EnvProd
	if random != "auto" {
		var err error
		if on, err = strconv.ParseBool(random); err != nil {
			return fmt.Errorf("%w: INITIATOR_INVOICE_ID_RANDOM %q: want true, false or auto", ErrConfig, random)
		}
	}
	if on {
		c.IDs.Scheme = invoiceid.ProdScheme()
	}
	return nil
}

func (c *Config) applyKeys(apiKeys, secretKeys, shop string) error {
	c.APIKeys = append(c.APIKeys, splitKeys(apiKeys)...)
	if secretKeys != "" {
		kr, err := epay.ParseKeyring(secretKeys)
		if err != nil {
			return fmt.Errorf("%w: EPAY_SECRET_KEYS: %w", ErrConfig, err)
		}
		c.Keyring = kr
	}
	prod := c.EPayEnv == epay.EnvProd
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
	return nil
}
