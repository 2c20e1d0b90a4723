package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBadConfigExitsTwoWithOneLine(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), nil, func(string) string { return "" }, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if got := stderr.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "initiator: invalid config: ") {
		t.Fatalf("stderr %q, want one line", got)
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stderr); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
}

func TestBadLogFormatExitsTwo(t *testing.T) {
	env := map[string]string{
		"PUBLIC_BASE_URL": "https://ingest.example.kz", "INITIATOR_API_KEYS": "merchant-key-0123456789",
		"EPAY_SECRET_KEYS": "K:0123456789abcdef0123456789abcdef", "LOG_FORMAT": "xml",
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), nil, func(k string) string { return env[k] }, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2 (%s)", code, stderr.String())
	}
}
