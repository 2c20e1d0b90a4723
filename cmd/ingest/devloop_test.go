package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/logging/logtest"
)

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

// TestDevLoopErrorsExit2WithOneLineSayingWhat: a taken port, a listen address that is
// not one, a variable that is not a number, a NATS_URL that is not one: exit 2, one line
// naming the variable and what is wrong (never the NATS password).
func TestDevLoopErrorsExit2WithOneLineSayingWhat(t *testing.T) {
	taken := takenAddr(t)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"taken port", []string{"INGEST_ADDR", taken}, "ingest: ingest config: -addr (INGEST_ADDR): " + taken + ": address in use (another process listens there)"},
		{"taken metrics port", []string{"INGEST_ADDR", "127.0.0.1:0", "INGEST_METRICS_ADDR", taken}, "-metrics-addr (INGEST_METRICS_ADDR): " + taken + ": address in use"},
		{"port not a number", []string{"INGEST_ADDR", "foo:bar"}, `-addr (INGEST_ADDR) "foo:bar": the port "bar" is not a number from 0 to 65535`},
		{"port out of range", []string{"INGEST_ADDR", ":99999"}, `-addr (INGEST_ADDR) ":99999": the port "99999" is not a number from 0 to 65535`},
		{"shards not a number", []string{"EPAY_SHARDS", "abc"}, `EPAY_SHARDS: "abc" is not an integer`},
		{"NATS_URL not nats", []string{"NATS_URL", "http://ingest:SECRETVALUE@nats.example:4222"}, `-nats-url (NATS_URL) "http://ingest:xxxxx@nats.example:4222": scheme "http"`},
		{"NATS_URL bad port", []string{"NATS_URL", "nats://a:4222,nats://b:422200"}, `-nats-url (NATS_URL) "nats://b:422200": port "422200": want 1 to 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			env := append([]string{"EPAY_SECRET_KEYS", keys, "NATS_URL", "nats://127.0.0.1:1"}, tt.env...)
			code, _, stderr := runCmd(ctx, nil, envOf(env...))
			if code != 2 || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "SECRETVALUE") {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line with %q", code, stderr, tt.want)
			}
		})
	}
}

// TestHelpListsTheSubcommands: -h and help list `ingest sign`; a stray argument's
// error names it.
func TestHelpListsTheSubcommands(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}} {
		code, _, stderr := runCmd(context.Background(), args, envOf())
		if code != 0 || !strings.Contains(stderr, "Subcommands (each has its own -h):\n  ingest sign [-secret-keys KID:secret,...] <terminal> <invoiceId>\n") {
			t.Errorf("%v: exit %d, output %q", args, code, stderr)
		}
	}
	code, _, stderr := runCmd(context.Background(), []string{"sing"}, envOf("EPAY_SECRET_KEYS", keys))
	if code != 2 || !strings.Contains(stderr, `unexpected argument "sing": the only subcommand is sign`) {
		t.Errorf("stray argument: exit %d, %q", code, stderr)
	}
}

// TestUnreachableNATSIsNamed: with NATS_URL pointing where no server is, the log says
// so with the URL (without the password), and /readyz names it.
func TestUnreachableNATSIsNamed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr logtest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "text"},
			envOf("EPAY_SECRET_KEYS", keys, "NATS_URL", "nats://ingest:SECRETVALUE@127.0.0.1:1"), io.Discard, &stderr)
	}()
	addr := regexp.MustCompile(`msg="ingest serving" addr=(\S+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil || !strings.Contains(stderr.String(), "cannot reach NATS"); {
		if time.Now().After(deadline) {
			t.Fatalf("no serving and cannot-reach lines within 10s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		m = addr.FindStringSubmatch(stderr.String())
	}
	if !strings.Contains(stderr.String(), "url=nats://ingest:xxxxx@127.0.0.1:1") || strings.Contains(stderr.String(), "SECRETVALUE") {
		t.Errorf("the log does not name the URL without its password:\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + m[1] + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "nats: not connected to nats://ingest:xxxxx@127.0.0.1:1 (NATS_URL") {
		t.Errorf("/readyz %d %q", resp.StatusCode, body)
	}
	cancel()
	<-done
}
