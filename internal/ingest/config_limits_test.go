package ingest

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/inbox"
)

// Validate takes each limit itself and refuses the value just past it (TestConfig's
// table has the refusals of flags and variables; these are the edges).
func TestConfigValidateTakesEachLimitAndRefusesJustBeyond(t *testing.T) {
	keys := "A:" + clitest.OwnSecret(t)
	base, err := ParseFlagsTo("ingest", nil, func(k string) string {
		if k == "EPAY_SECRET_KEYS" {
			return keys
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := "cert.pem", "key.pem" // never read: Validate only pairs them
	cases := []struct {
		name string
		set  func(*Config)
		err  string // "" for valid
	}{
		{"1 shard", func(c *Config) { c.Shards = 1 }, ""},
		{"the most shards", func(c *Config) { c.Shards = inbox.MaxShards }, ""},
		{"no shard", func(c *Config) { c.Shards = 0 }, "-shards"},
		{"a shard too many", func(c *Config) { c.Shards = inbox.MaxShards + 1 }, "-shards"},
		{"the longest publish timeout", func(c *Config) { c.PublishTimeout = MaxPublishTimeout }, ""},
		{"the shortest publish timeout", func(c *Config) { c.PublishTimeout = 1 }, ""},
		{"a publish timeout too long", func(c *Config) { c.PublishTimeout = MaxPublishTimeout + 1 }, "-publish-timeout"},
		{"no publish timeout", func(c *Config) { c.PublishTimeout = 0 }, "-publish-timeout"},
		{"a negative publish timeout", func(c *Config) { c.PublishTimeout = -time.Second }, "-publish-timeout"},
		{"no rate limit, no burst, no sources", func(c *Config) { c.RateLimit, c.RateBurst, c.RateMaxSources = 0, 0, 0 }, ""},
		{"the least rate limit", func(c *Config) { c.RateLimit, c.RateBurst, c.RateMaxSources = math.SmallestNonzeroFloat64, 1, 1 }, ""},
		{"a rate limit without burst", func(c *Config) { c.RateLimit, c.RateBurst = 1, 0 }, "-rate-burst"},
		{"a rate limit without sources", func(c *Config) { c.RateLimit, c.RateBurst, c.RateMaxSources = 1, 1, 0 }, "rate limiter sources"},
		{"an infinite rate limit", func(c *Config) { c.RateLimit = math.Inf(1) }, "-rate-limit"},
		{"a negative rate limit", func(c *Config) { c.RateLimit = -math.SmallestNonzeroFloat64 }, "-rate-limit"},
		{"TLS cert and key", func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile }, ""},
		{"a TLS key alone", func(c *Config) { c.TLSKey = keyFile }, "go together"},
		{"no read timeouts", func(c *Config) { c.HTTP.ReadHeader, c.HTTP.Read = 0, 0 }, ""},
		{"a negative read header timeout", func(c *Config) { c.HTTP.ReadHeader = -1 }, "must not be negative"},
		{"a negative read timeout", func(c *Config) { c.HTTP.Read = -1 }, "must not be negative"},
		{"no invoice budget", func(c *Config) { c.InvoiceBudget = 0 }, ""},
		{"the least invoice budget", func(c *Config) { c.InvoiceBudget = MaxBodyBytes }, ""},
		{"an invoice budget under one callback", func(c *Config) { c.InvoiceBudget = MaxBodyBytes - 1 }, "-invoice-budget"},
		{"a negative invoice budget", func(c *Config) { c.InvoiceBudget = -1 }, "-invoice-budget"},
	}
	if base.InvoiceBudget != DefaultInvoiceBudget {
		t.Errorf("the default invoice budget is %d, want %d: on unless turned off", base.InvoiceBudget, DefaultInvoiceBudget)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want ErrConfig naming %q", err, tc.err)
			}
		})
	}
}
