package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// startStack runs the whole stack on free ports with its data in a temp dir, and stops
// it when the test ends.
func startStack(t *testing.T) devstack.URLs {
	t.Helper()
	return startStackWith(t, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startStackWith is startStack with the environment env (nothing else of the process's)
// and the logger log.
func startStackWith(t *testing.T, env map[string]string, log *slog.Logger) devstack.URLs {
	t.Helper()
	u := devstacktest.Start(t, devstacktest.Options{Env: env, Log: log})
	workerKeys.Store(u.Worker, u.WorkerReadKey)
	return u
}

// workerKeys are the read API keys of the running stacks, by worker URL.
var workerKeys sync.Map

// workerGet GETs url of a stack's worker with its read API key.
func workerGet(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range workerKeys.Range {
		if strings.HasPrefix(url, k.(string)+"/") {
			req.Header.Set("Authorization", "Bearer "+v.(string))
		}
	}
	return http.DefaultClient.Do(req)
}

type payment struct {
	InvoiceID     string `json:"invoiceId"`
	PaymentObject struct {
		Terminal string      `json:"terminal"`
		Amount   epay.Amount `json:"amount"`
		PostLink string      `json:"postLink"`
	} `json:"paymentObject"`
}

func createPayment(t *testing.T, initiatorURL string) payment {
	t.Helper()
	body := `{"amount":100,"currency":"KZT","description":"Order 42","kind":"payment","email":"a@example.kz"}`
	req, _ := http.NewRequest(http.MethodPost, initiatorURL+"/v1/payments", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+devstack.DevAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/payments: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/payments: %d %s", resp.StatusCode, raw)
	}
	var p payment
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("payment response: %v: %s", err, raw)
	}
	return p
}

// waitState polls the worker's read API until the invoice is in state want.
func waitState(t *testing.T, workerURL, invoiceID, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := workerGet(workerURL + "/v1/invoices/" + invoiceID)
		if err == nil {
			var inv map[string]any
			json.NewDecoder(resp.Body).Decode(&inv)
			resp.Body.Close()
			if s, _ := inv["state"].(string); s == want {
				return inv
			} else {
				last = s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("invoice %s: state %q, want %q within 20s", invoiceID, last, want)
	return nil
}

// connectAs connects to the stack's NATS as role, with its password and reply subjects
// (anonymous clients are refused).
func connectAs(t *testing.T, urls devstack.URLs, role natsbus.Role) *nats.Conn {
	t.Helper()
	a := urls.NATSUsers[role]
	nc, err := nats.Connect(urls.NATS, nats.UserInfo(a.User, a.Password), nats.CustomInboxPrefix(role.InboxPrefix()))
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	return nc
}

// events returns the subjects (payments.<type>) of the PAYMENT_EVENTS messages about one invoice.
func events(t *testing.T, urls devstack.URLs, invoiceID string) []string {
	t.Helper()
	var subjects []string
	for _, m := range eventMsgs(t, urls, invoiceID) {
		subjects = append(subjects, m.Subject)
	}
	return subjects
}

// eventMsgs returns the PAYMENT_EVENTS messages about one invoice, in stream order, read
// as a merchant's subscriber.
func eventMsgs(t *testing.T, urls devstack.URLs, invoiceID string) []*jetstream.RawStreamMsg {
	t.Helper()
	nc := connectAs(t, urls, natsbus.RoleSubscriber)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, natsbus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var ev struct {
			Type    string `json:"type"`
			Subject string `json:"subject"`
		}
		if json.Unmarshal(msg.Data, &ev) == nil && ev.Subject == invoiceID {
			msgs = append(msgs, msg)
		}
	}
	return msgs
}

// waitEvents polls until n events about the invoice are on PAYMENT_EVENTS.
func waitEvents(t *testing.T, urls devstack.URLs, invoiceID string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = events(t, urls, invoiceID); len(got) >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("invoice %s: events %v, want %d within 20s", invoiceID, got, n)
	return nil
}

// drained waits until every inbox consumer of the stack's worker has nothing pending and
// nothing unacked. A message is acked only once its change's events are published
// (docs/RELIABILITY.md), so after it PAYMENT_EVENTS holds every event of what was
// received, and an exact count is an exact check: a later duplicate would be there.
func drained(t *testing.T, urls devstack.URLs) {
	t.Helper()
	nc := connectAs(t, urls, natsbus.RoleAdmin)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(20 * time.Second)
	for {
		busy, err := busyConsumers(js)
		if err == nil && len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker's consumers not drained within 20s: %v %v", busy, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// busyConsumers names the EPAY_INBOX consumers with messages pending or unacked.
func busyConsumers(js jetstream.JetStream) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		return nil, err
	}
	var busy []string
	lister := stream.ListConsumers(ctx)
	for info := range lister.Info() {
		if info.NumPending > 0 || info.NumAckPending > 0 {
			busy = append(busy, info.Name)
		}
	}
	return busy, lister.Err()
}

func TestPaymentCreatedSignedCallbackTriplePostedEndsPaidWithOneEvent(t *testing.T) {
	urls := startStack(t)
	p := createPayment(t, urls.Initiator)
	if p.PaymentObject.PostLink != urls.Ingest+"/epay/postlink" {
		t.Errorf("postLink = %q, want the ingest's %q", p.PaymentObject.PostLink, urls.Ingest+"/epay/postlink")
	}
	keys, err := epay.ParseKeyring(devstack.DevSecretKeys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: p.PaymentObject.PostLink, InvoiceID: p.InvoiceID, Amount: p.PaymentObject.Amount,
		Terminal: p.PaymentObject.Terminal, Keys: keys, Duplicates: 3,
	})
	if err != nil || res.Unexpected() != 0 {
		t.Fatalf("trigger: %v %+v", err, res)
	}
	inv := waitState(t, urls.Worker, p.InvoiceID, "paid")
	if h, _ := inv["history"].([]any); len(h) < 1 {
		t.Errorf("history = %v, want the callback", inv["history"])
	}
	drained(t, urls) // every copy of the callback applied: a second event would be there now
	got := events(t, urls, p.InvoiceID)
	if len(got) != 1 || got[0] != "payments.paid" {
		t.Fatalf("events = %v, want exactly [payments.paid]", got)
	}

	// The secret_hash could sign a forgery for this invoice: what the worker shows and
	// publishes carries the callback without it.
	hash := keys.Sign(p.PaymentObject.Terminal, p.InvoiceID)
	resp, err := workerGet(urls.Worker + "/v1/invoices/" + p.InvoiceID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	event := eventMsgs(t, urls, p.InvoiceID)[0].Data
	for where, b := range map[string][]byte{"read API": body, "payments.paid event": event} {
		if bytes.Contains(b, []byte(hash)) || !bytes.Contains(b, []byte(`"secret_hash":"[redacted]"`)) {
			t.Errorf("%s shows the secret_hash (or lost the field): %s", where, b)
		}
	}
}

func TestForgedCallbackIsRefusedAndInvoiceStaysCreated(t *testing.T) {
	urls := startStack(t)
	p := createPayment(t, urls.Initiator)
	keys, _ := epay.ParseKeyring(devstack.DevSecretKeys)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: p.PaymentObject.PostLink, InvoiceID: p.InvoiceID, Amount: p.PaymentObject.Amount,
		Terminal: p.PaymentObject.Terminal, Keys: keys, WrongHash: true,
	})
	if err != nil || res.Unexpected() != 0 || len(res.Posts) == 0 || res.Posts[0].Status != http.StatusUnauthorized {
		t.Fatalf("trigger with a wrong hash: %v %+v, want 401", err, res)
	}
	waitState(t, urls.Worker, p.InvoiceID, "created")
	if got := events(t, urls, p.InvoiceID); len(got) != 0 {
		t.Fatalf("events = %v, want none", got)
	}
}

func TestRefusesPublicKeysInProd(t *testing.T) {
	env := map[string]string{"EPAY_ENV": "prod"}
	err := devstack.Run(context.Background(), devstack.Config{
		DataDir: t.TempDir(), Getenv: func(k string) string { return env[k] },
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, devstack.ErrDevKeysInProd) {
		t.Fatalf("Run in prod with the local keys: %v, want ErrDevKeysInProd", err)
	}
}
