package httpserver_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/httpserver"
)

func TestCheckAddr(t *testing.T) {
	for _, ok := range []string{":8080", "127.0.0.1:0", "[::1]:65535", "localhost:8081", "0.0.0.0:1"} {
		if err := httpserver.CheckAddr(ok); err != nil {
			t.Errorf("CheckAddr(%q): %v", ok, err)
		}
	}
	for addr, want := range map[string]string{
		"8080":         `"8080" is not host:port`,
		"":             `"" is not host:port`,
		"foo:bar":      `the port "bar" is not a number from 0 to 65535`,
		":99999":       `the port "99999" is not a number from 0 to 65535`,
		"127.0.0.1:":   `the port "" is not a number`,
		"::1:8080":     "is not host:port",
		"host:-1":      `the port "-1"`,
		"a:8080:extra": "is not host:port",
	} {
		if err := httpserver.CheckAddr(addr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckAddr(%q) = %v, want one with %q", addr, err, want)
		}
	}
}

// TestListenOnATakenAddressSaysSo: the error names the address and wraps ErrAddrInUse,
// so that a service can say which setting to change.
func TestListenOnATakenAddressSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = httpserver.Listen(addr, http.NotFoundHandler(), httpserver.Timeouts{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, httpserver.ErrAddrInUse) || !strings.HasPrefix(err.Error(), addr+": address in use") {
		t.Fatalf("Listen on a taken address: %v", err)
	}
}

func TestURLOfAListenerOnEveryInterfaceIsLocalhost(t *testing.T) {
	srv, err := httpserver.Listen(":0", http.NotFoundHandler(), httpserver.Timeouts{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	port := srv.Addr().(*net.TCPAddr).Port
	if got, want := srv.URL(), "http://localhost:"+strconv.Itoa(port); got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
}

// The listen hook travels in the context: Listening calls it, once per call, and does
// nothing for a context without one.
func TestListenHook(t *testing.T) {
	httpserver.Listening(context.Background(), "http://127.0.0.1:1") // no hook: nothing happens
	var got []string
	ctx := httpserver.WithListenHook(context.Background(), func(url string) { got = append(got, url) })
	httpserver.Listening(ctx, "http://127.0.0.1:2")
	if len(got) != 1 || got[0] != "http://127.0.0.1:2" {
		t.Fatalf("hook got %v, want the one URL", got)
	}
}

// A flood of /readyz runs the checks (which ask NATS) once a ReadyFor, not once a request;
// a change is seen once the standing answer is older than that.
func TestReadyzRunsItsChecksAtMostOnceASecond(t *testing.T) {
	var calls atomic.Int32
	var broken atomic.Bool
	mux := http.NewServeMux()
	httpserver.Health(mux, map[string]httpserver.Check{"nats": func(context.Context) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		if broken.Load() {
			return errors.New("not connected")
		}
		return nil
	}})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func() int {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if code := get(); code != http.StatusOK {
				t.Errorf("/readyz %d, want 200", code)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 requests at once ran the checks %d times, want once", n)
	}
	broken.Store(true)
	time.Sleep(httpserver.ReadyFor + 50*time.Millisecond)
	if code := get(); code != http.StatusServiceUnavailable || calls.Load() != 2 {
		t.Fatalf("after the check broke and a ReadyFor passed: /readyz %d with %d runs, want 503 and a second run", code, calls.Load())
	}
}
