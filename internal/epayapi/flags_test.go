package epayapi

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func parseFlags(t *testing.T, args ...string) Flags {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFlagsConfig(t *testing.T) {
	f := parseFlags(t)
	if f.Configured() {
		t.Error("the default sandbox without a URL is configured")
	}
	c, err := parseFlags(t, "-epay-api-url", "http://127.0.0.1:9/api").Config()
	if err != nil || c.ClientID != TestClientID || c.ClientSecret != TestClientSecret || c.Terminal != TestTerminal ||
		c.TokenURL != SandboxBaseURL+"/oauth2/token" || c.RequireTLS {
		t.Errorf("sandbox with a URL: %+v %v", c, err)
	}
	// A secret of one's own, made here: every literal in the repository is public and refused in prod.
	c, err = parseFlags(t, "-epay-env", "prod", "-epay-client-id", "shop", "-epay-client-secret", ownSecret(t), "-epay-terminal", "t1").Config()
	if err != nil || !c.RequireTLS || !strings.HasPrefix(c.APIURL, "https://") {
		t.Errorf("prod: %+v %v", c, err)
	}
	bad := map[string][]string{
		"prod without credentials": {"-epay-env", "prod"},
		"prod with a plain-http API": {"-epay-env", "prod", "-epay-client-id", "shop", "-epay-client-secret", "SECRETVALUE",
			"-epay-terminal", "t1", "-epay-api-url", "http://epay.example/api"},
		"prod with a plain-http token URL": {"-epay-env", "prod", "-epay-client-id", "shop", "-epay-client-secret", "SECRETVALUE",
			"-epay-terminal", "t1", "-epay-token-url", "http://epay.example/token"},
		"unknown env":   {"-epay-env", "staging"},
		"not a URL":     {"-epay-api-url", "::"},
		"URL with user": {"-epay-api-url", "https://u:SECRETVALUE@epay.example"},
	}
	for name, args := range bad {
		_, err := parseFlags(t, args...).Config()
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line ErrConfig without the secret", name, err)
		}
	}
}
