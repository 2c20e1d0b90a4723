package devstack_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/logging/logtest"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// payWithCard takes the payment object to the sandbox's card form, as payment-api.js
// payWithCard takes the payment object to the sandbox's card form, as payment-api.js
// and a customer do, and pays with card.
func payWithCard(t *testing.T, sandboxURL string, paymentObject json.RawMessage, card, expiry, cvc string) {
	t.Helper()
	noRedirect := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, sandboxURL, paymentObject, sandbox.Card{Number: card, Expiry: expiry, CVC: cvc, Holder: "Test Holder"}); err != nil {
		t.Fatal(err)
	}
}

func TestNoSecretInAnyLogLineOfAFullConfirmedPayment(t *testing.T) {
	logs := &logtest.Buffer{}
	urls := startStackWith(t, map[string]string{"WORKER_CONFIRM_PAYMENTS": "on", "LOG_LEVEL": "debug"},
		slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	body := `{"amount":100,"currency":"KZT","description":"Order 42","kind":"payment","email":"a@example.kz"}`
	req, _ := http.NewRequest(http.MethodPost, urls.Initiator+"/v1/payments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+devstack.DevAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p struct {
		InvoiceID     string          `json:"invoiceId"`
		PaymentObject json.RawMessage `json:"paymentObject"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/payments: %d %s", resp.StatusCode, raw)
	}
	var obj struct {
		Auth struct {
			AccessToken string `json:"access_token"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(p.PaymentObject, &obj); err != nil || obj.Auth.AccessToken == "" {
		t.Fatalf("payment object without auth.access_token: %s", p.PaymentObject)
	}
	payWithCard(t, urls.Sandbox, p.PaymentObject, "4405639704015096", "01/27", "321")
	inv := waitState(t, urls.Worker, p.InvoiceID, "paid")
	if n, _ := inv["statusChecks"].(float64); n < 1 {
		t.Errorf("paid without a status check under WORKER_CONFIRM_PAYMENTS=on: %v", inv)
	}
	waitEvents(t, urls, p.InvoiceID, 1)

	out := logs.String()
	secrets := map[string]string{
		"client secret":   string(epayapi.TestClientSecret),
		"payment token":   obj.Auth.AccessToken,
		"signing key":     strings.SplitN(devstack.DevSecretKeys, ":", 2)[1],
		"card number":     "4405639704015096",
		"card number, 4s": "4405 6397 0401 5096",
		"CVC field":       `"321"`,
		"read API key":    urls.WorkerReadKey,
		"operator key":    urls.WorkerOperatorKey,
	}
	for role, a := range urls.NATSUsers {
		secrets["NATS password of "+string(role)] = a.Password
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, line := range lines {
		for what, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line %d shows the %s: %s", i+1, what, line)
			}
		}
		if !json.Valid([]byte(line)) {
			t.Errorf("log line %d is not JSON: %s", i+1, line)
		}
	}
	// the logs were captured, at debug level, and cover the whole flow
	for _, want := range []string{`"service":"initiator"`, `"service":"ingest"`, `"service":"worker"`, `"service":"sandbox"`,
		`"msg":"message applied"`, `"msg":"ePay status answer published"`, `"level":"DEBUG"`, p.InvoiceID} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s (%d lines captured)", want, len(lines))
		}
	}
	if len(lines) < 10 {
		t.Errorf("only %d log lines captured", len(lines))
	}
}
