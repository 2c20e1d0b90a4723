package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// binaries are the programs the chaos test runs.
type binaries struct{ NATS, Ingest, Worker string }

// buildBinaries builds nats-server from the pinned module and the ingest and the worker
// from this repository into dir. goTool is the go command (GO in the Makefile).
func buildBinaries(ctx context.Context, goTool, dir string) (binaries, error) {
	b := binaries{NATS: filepath.Join(dir, "nats-server"), Ingest: filepath.Join(dir, "ingest"), Worker: filepath.Join(dir, "worker")}
	builds := [][]string{
		{"build", "-o", b.NATS, "github.com/nats-io/nats-server/v2"},
		{"build", "-o", dir + string(filepath.Separator), "github.com/epayflow/epayflow/cmd/ingest", "github.com/epayflow/epayflow/cmd/worker"},
	}
	for _, args := range builds {
		cmd := exec.CommandContext(ctx, goTool, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("%s %v: %w\n%s", goTool, args, err, out)
		}
	}
	return b, nil
}

// proc is one service process that the test starts, kills and starts again with the
// same arguments, environment and log file.
type proc struct {
	name string
	path string
	args []string
	env  []string
	log  string // stdout and stderr, appended across restarts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
}

// start starts the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "---- %s start %s\n", p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// stop sends sig and waits (bounded) until the process is gone. Stopping a process
// that is not running is a no-op.
func (p *proc) stop(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) did not exit", p.name, p.cmd.Process.Pid)
		}
		p.cmd = nil
		return fmt.Errorf("%s did not stop on %v within %s; killed", p.name, sig, wait)
	}
	p.cmd = nil
	return nil
}

// exited reports whether the process ended on its own (it should not).
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freePort returns a loopback port free at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200 or timeout passes.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within %s", url, timeout)
}

// waitTCP polls addr until it accepts a connection or timeout passes.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New(addr + " does not accept connections")
}
