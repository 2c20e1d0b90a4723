package ingest

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// FuzzParseFlags feeds random values to every variable of the ingest: parsing never
// panics, and every error is one line wrapping ErrConfig.
func FuzzParseFlags(f *testing.F) {
	f.Add("A:a-key-of-at-least-16-bytes", "8", "10.0.0.0/8", "5", "prod")
	f.Add("", "0", "garbage/33", "-1", "")
	f.Add("A:dev-only-change-me-0123", "1e3", "::1,192.0.2.1", "NaN", "prod\n")
	f.Fuzz(func(t *testing.T, keys, num, cidrs, rate, env string) {
		vals := map[string]string{"EPAY_SECRET_KEYS": keys, "EPAY_SHARDS": num, "INGEST_ALLOW_CIDRS": cidrs,
			"INGEST_TRUSTED_PROXIES": cidrs, "INGEST_RATE_LIMIT": rate, "INGEST_RATE_BURST": num, "EPAY_ENV": env,
			"INGEST_PUBLISH_TIMEOUT": rate, "INGEST_READ_TIMEOUT": num, "EPAY_SECRET_HASH_POLICY": env, "LOG_LEVEL": env}
		_, err := ParseFlagsTo("ingest", nil, func(k string) string { return vals[k] }, io.Discard)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return
		}
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %q: want one line wrapping ErrConfig", err)
		}
	})
}
