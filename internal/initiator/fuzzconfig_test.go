package initiator

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseFlags feeds random values to the initiator's variables: parsing never
// panics, and every error is one line.
func FuzzParseFlags(f *testing.F) {
	f.Add("prod", "https://ingest.example.kz", "merchant-key-0123456789", "K:0123456789abcdef0123456789abcdef", "8")
	f.Add("sandbox", "::", "short", "D:dev-only-signing-key-do-not-use-in-prod", "x")
	f.Add("test", "http://a", "", "", "-1\n")
	f.Fuzz(func(t *testing.T, env, url, apiKeys, secretKeys, num string) {
		vals := map[string]string{"EPAY_ENV": env, "PUBLIC_BASE_URL": url, "EPAY_TOKEN_URL": url, "EPAY_API_URL": url,
			"INITIATOR_API_KEYS": apiKeys, "EPAY_SECRET_KEYS": secretKeys, "EPAY_SHARDS": num, "INITIATOR_SHOP": env,
			"NATS_STREAM_REPLICAS": num, "EPAY_TIMEOUT": num, "EPAY_CLIENT_SECRET": apiKeys}
		_, err := parseFlags("initiator", nil, func(k string) string { return vals[k] }, &bytes.Buffer{})
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %q is not one line", err)
		}
	})
}
