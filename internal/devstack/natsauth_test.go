package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// TestNATSHasAnIdentityPerServiceAndRefusesStrangers: the local stack's NATS runs with the
// production permissions. The services do their jobs under them (every other devstack
// test), strangers are refused, and the merchant's subscriber may read events but not
// write them; the banner gives its credentials and no other.
func TestNATSHasAnIdentityPerServiceAndRefusesStrangers(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	urls := startStackOut(t, &lockedWriter{&mu, &out})

	if _, err := nats.Connect(urls.NATS); !natsbus.IsAuthError(err) {
		t.Fatalf("anonymous connection: %v, want an authorization violation", err)
	}
	seen := map[string]natsbus.Role{}
	for _, r := range natsbus.Roles() {
		a := urls.NATSUsers[r]
		if a.User != string(r) || len(a.Password) < 24 {
			t.Errorf("%s: credentials %s, want user %s with a long random password", r, a, r)
		}
		if o, dup := seen[a.Password]; dup {
			t.Errorf("%s and %s share a password", r, o)
		}
		seen[a.Password] = r
	}

	mu.Lock()
	banner := out.String()
	mu.Unlock()
	sub := urls.NATSUsers[natsbus.RoleSubscriber]
	if !strings.Contains(banner, "subscriber NATS user subscriber, password "+sub.Password) {
		t.Errorf("the banner does not give the subscriber's credentials:\n%s", banner)
	}
	for _, r := range []natsbus.Role{natsbus.RoleIngest, natsbus.RoleInitiator, natsbus.RoleWorker, natsbus.RoleAdmin, natsbus.RoleStreams} {
		if strings.Contains(banner, urls.NATSUsers[r].Password) {
			t.Errorf("the banner shows the password of %s", r)
		}
	}

	// The subscriber may not publish a payment event nor read the inbox.
	var errs = make(chan error, 10)
	a := urls.NATSUsers[natsbus.RoleSubscriber]
	nc, err := nats.Connect(urls.NATS, nats.UserInfo(a.User, a.Password), nats.CustomInboxPrefix(natsbus.RoleSubscriber.InboxPrefix()),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, try := range []func() error{
		func() error { return nc.Publish("payments.paid", []byte(`{}`)) },
		func() error { _, err := nc.SubscribeSync("epay.inbox.>"); return err },
	} {
		if err := try(); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		select {
		case err := <-errs:
			if !natsbus.IsPermissionError(err) {
				t.Errorf("got %v, want a permissions violation", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("no permissions violation within 5s")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startStackOut is startStack with the banner written to out.
func startStackOut(t *testing.T, out io.Writer) devstack.URLs {
	t.Helper()
	return devstacktest.Start(t, devstacktest.Options{Out: out})
}

// TestServicesNeverHitAPermissionsViolation: a payment from creation to paid, with its
// event, runs under the permissions without NATS refusing anything any service does
// (a missing permission shows as an error log naming the user, and as a timeout).
func TestServicesNeverHitAPermissionsViolation(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	urls := startStackWith(t, map[string]string{"WORKER_CHECK_EVERY": "100ms"}, log)
	p := createPayment(t, urls.Initiator)
	keys, err := epay.ParseKeyring(devstack.DevSecretKeys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: p.PaymentObject.PostLink, InvoiceID: p.InvoiceID, Amount: p.PaymentObject.Amount,
		Terminal: p.PaymentObject.Terminal, Keys: keys,
	})
	if err != nil || res.Unexpected() != 0 {
		t.Fatalf("trigger: %v %+v", err, res)
	}
	waitState(t, urls.Worker, p.InvoiceID, "paid")
	waitEvents(t, urls, p.InvoiceID, 1)
	// The initiator's Idempotency-Keys bucket: the same key twice is the same invoice.
	var ids []string
	for range 2 {
		body := `{"amount":100,"currency":"KZT","description":"Order 43","kind":"payment","email":"a@example.kz"}`
		req, _ := http.NewRequest(http.MethodPost, urls.Initiator+"/v1/payments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+devstack.DevAPIKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "order-43")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var created payment
		json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST /v1/payments with an Idempotency-Key: %d", resp.StatusCode)
		}
		ids = append(ids, created.InvoiceID)
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("the same Idempotency-Key made invoices %v, want one", ids)
	}
	time.Sleep(500 * time.Millisecond) // a sampling period of the worker's gauges
	mu.Lock()
	defer mu.Unlock()
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(strings.ToLower(line), "permissions violation") || strings.Contains(line, "refused the login") {
			t.Errorf("NATS refused a service: %s", line)
		}
	}
}
