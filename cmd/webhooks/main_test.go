package main

import (
	"context"
	"io"
	"testing"
)

func TestExitCodes(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := map[string]struct {
		args []string
		env  map[string]string
		want int
	}{
		"help":             {[]string{"-h"}, nil, 0},
		"no API keys":      {nil, nil, 2},
		"short API key":    {[]string{"-api-keys", "short"}, nil, 2},
		"bad allow list":   {[]string{"-api-keys", "0123456789abcdef", "-addr", "127.0.0.1:0", "-allow-private", "10.0.0.0/33"}, nil, 2},
		"bad allow by env": {[]string{"-api-keys", "0123456789abcdef", "-addr", "127.0.0.1:0"}, map[string]string{"WEBHOOKS_ALLOW_PRIVATE": "nope"}, 2},
		"stray argument":   {[]string{"-api-keys", "0123456789abcdef", "extra"}, nil, 2},
	}
	// Cancelled: a configuration that passed would not wait for a NATS server.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := service.Main(ctx, tc.args, env(tc.env), io.Discard); got != tc.want {
				t.Fatalf("exit %d, want %d", got, tc.want)
			}
		})
	}
}
