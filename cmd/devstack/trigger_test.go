package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
)

// devstack trigger -create -wait plays a whole payment without a browser: the invoice
// created through the initiator, ePay's callback for it, and its new state read from the
// worker, the merchant's side done by the merchant package.
func TestTriggerCreatesPaysAndReadsAnInvoice(t *testing.T) {
	urls := devstacktest.Start(t, devstacktest.Options{})
	host := func(u string) string { p, _ := url.Parse(u); return p.Host }
	env := map[string]string{"INITIATOR_ADDR": host(urls.Initiator), "INGEST_ADDR": host(urls.Ingest),
		"WORKER_ADDR": host(urls.Worker), "WORKER_READ_KEY": urls.WorkerReadKey}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var out, stderr bytes.Buffer
	if err := run(ctx, []string{"trigger", "-create", "-amount", "150", "-wait"}, getenv, &out, &stderr); err != nil {
		t.Fatalf("trigger: %v\n%s%s", err, out.String(), stderr.String())
	}
	m := regexp.MustCompile(`(?s)^created invoice (\d+) through the initiator: 150 KZT\n.*invoice (\d+): 1 POSTs, 1 as expected, 0 unexpected\ninvoice (\d+): state paid, amount 150 KZT, version 2\n$`).FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] || m[2] != m[3] {
		t.Fatalf("output:\n%s", out.String())
	}

	// A wrong hash leaves the invoice created: -wait says so, and fails (here within the
	// test's 5 s rather than its own 30 s).
	out.Reset()
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	err := run(short, []string{"trigger", "-create", "-wrong-hash", "-wait=true"}, getenv, &out, &stderr)
	if !errors.Is(err, errStillCreated) || !strings.Contains(out.String(), "1 as expected") {
		t.Errorf("a refused callback with -wait: %v\n%s", err, out.String())
	}
}

func TestTriggerRefusesCreateWithAnInvoice(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"trigger", "-create", "-invoice", "100000000001"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "give -create or -invoice, not both") {
		t.Errorf("-create -invoice: %v %q", err, stderr.String())
	}
	stderr.Reset()
	err = run(context.Background(), []string{"trigger", "-wait=maybe"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "-wait=maybe: not a boolean") {
		t.Errorf("-wait=maybe: %v %q", err, stderr.String())
	}
}
