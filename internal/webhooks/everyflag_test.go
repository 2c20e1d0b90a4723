package webhooks

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/cli/clitest"
)

// Each flag can be set from the environment, as a deployment does, and -h shows it.
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, _, err := ParseCommand("webhooks", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	clitest.EveryFlagHasAVariable(t, usage.String(), envNames, 14)
}

// WEBHOOKS_RETRY_SCHEDULE replaces the schedule; nonsense is a configuration error.
func TestRetryScheduleFromTheEnvironment(t *testing.T) {
	env := map[string]string{"WEBHOOKS_API_KEYS": "0123456789abcdef", "WEBHOOKS_RETRY_SCHEDULE": "1s, 2s,90m"}
	cfg, _, err := ParseCommand("webhooks", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || !slices.Equal(cfg.Schedule, []time.Duration{time.Second, 2 * time.Second, 90 * time.Minute}) {
		t.Fatalf("schedule %v, err %v", cfg.Schedule, err)
	}
	for _, bad := range []string{"soon", "1s,-2s", "0s"} {
		env["WEBHOOKS_RETRY_SCHEDULE"] = bad
		if _, _, err := ParseCommand("webhooks", nil, func(k string) string { return env[k] }, io.Discard); !errors.Is(err, ErrConfig) ||
			!strings.Contains(err.Error(), "WEBHOOKS_RETRY_SCHEDULE") {
			t.Errorf("%q: err %v, want a configuration error naming WEBHOOKS_RETRY_SCHEDULE", bad, err)
		}
	}
	delete(env, "WEBHOOKS_RETRY_SCHEDULE")
	if cfg, _, err := ParseCommand("webhooks", nil, func(k string) string { return env[k] }, io.Discard); err != nil || cfg.Schedule != nil {
		t.Errorf("unset: schedule %v (want nil: the default), err %v", cfg.Schedule, err)
	}
}
