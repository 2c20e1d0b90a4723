package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/logging/logtest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// takenAddr is an address another listener holds until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestTriggerSubcommandPrintsOneLinePerPostAndASummary(t *testing.T) {
	var posts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts++
		w.Write([]byte("OK"))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"trigger", "-url", srv.URL, "-invoice", "123456789", "-duplicates", "2", "-out-of-order"},
		env(map[string]string{"EPAY_SECRET_KEYS": "A:dev-only-0123456789abcdef"}), &out, &errOut)
	if code != 0 || posts != 4 {
		t.Fatalf("exit %d after %d POSTs, want 0 after 4; stdout:\n%s\nstderr:\n%s", code, posts, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "failure") || !strings.Contains(lines[3], "success") || !strings.Contains(lines[4], "4 as expected, 0 unexpected") {
		t.Fatalf("report:\n%s", out.String())
	}
}

func TestTriggerExitsNonZeroWhenA200IsMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var out bytes.Buffer
	code := run(context.Background(), []string{"trigger", "-url", srv.URL}, env(map[string]string{"EPAY_SECRET_KEYS": "A:dev-only-0123456789abcdef"}), &out, io.Discard)
	if code != 1 || !strings.Contains(out.String(), "UNEXPECTED") {
		t.Fatalf("exit %d, report:\n%s", code, out.String())
	}
}

func TestUsageAndBadConfig(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		line string
	}{
		{"help", []string{"-h"}, nil, 0, "Subcommands (each has its own -h):\n  epay-sandbox serve [flags]\n"},
		{"help word", []string{"help"}, nil, 0, "\n  epay-sandbox trigger [-url URL]"},
		{"stray argument", []string{"trigger-it"}, nil, 2, `unexpected argument "trigger-it": the subcommands are serve and trigger`},
		{"taken address", nil, map[string]string{"SANDBOX_ADDR": takenAddr(t)}, 2, "-addr (SANDBOX_ADDR): 127.0.0.1:"},
		{"bad address", nil, map[string]string{"SANDBOX_ADDR": "localhost:http"}, 2, `-addr (SANDBOX_ADDR) "localhost:http": the port "http" is not a number`},
		{"trigger help", []string{"trigger", "-h"}, nil, 0, ""},
		{"bad flag value", []string{"serve", "-expires-in", "0"}, nil, 2, "epay-sandbox: invalid sandbox config"},
		{"bad env value", nil, map[string]string{"SANDBOX_TWO_STEP": "maybe"}, 2, "SANDBOX_TWO_STEP"},
		{"trigger without keys", []string{"trigger"}, nil, 2, "EPAY_SECRET_KEYS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var errOut bytes.Buffer
			if code := run(context.Background(), c.args, env(c.env), io.Discard, &errOut); code != c.code || !strings.Contains(errOut.String(), c.line) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d mentioning %q", code, errOut.String(), c.code, c.line)
			}
			if c.code == 2 && strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
				t.Errorf("a bad config must be one line, got:\n%s", errOut.String())
			}
		})
	}
}

func TestServeStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut logtest.Buffer
	go func() {
		done <- run(ctx, nil, env(map[string]string{"SANDBOX_ADDR": "127.0.0.1:0", "LOG_FORMAT": "text"}), io.Discard, &errOut)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errOut.String(), "ePay sandbox listening"); {
		if time.Now().After(deadline) {
			t.Fatalf("no listening line within 10s:\n%s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of the context ending")
	}
}
