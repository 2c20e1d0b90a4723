package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

const keys = "A:cmd-test-signing-key-0000001"

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func runCmd(ctx context.Context, args []string, env func(string) string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = run(ctx, args, env, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadConfigExits2WithOneLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{"no keys", nil, nil},
		{"keys malformed", nil, []string{"EPAY_SECRET_KEYS", "not-a-key-list-SECRETVALUE"}},
		{"key too short", nil, []string{"EPAY_SECRET_KEYS", "A:SECRETVALUE"}},
		{"shards zero", []string{"-shards", "0"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"shards not a number", nil, []string{"EPAY_SECRET_KEYS", keys, "EPAY_SHARDS", "eight"}},
		{"unknown policy", nil, []string{"EPAY_SECRET_KEYS", keys, "EPAY_SECRET_HASH_POLICY", "trust-me"}},
		{"publish timeout too long", []string{"-publish-timeout", "1h"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"bad duration", []string{"-publish-timeout", "soon"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"replicas", nil, []string{"EPAY_SECRET_KEYS", keys, "NATS_STREAM_REPLICAS", "7"}},
		{"duplicate window", nil, []string{"EPAY_SECRET_KEYS", keys, "NATS_DUPLICATE_WINDOW", "0s"}},
		{"log format", nil, []string{"EPAY_SECRET_KEYS", keys, "LOG_FORMAT", "yaml"}},
		{"log level", []string{"-log-level", "verbose"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"unknown flag", []string{"-port", "8081"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"stray argument", []string{"serve"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"public example key in prod", nil, []string{"EPAY_SECRET_KEYS", "D:dev-only-signing-key-do-not-use-in-prod", "EPAY_ENV", "prod"}},
		{"allow-list not CIDRs", nil, []string{"EPAY_SECRET_KEYS", keys, "INGEST_ALLOW_CIDRS", "epay.kz"}},
		{"tls cert without key", []string{"-tls-cert", "cert.pem"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"sign without keys", []string{"sign", "terminal", "123456"}, nil},
		{"sign bad invoiceId", []string{"sign", "terminal", "12a456"}, []string{"EPAY_SECRET_KEYS", keys}},
		{"sign missing argument", []string{"sign", "terminal"}, []string{"EPAY_SECRET_KEYS", keys}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, stdout, stderr := runCmd(ctx, tt.args, envOf(tt.env...))
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(stderr, "ingest: ") {
				t.Errorf("stderr is not one line starting with \"ingest: \": %q", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if strings.Contains(stderr, "SECRETVALUE") || strings.Contains(stderr, "cmd-test-signing-key") {
				t.Errorf("stderr shows a secret: %q", stderr)
			}
		})
	}
}

func TestHelpExits0AndListsVariables(t *testing.T) {
	code, _, stderr := runCmd(context.Background(), []string{"-h"}, envOf())
	if code != 0 || !strings.Contains(stderr, "EPAY_SECRET_KEYS") || !strings.Contains(stderr, "-secret-hash-policy") {
		t.Errorf("-h: exit %d, output %q", code, stderr)
	}
}

func TestSignPrintsTheSecretHash(t *testing.T) {
	ring, err := epay.ParseKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	const terminal, invoiceID = "67e34d63-102f-4bd1-898e-370781d0074d", "191111111"
	want := ring.Sign(terminal, invoiceID) + "\n"
	code, stdout, stderr := runCmd(context.Background(), []string{"sign", terminal, invoiceID}, envOf("EPAY_SECRET_KEYS", keys))
	if code != 0 || stdout != want {
		t.Errorf("sign from env: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	code, stdout, _ = runCmd(context.Background(), []string{"sign", "-secret-keys", keys, terminal, invoiceID}, envOf())
	if code != 0 || stdout != want {
		t.Errorf("sign from flag: exit %d, stdout %q", code, stdout)
	}
}

func TestRunsAndStopsOnCancel(t *testing.T) {
	ns := natstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "text"}, envOf("EPAY_SECRET_KEYS", keys, "NATS_URL", ns.URL()), &strings.Builder{}, &stderr)
	}()
	select {
	case code := <-done:
		t.Fatalf("exited %d before cancel: %s", code, stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after cancel")
	}
}
