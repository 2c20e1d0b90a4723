//go:build crashtest

package worker

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// CrashAtEnv names the crash tests' setting, EPAYFLOW_CRASH_AT=point:n: the n-th message
// to reach point (crashAt: "recorded", "committed" or "published") SIGKILLs the worker
// there. It exists only in a binary built with the crashtest tag.
const CrashAtEnv = "EPAYFLOW_CRASH_AT"

// crashHook, in the crash tests' build, is the hook EPAYFLOW_CRASH_AT asks for (nil when
// it is unset). Before the SIGKILL it flushes the connection (bounded): what the worker
// sent before that point (an ack among others) is with NATS, so the test is about the
// order of the worker's steps, not about a TCP buffer lost with the process.
func crashHook(nc *nats.Conn, log *slog.Logger) func(point, msgID string) {
	spec := os.Getenv(CrashAtEnv)
	if spec == "" {
		return nil
	}
	want, count, ok := strings.Cut(spec, ":")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		log.Error("ignored: want point:n", "env", CrashAtEnv, "value", spec)
		return nil
	}
	var reached atomic.Int64
	return func(point, msgID string) {
		if point != want || reached.Add(1) != int64(n) {
			return
		}
		_ = nc.FlushTimeout(2 * time.Second)
		fmt.Fprintf(os.Stderr, "crashtest: SIGKILL at %s of message %s\n", point, msgID)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal ends the process
	}
}
