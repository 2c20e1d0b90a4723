package proctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrExited is wrapped by the errors of the waits when the process ended on its own (or
// was not running): waiting longer would not help.
var ErrExited = errors.New("process not running")

// Proc is one child process that can be stopped or killed and started again with the
// same command line, environment and log file, as a service restarts after a crash. Set
// the fields, then call Start; do not change them while it runs.
type Proc struct {
	Name string   // in errors and in the log's start lines
	Path string   // the executable
	Args []string // its arguments
	Env  []string // its whole environment, nothing of this process's unless given
	// Log receives stdout and stderr, written by the child itself (a pipe would make
	// this process copy every line, on the cores the services need). The first Start
	// truncates it, a restart appends; each start writes a line that marks it.
	Log string

	mu      sync.Mutex
	started bool
	run     *run // nil when not running (never started, or stopped)
}

// run is one start of a Proc.
type run struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
	err  error         // cmd.Wait's answer, set before done is closed
}

// exited reports whether the run's process has ended.
func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Start starts the process. It fails when the process is running already.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil {
		return fmt.Errorf("%s is already running", p.Name)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !p.started {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(p.Log, flags, 0o600)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	defer f.Close() // the child has its own descriptor
	fmt.Fprintf(f, "---- %s start %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = append([]string{}, p.Env...), f, f // never nil: nil would inherit
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	p.started, p.run = true, r
	return nil
}

// Stop sends SIGTERM and waits up to wait for the process to end; then it kills it
// (SIGKILL) and says so in the error. Stopping a process that is not running does nothing.
func (p *Proc) Stop(wait time.Duration) error { return p.signal(syscall.SIGTERM, wait) }

// Kill sends SIGKILL, a crash the process cannot see coming, and waits up to wait for
// it to be gone. Killing a process that is not running does nothing.
func (p *Proc) Kill(wait time.Duration) error { return p.signal(syscall.SIGKILL, wait) }

func (p *Proc) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.run
	if r == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(sig) // fails only when it is gone already
	select {
	case <-r.done:
	case <-time.After(wait):
		_ = r.cmd.Process.Kill()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) did not exit", p.Name, r.cmd.Process.Pid)
		}
		p.run = nil
		return fmt.Errorf("%s did not stop on %v within %s; killed", p.Name, sig, wait)
	}
	p.run = nil
	return nil
}

// Wait waits up to timeout for the process to end on its own (a command run to its end,
// such as a pod's init container) and returns how: nil for exit status 0, else the
// error of its exit with the end of its log. Past timeout it kills the process and says
// so.
func (p *Proc) Wait(timeout time.Duration) error {
	r := p.current()
	if r == nil {
		return fmt.Errorf("%s: %w", p.Name, ErrExited)
	}
	select {
	case <-r.done:
	case <-time.After(timeout):
		_ = p.Kill(5 * time.Second)
		return fmt.Errorf("%s did not end within %s; killed\n%s", p.Name, timeout, p.Output())
	}
	p.mu.Lock()
	p.run = nil
	p.mu.Unlock()
	if r.err != nil {
		return fmt.Errorf("%s: %v\n%s", p.Name, r.err, p.Output())
	}
	return nil
}

// Exited reports whether the process ended on its own: started, not stopped, gone.
func (p *Proc) Exited() bool {
	r := p.current()
	return r != nil && r.exited()
}

// current is the process's run; nil when it is not running.
func (p *Proc) current() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run
}

// Pid is the process id; 0 when it is not running.
func (p *Proc) Pid() int {
	if r := p.current(); r != nil {
		return r.cmd.Process.Pid
	}
	return 0
}

// Output is the tail (4 KiB) of the log.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b[max(0, len(b)-4096):])
}

// PeakRSS is the high-water resident set (VmHWM) of the running process, in bytes.
func (p *Proc) PeakRSS() (int64, error) {
	pid := p.Pid()
	if pid == 0 {
		return 0, fmt.Errorf("%s: %w", p.Name, ErrExited)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// exitError is the error of a wait that found r over (nil: not running).
func (p *Proc) exitError(r *run) error {
	if r == nil {
		return fmt.Errorf("%s: %w", p.Name, ErrExited)
	}
	return fmt.Errorf("%s: %w: %v\n%s", p.Name, ErrExited, r.err, p.Output())
}
