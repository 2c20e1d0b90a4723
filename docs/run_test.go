package docs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// How a run block runs: bash -euo pipefail with the block as its script, in the
// temporary copy of the repository (so what it writes, such as deploy/compose/.env,
// never lands in the work tree), with its own TMPDIR, the process environment minus the
// project's variables (a developer's EPAY_SECRET_KEYS must not change a command's
// meaning), GOFLAGS=-trimpath (go run in the copy reuses the build cache of every other
// copy), the marker's env and, for a stack block, the stack's (stackEnv). Local
// addresses are rewritten first (rewriteAddrs).
type blockRun struct {
	Dir     string // where it runs
	Script  string
	Env     []string
	Timeout time.Duration
	Until   string
}

// projectVars are the prefixes of the variables the services and scripts read.
var projectVars = []string{"EPAY_", "NATS_", "INGEST_", "INITIATOR_", "WORKER_", "SANDBOX_", "DEVSTACK_",
	"TRIGGER_", "DLQ_", "PUBLIC_BASE_URL", "CHAOS", "LOG_", "GOFLAGS"}

func baseEnv(tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		drop := false
		for _, p := range projectVars {
			drop = drop || strings.HasPrefix(kv, p)
		}
		if !drop && !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}
	flags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -trimpath")
	return append(env, "TMPDIR="+tmp, "GOFLAGS="+flags)
}

// output is a command's stdout and stderr as they come, safe to read while it runs.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // signalled on each write
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// run runs the script to its end, or with Until until its output holds Until; then it
// interrupts the process group (what Ctrl-C does) and waits for it to end. The output is
// returned in every case; the error says what went wrong.
func (r blockRun) run() (string, error) {
	out := &output{more: make(chan struct{}, 1)}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", r.Script)
	cmd.Dir, cmd.Env = r.Dir, r.Env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Whatever happens, no process of the block outlives it: its group is killed.
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	for {
		if r.Until != "" && strings.Contains(out.String(), r.Until) {
			return out.String(), stopGroup(cmd.Process.Pid, done)
		}
		select {
		case err := <-done:
			switch {
			case err != nil:
				return out.String(), fmt.Errorf("exit: %w", err)
			case r.Until != "":
				return out.String(), fmt.Errorf("it ended before its output said %q", r.Until)
			}
			return out.String(), nil
		case <-out.more:
		case <-ctx.Done():
			if r.Until != "" {
				return out.String(), fmt.Errorf("its output did not say %q within %v", r.Until, r.Timeout)
			}
			return out.String(), fmt.Errorf("not done within %v", r.Timeout)
		}
	}
}

// stopGroup interrupts a long-running command as Ctrl-C would and waits for it; it must
// stop within 30s (its exit status is whatever an interrupt gives: make says Error 130).
func stopGroup(pid int, done <-chan error) error {
	if err := syscall.Kill(-pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("it did not stop within 30s of an interrupt")
	}
}
