package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"testing"
)

var errTestConfig = errors.New("svc config")

func TestStatusMapsErrorsToExitCodesAndOneLine(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		line string
	}{
		{"clean stop", nil, ExitOK, ""},
		{"help", flag.ErrHelp, ExitOK, ""},
		{"wrapped help", fmt.Errorf("sub: %w", flag.ErrHelp), ExitOK, ""},
		{"bad config", fmt.Errorf("%w: -addr is empty", errTestConfig), ExitUsage, "svc: svc config: -addr is empty\n"},
		{"failure", errors.New("nats: connection refused"), ExitFailed, "svc: nats: connection refused\n"},
		{"already named", fmt.Errorf("svc: %w", errTestConfig), ExitUsage, "svc: svc config\n"},
		{"name only as a word", errors.New("svcx: boom"), ExitFailed, "svc: svcx: boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := Status(&stderr, "svc", tt.err, errTestConfig); code != tt.code || stderr.String() != tt.line {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, stderr.String(), tt.code, tt.line)
			}
		})
	}
}

func TestStatusTakesAnyOfTheUsageSentinels(t *testing.T) {
	errOther := errors.New("usage")
	var stderr bytes.Buffer
	if code := Status(&stderr, "svc", fmt.Errorf("%w: sign <terminal> <invoiceId>", errOther), errTestConfig, errOther); code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	if code := Status(&stderr, "svc", errOther); code != ExitFailed {
		t.Fatalf("without sentinels: exit %d, want %d", code, ExitFailed)
	}
}
