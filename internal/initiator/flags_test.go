package initiator

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
	"github.com/epayflow/epayflow/internal/epayapi"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// baseEnv is a sandbox environment the initiator takes. Its keys are the tests' own,
// published in the repository: EPAY_ENV=prod refuses them (withOwnKeys).
func baseEnv() map[string]string {
	return map[string]string{
		"PUBLIC_BASE_URL":    "https://ingest.example.kz",
		"INITIATOR_API_KEYS": testAPIKey + ", " + testShopKey,
		"EPAY_SECRET_KEYS":   "K:0123456789abcdef0123456789abcdef",
	}
}

// withOwnKeys replaces m's API keys (two, as baseEnv's) and signing key with keys made
// at run time, which EPAY_ENV=prod takes, and returns m.
func withOwnKeys(t *testing.T, m map[string]string) map[string]string {
	t.Helper()
	m["INITIATOR_API_KEYS"] = clitest.OwnSecret(t) + ", " + clitest.OwnSecret(t)
	m["EPAY_SECRET_KEYS"] = "K:" + clitest.OwnSecret(t)
	return m
}

func TestParseFlagsSandboxDefaults(t *testing.T) {
	cfg, err := parseFlags("initiator", nil, envOf(baseEnv()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := epayapi.Endpoints{TokenURL: "http://127.0.0.1:8090/oauth2/token", APIURL: "http://127.0.0.1:8090", PayformJSURL: "http://127.0.0.1:8090/payform/payment-api.js"}
	got := epayapi.Endpoints{TokenURL: cfg.EPay.TokenURL, APIURL: cfg.EPay.APIURL, PayformJSURL: cfg.PayformJSURL}
	if got != want {
		t.Fatalf("endpoints %+v", got)
	}
	if cfg.Addr != ":8080" || cfg.Shards != 16 || !cfg.Shop || cfg.ShopRate != DefaultShopRate || cfg.ReturnKeys != nil || cfg.BackLinkHosts != nil ||
		len(cfg.APIKeys) != 2 || cfg.EPay.ClientID != TestClientID || cfg.EPay.Terminal != TestTerminal || cfg.EPay.RequireTLS {
		t.Fatalf("config %+v", cfg)
	}
}

func TestParseFlagsFlagBeatsEnvironment(t *testing.T) {
	env := baseEnv()
	env["INITIATOR_ADDR"] = ":9000"
	env["EPAY_TOKEN_URL"] = "http://127.0.0.1:9999/token"
	cfg, err := parseFlags("initiator", []string{"-addr", ":9100", "-shop=false"}, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9100" || cfg.EPay.TokenURL != "http://127.0.0.1:9999/token" || cfg.Shop {
		t.Fatalf("config %+v", cfg)
	}
}

func TestParseFlagsRefusesBadConfigWithOneClearLine(t *testing.T) {
	prod := func(m map[string]string) map[string]string {
		m = withOwnKeys(t, m)
		m["EPAY_ENV"] = "prod"
		m["EPAY_CLIENT_ID"] = "merchant"
		m["EPAY_CLIENT_SECRET"] = "s3cr3t-value-not-to-print"
		m["EPAY_TERMINAL"] = "terminal-1"
		m["INITIATOR_PUBLIC_URL"] = "https://shop.example.kz"
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no public base URL", func() map[string]string { m := baseEnv(); delete(m, "PUBLIC_BASE_URL"); return m }(), "PUBLIC_BASE_URL is required"},
		{"no API keys", func() map[string]string { m := baseEnv(); delete(m, "INITIATOR_API_KEYS"); return m }(), "INITIATOR_API_KEYS is required"},
		{"short API key", func() map[string]string { m := baseEnv(); m["INITIATOR_API_KEYS"] = "short"; return m }(), "shorter than 16"},
		{"short operate key", func() map[string]string { m := baseEnv(); m["INITIATOR_OPERATE_KEYS"] = "short"; return m }(), "INITIATOR_OPERATE_KEYS entry 1 is shorter than 16"},
		{"prod with a public operate key", func() map[string]string {
			m := prod(baseEnv())
			m["EPAY_CLIENT_SECRET"] = clitest.OwnSecret(t)
			m["INITIATOR_OPERATE_KEYS"] = "dev-only-change-me-0123"
			return m
		}(), "INITIATOR_OPERATE_KEYS entry 1"},
		{"no signing keys", func() map[string]string { m := baseEnv(); delete(m, "EPAY_SECRET_KEYS"); return m }(), "EPAY_SECRET_KEYS is required"},
		{"unknown env", func() map[string]string { m := baseEnv(); m["EPAY_ENV"] = "staging"; return m }(), `EPAY_ENV "staging"`},
		{"prod without credentials", func() map[string]string { m := withOwnKeys(t, baseEnv()); m["EPAY_ENV"] = "prod"; return m }(), "EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL and INITIATOR_PUBLIC_URL are required"},
		{"prod with a plain-http token URL", func() map[string]string {
			m := prod(baseEnv())
			m["EPAY_TOKEN_URL"] = "http://epay-oauth.homebank.kz/oauth2/token"
			return m
		}(), "must be https"},
		{"prod with a plain-http public base URL", func() map[string]string {
			m := prod(baseEnv())
			m["PUBLIC_BASE_URL"] = "http://ingest.example.kz"
			return m
		}(), "PUBLIC_BASE_URL \"http://ingest.example.kz\" must be https"},
		{"prod with the devstack's public key", func() map[string]string {
			m := prod(baseEnv())
			m["EPAY_SECRET_KEYS"] = "D:dev-only-signing-key-do-not-use-in-prod"
			return m
		}(), "signing key is public"},
		{"prod with a documented example key second", func() map[string]string {
			m := prod(baseEnv())
			m["EPAY_SECRET_KEYS"] = "K:" + clitest.OwnSecret(t) + ",A:dev-only-change-me-0123"
			return m
		}(), `key "A" is a documented example`},
		{"empty signing keys", func() map[string]string { m := baseEnv(); m["EPAY_SECRET_KEYS"] = ""; return m }(), "EPAY_SECRET_KEYS is required"},
		{"prod without a public URL", func() map[string]string { m := prod(baseEnv()); delete(m, "INITIATOR_PUBLIC_URL"); return m }(), "INITIATOR_PUBLIC_URL is required (INITIATOR_PUBLIC_URL with EPAY_ENV=prod: the default backLinks point there)"},
		{"prod with a plain-http public URL", func() map[string]string {
			m := prod(baseEnv())
			m["INITIATOR_PUBLIC_URL"] = "http://shop.example.kz"
			return m
		}(), `INITIATOR_PUBLIC_URL "http://shop.example.kz" must be https`},
		{"negative shop rate", func() map[string]string { m := baseEnv(); m["INITIATOR_SHOP_RATE"] = "-1"; return m }(), "INITIATOR_SHOP_RATE -1"},
		{"a backLink host with a path", func() map[string]string {
			m := baseEnv()
			m["INITIATOR_BACKLINK_HOSTS"] = "shop.kz, evil.kz/x"
			return m
		}(), `INITIATOR_BACKLINK_HOSTS: backLink host "evil.kz/x": want a host name, host:port or *.domain`},
		{"a wildcard IP", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "*.10.0.0.1"; return m }(), "a wildcard needs a domain"},
		{"a wildcard of an IP's last labels", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "*.0.0.1"; return m }(), "a wildcard needs a domain"},
		{"a wildcard of hex labels", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "*.0.0x1"; return m }(), "a wildcard needs a domain"},
		{"a wildcard of one label", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "*.kz"; return m }(), "a wildcard needs a domain of two labels or more"},
		{"a wildcard of one label and empty ones", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "*.kz.."; return m }(),
			`backLink host "*.kz..": want a host name, host:port or *.domain`},
		{"a host with an empty label", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "shop..kz"; return m }(),
			`backLink host "shop..kz": want a host name, host:port or *.domain`},
		{"a label ending in a hyphen", func() map[string]string { m := baseEnv(); m["INITIATOR_BACKLINK_HOSTS"] = "*.shop-.kz"; return m }(),
			`backLink host "*.shop-.kz": want a host name, host:port or *.domain`},
		{"malformed return keys", func() map[string]string { m := baseEnv(); m["INITIATOR_RETURN_KEYS"] = "R:short"; return m }(), "INITIATOR_RETURN_KEYS"},
		{"prod with a public return key", func() map[string]string {
			m := prod(baseEnv())
			m["INITIATOR_RETURN_KEYS"] = "R:dev-only-signing-key-do-not-use-in-prod"
			return m
		}(), "INITIATOR_RETURN_KEYS with EPAY_ENV=prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags("initiator", nil, envOf(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "s3cr3t") ||
				strings.Contains(err.Error(), "do-not-use") || strings.Contains(err.Error(), "change-me") {
				t.Fatalf("err %q is not one clean line", err)
			}
		})
	}
}

func TestParseFlagsProdDefaultsToHTTPSAndNoShop(t *testing.T) {
	env := withOwnKeys(t, baseEnv())
	env["EPAY_ENV"], env["EPAY_CLIENT_ID"], env["EPAY_CLIENT_SECRET"], env["EPAY_TERMINAL"] = "prod", "m", clitest.OwnSecret(t), "t"
	env["INITIATOR_PUBLIC_URL"] = "https://shop.example.kz"
	cfg, err := parseFlags("initiator", nil, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Shop || !cfg.EPay.RequireTLS || !strings.HasPrefix(cfg.EPay.TokenURL, "https://epay-oauth.homebank.kz") {
		t.Fatalf("config %+v", cfg)
	}
}

func TestParseFlagsHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags("initiator", []string{"-h"}, envOf(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	for _, env := range envNames {
		if !strings.Contains(out.String(), "(env "+env+")") {
			t.Fatalf("usage lacks %s:\n%s", env, out.String())
		}
	}
}
