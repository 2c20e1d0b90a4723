package proctest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/proctest"
)

// The test binary is also the child process: with PROCTEST_CHILD set, TestMain runs
// child instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PROCTEST_CHILD"); mode != "" {
		child(mode, os.Args[1:])
		return
	}
	os.Exit(m.Run())
}

// child prints its arguments, PROCTEST_WORD and the size of its environment, then, by mode: "serve" listens on the
// port in PROCTEST_PORT until SIGTERM (printing "terminated"); "stubborn" also ignores
// SIGTERM; "exit" exits 3 at once; "chatty" prints 10 KiB of numbered lines and serves.
func child(mode string, args []string) {
	fmt.Printf("args=%q word=%s env=%d\n", args, os.Getenv("PROCTEST_WORD"), len(os.Environ()))
	term := make(chan os.Signal, 1)
	switch mode {
	case "exit":
		os.Exit(3)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM) // and term never fills
	case "chatty":
		for i := range 1000 {
			fmt.Printf("line %04d\n", i)
		}
	}
	if mode != "stubborn" {
		signal.Notify(term, syscall.SIGTERM)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PROCTEST_PORT"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	<-term
	fmt.Println("terminated")
	os.Exit(0)
}

// newChild is a Proc of this test binary in mode, serving on a free port (its address
// is returned), with args and PROCTEST_WORD in its environment.
func newChild(t *testing.T, mode string, args ...string) (*proctest.Proc, string) {
	t.Helper()
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &proctest.Proc{Name: "child-" + mode, Path: os.Args[0], Args: args,
		Env: []string{"PROCTEST_CHILD=" + mode, "PROCTEST_PORT=" + strconv.Itoa(port), "PROCTEST_WORD=kept"},
		Log: filepath.Join(t.TempDir(), mode+".log")}
	t.Cleanup(func() { p.Kill(5 * time.Second) })
	return p, "127.0.0.1:" + strconv.Itoa(port)
}

func mustStart(t *testing.T, p *proctest.Proc, addr string) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTCP(context.Background(), addr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestKilledProcessStartsAgainWithItsArgsEnvironmentAndLog(t *testing.T) {
	p, addr := newChild(t, "serve", "-a", "one two")
	mustStart(t, p, addr)
	first := p.Pid()
	if err := p.Kill(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Exited() || p.Pid() != 0 {
		t.Fatalf("after Kill: Exited %v, Pid %d; want a stopped process, not one that died", p.Exited(), p.Pid())
	}
	if err := p.WaitTCP(context.Background(), addr, 30*time.Second); !errors.Is(err, proctest.ErrExited) {
		t.Fatalf("wait on a killed process: %v, want ErrExited", err)
	}
	mustStart(t, p, addr)
	if p.Pid() == first || p.Pid() == 0 {
		t.Errorf("pid after the restart %d, before %d: want a new process", p.Pid(), first)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	want := "args=[\"-a\" \"one two\"] word=kept env=3\n" // its three variables, none of the test's
	if n := strings.Count(string(log), want); n != 2 {
		t.Errorf("log has %d lines %q, want one per start:\n%s", n, want, log)
	}
	if n := strings.Count(string(log), "---- child-serve start "); n != 2 {
		t.Errorf("log has %d start lines, want 2:\n%s", n, log)
	}
	if n := strings.Count(string(log), "terminated"); n != 1 {
		t.Errorf("log has %d lines \"terminated\", want 1 (SIGKILL cannot be seen, SIGTERM can):\n%s", n, log)
	}
}

func TestFirstStartTruncatesTheLog(t *testing.T) {
	p, addr := newChild(t, "serve")
	if err := os.WriteFile(p.Log, []byte("an older run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustStart(t, p, addr)
	if out := p.Output(); strings.Contains(out, "an older run") || !strings.Contains(out, "word=kept") {
		t.Errorf("log after the first start:\n%s\nwant only this run", out)
	}
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	p, addr := newChild(t, "stubborn")
	mustStart(t, p, addr)
	err := p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop = %v, want an error saying it was killed", err)
	}
	if p.Pid() != 0 {
		t.Error("still running after Stop")
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start after a forced stop: %v", err)
	}
}

func TestStartRefusesARunningProcess(t *testing.T) {
	p, addr := newChild(t, "serve")
	mustStart(t, p, addr)
	if err := p.Start(); err == nil {
		t.Fatal("a second Start of a running process succeeded")
	}
}

func TestAProcessThatExitsEndsTheWaitAndIsExited(t *testing.T) {
	p, addr := newChild(t, "exit")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	err := p.WaitHTTP(context.Background(), "http://"+addr+"/", time.Minute)
	if !errors.Is(err, proctest.ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("WaitHTTP = %v, want ErrExited with the exit status", err)
	}
	if !p.Exited() {
		t.Error("Exited is false for a process that ended on its own")
	}
	if err := p.Stop(time.Second); err != nil || p.Exited() {
		t.Errorf("Stop of an exited process: %v, Exited %v; want nil, false", err, p.Exited())
	}
}

func TestWaitsEndAtTheirDeadline(t *testing.T) {
	p, addr := newChild(t, "serve")
	mustStart(t, p, addr)
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unready.Close()
	err := p.WaitHTTP(context.Background(), unready.URL, 100*time.Millisecond)
	if err == nil || errors.Is(err, proctest.ErrExited) || !strings.Contains(err.Error(), "not ready within") {
		t.Errorf("WaitHTTP on a 503: %v, want a deadline error", err)
	}
	if err := p.WaitHTTP(context.Background(), "http://"+addr+"/", 30*time.Second); err != nil {
		t.Errorf("WaitHTTP on the child: %v", err)
	}
	closed, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitTCP(context.Background(), "127.0.0.1:"+strconv.Itoa(closed), 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not accepting connections within") {
		t.Errorf("WaitTCP on a closed port: %v, want a deadline error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitTCP(ctx, "127.0.0.1:"+strconv.Itoa(closed), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitTCP with an ended context: %v, want context.Canceled", err)
	}
}

func TestOutputIsTheTailOfTheLog(t *testing.T) {
	p, addr := newChild(t, "chatty")
	mustStart(t, p, addr)
	out := p.Output()
	if len(out) != 4096 || !strings.HasSuffix(out, "line 0999\n") {
		t.Errorf("Output: %d bytes ending %q, want the last 4096 bytes of the log", len(out), out[max(0, len(out)-20):])
	}
}

func TestPeakRSSOfARunningProcess(t *testing.T) {
	p, addr := newChild(t, "serve")
	if _, err := p.PeakRSS(); !errors.Is(err, proctest.ErrExited) {
		t.Errorf("PeakRSS before Start: %v, want ErrExited", err)
	}
	mustStart(t, p, addr)
	rss, err := p.PeakRSS()
	if err != nil || rss < 1<<20 {
		t.Errorf("PeakRSS = %d, %v; want at least a MiB", rss, err)
	}
}
