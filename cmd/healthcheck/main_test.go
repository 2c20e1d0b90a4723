package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheckExitsByStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "nats: not connected", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{srv.URL + "/readyz"}, &out, &errOut); err != nil {
		t.Fatalf("ready: %v", err)
	}
	err := run(context.Background(), []string{srv.URL + "/down"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "nats: not connected") {
		t.Fatalf("not ready: err %v, want one naming 503 and the body", err)
	}
	if errors.Is(err, errUsage) {
		t.Fatal("a 503 is a failure (exit 1), not a usage error")
	}
	srv.Close()
	if err := run(context.Background(), []string{srv.URL + "/readyz"}, &out, &errOut); err == nil || errors.Is(err, errUsage) {
		t.Fatalf("closed server: err %v, want a failure", err)
	}
}

func TestHealthcheckUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"a", "b"}, {"localhost:8081/readyz"}, {"-timeout", "0s", "http://x/readyz"}, {"-nope"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
}
