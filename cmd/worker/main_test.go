package main

import (
	"context"
	"testing"
)

func TestExitCodes(t *testing.T) {
	tests := map[string]struct {
		args []string
		want int
	}{
		"help":              {[]string{"-h"}, 0},
		"bad flag":          {[]string{"-shards", "zero"}, 2},
		"bad shard list":    {[]string{"-own-shards", "9"}, 2},
		"dlq without verb":  {[]string{"dlq"}, 2},
		"dlq bad seq":       {[]string{"dlq", "-nats-url", "nats://127.0.0.1:1", "show", "x"}, 2},
		"compact extra":     {[]string{"compact", "now"}, 2},
		"compact help":      {[]string{"compact", "-h"}, 0},
		"compact no file":   {[]string{"compact", "-db", "/nonexistent/worker.db"}, 2},
		"streams help":      {[]string{"streams", "-h"}, 0},
		"streams extra":     {[]string{"streams", "now"}, 2},
		"streams bad lease": {[]string{"streams", "-shard-lease", "1s"}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := run(context.Background(), tc.args); got != tc.want {
				t.Fatalf("exit %d, want %d", got, tc.want)
			}
		})
	}
}
