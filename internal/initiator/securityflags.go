package initiator

import (
	"flag"
	"fmt"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
)

// securityFlags are the flags of the return-page token, the backLink hosts, the shop
// route's rate and the worker's read key.
type securityFlags struct {
	returnKeys, workerKey, backLinkHosts string
}

func (s *securityFlags) bind(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&s.returnKeys, "return-keys", "", "keys of the return page's token KID:secret,KID:secret, the first signs (default: the -secret-keys, under another HMAC input)")
	fs.StringVar(&s.backLinkHosts, "backlink-hosts", "", "hosts a merchant's backLink/failureBackLink may name, comma-separated: host, host:port or *.domain (default: the host of -public-url)")
	fs.IntVar(&c.ShopRate, "shop-rate", DefaultShopRate, "payments a minute the shop page's route creates at most (bursts of as many)")
	fs.StringVar(&s.workerKey, "worker-key", "", "key sent to -worker-url as Authorization: Bearer (default: none)")
}

func (s *securityFlags) apply(c *Config) error {
	if s.returnKeys != "" {
		kr, err := epay.ParseKeyring(s.returnKeys)
		if err != nil {
			return fmt.Errorf("%w: INITIATOR_RETURN_KEYS: %w", ErrConfig, err)
		}
		c.ReturnKeys = kr
	}
	for _, h := range strings.Split(s.backLinkHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.BackLinkHosts = append(c.BackLinkHosts, h)
		}
	}
	c.WorkerKey = epayapi.Secret(s.workerKey)
	return nil
}
