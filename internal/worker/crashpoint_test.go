//go:build !crashtest

package worker

import (
	"log/slog"
	"testing"
)

// The hook exists only in the crash tests' build: in this one (and production's) no
// setting turns it on.
func TestTheCrashHookIsOffWithoutTheCrashtestTag(t *testing.T) {
	t.Setenv("EPAYFLOW_CRASH_AT", "committed:1")
	if crashHook(nil, slog.New(slog.DiscardHandler)) != nil {
		t.Fatal("EPAYFLOW_CRASH_AT set a crash hook in a build without the crashtest tag")
	}
}
