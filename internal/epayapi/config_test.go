package epayapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

func validConfig() Config {
	return Config{
		TokenURL: "https://epay-oauth.homebank.kz/oauth2/token", APIURL: "https://epay-api.homebank.kz",
		ClientID: testClientID, ClientSecret: testSecret, Terminal: testTerminal,
	}
}

func TestConfigValidateNamesTheProblemWithoutTheSecret(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"missing token URL", func(c *Config) { c.TokenURL = "" }, "token URL is required"},
		{"relative API URL", func(c *Config) { c.APIURL = "/api" }, "not an absolute http(s) URL"},
		{"credentials in a URL", func(c *Config) { c.TokenURL = "https://u:p@host/t" }, "must not carry credentials"},
		{"plain http when TLS is required", func(c *Config) { c.RequireTLS = true; c.APIURL = "http://epay-api.homebank.kz" }, "must be https"},
		{"missing client id", func(c *Config) { c.ClientID = "" }, "client id is required"},
		{"missing secret", func(c *Config) { c.ClientSecret = "" }, "client secret is required"},
		{"missing terminal", func(c *Config) { c.Terminal = "" }, "terminal is required"},
		{"too many attempts", func(c *Config) { c.MaxAttempts = 11; c.ClientSecret = testSecret }, "max attempts"},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, "max attempts -1: want 1 to 10"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout -1s is negative"},
		{"negative backoff", func(c *Config) { c.BackoffBase = -time.Millisecond }, "backoff -1ms is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("the secret is in the error")
			}
		})
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	// the limits themselves are taken
	for _, edge := range []func(*Config){
		func(c *Config) { c.MaxAttempts = 1 }, func(c *Config) { c.MaxAttempts = 10 },
		func(c *Config) { c.Timeout = 0 }, func(c *Config) { c.BackoffBase = 0 },
	} {
		cfg := validConfig()
		edge(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("a config at a limit refused: %v", err)
		}
	}
}

func TestSecretPrintsRedacted(t *testing.T) {
	cfg := validConfig()
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.ClientSecret)} {
		if strings.Contains(s, testSecret) || !strings.Contains(s, "[REDACTED]") {
			t.Fatalf("printed %q", s)
		}
	}
}

func TestPresetsPointAtTheSandboxOrEPayHosts(t *testing.T) {
	tests := []struct {
		env  string
		want Endpoints
	}{
		{epay.EnvSandbox, Endpoints{"http://127.0.0.1:8090/oauth2/token", "http://127.0.0.1:8090", "http://127.0.0.1:8090/payform/payment-api.js"}},
		{epay.EnvTest, Endpoints{"https://testoauth.homebank.kz/epay2/oauth2/token", "https://testepay.homebank.kz/api", "https://test-epay.homebank.kz/redesign-payform/payment-api.js"}},
		{epay.EnvProd, Endpoints{"https://epay-oauth.homebank.kz/oauth2/token", "https://epay-api.homebank.kz", "https://epay.homebank.kz/redesign-payform/payment-api.js"}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			got, err := Preset(tt.env)
			if err != nil || got != tt.want {
				t.Fatalf("Preset(%q) = %+v, %v", tt.env, got, err)
			}
		})
	}
	if _, err := Preset("staging"); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown env: %v", err)
	}
}
