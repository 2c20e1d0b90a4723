//go:build !crashtest

package worker

import (
	"log/slog"

	"github.com/nats-io/nats.go"
)

// crashHook is nil: the points of the handler where a crash test kills the worker
// (crashAt) do nothing. Only a binary built with the crashtest tag (crashpoint_crashtest.go,
// the crash tests' build) has a hook there; no setting turns it on in this one.
func crashHook(*nats.Conn, *slog.Logger) func(point, msgID string) { return nil }
