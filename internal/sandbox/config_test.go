package sandbox_test

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/sandbox"
)

func TestParseFlagsDefaultsAreThePublishedTestCredentials(t *testing.T) {
	c, err := sandbox.ParseFlags("sandbox", nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8090" || c.ClientID != "test" || c.ClientSecret != sandbox.TestClientSecret ||
		len(c.Terminals) != 1 || c.Terminals[0] != sandbox.TestTerminal || c.ExpiresIn != 1200*time.Second ||
		c.TwoStep || c.DeclineCode != 484 || c.CallbackAttempts != 8 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestParseFlagsEnvAndFlags(t *testing.T) {
	env := map[string]string{"SANDBOX_ADDR": "127.0.0.1:0", "SANDBOX_TWO_STEP": "true", "SANDBOX_TERMINALS": "a, b", "SANDBOX_EXPIRES_IN": "60"}
	c, err := sandbox.ParseFlags("sandbox", []string{"-expires-in", "90", "-expires-in-string"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:0" || !c.TwoStep || strings.Join(c.Terminals, "|") != "a|b" || c.ExpiresIn != 90*time.Second || !c.ExpiresInString {
		t.Errorf("config = %+v", c)
	}
}

func TestParseFlagsRefusesBadValues(t *testing.T) {
	cases := map[string][]string{
		"zero lifetime":       {"-expires-in", "0"},
		"no attempts":         {"-callback-attempts", "0"},
		"backoff above max":   {"-callback-backoff", "1m", "-callback-max-backoff", "1s"},
		"decline code 0":      {"-decline-code", "0"},
		"not a number":        {"-expires-in", "soon"},
		"stray argument":      {"serve"},
		"empty terminal list": {"-terminals", " , "},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := sandbox.ParseFlags("sandbox", args, func(string) string { return "" }); !errors.Is(err, sandbox.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := sandbox.ParseFlags("sandbox", []string{"-h"}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestZeroConfigIsValid(t *testing.T) {
	if err := (sandbox.Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{}, nil)
	if err != nil {
		t.Fatalf("New with the zero config and no logger: %v", err)
	}
	sb.Close()
}
