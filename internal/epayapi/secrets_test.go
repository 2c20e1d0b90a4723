package epayapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestSecretsNeverAppearInErrorsOrLogs drives every failure path with a fake ePay that
// echoes the client_secret and the bearer token back, and checks errors, logs and the
// printed forms of Config and Token.
func TestSecretsNeverAppearInErrorsOrLogs(t *testing.T) {
	const accessToken = "SERVICE_TOKEN_42"
	// The token endpoint can only echo the secret; the status API also the bearer token.
	echoSecret := `{"code":"bad","message":"client_secret yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG refused"}`
	echo := `{"code":"bad","message":"client_secret yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG and token SERVICE_TOKEN_42 refused"}`
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var texts []string
	run := func(f *fakeEPay, call func(*Client) error) {
		cfg := testConfig(f)
		cfg.Timeout = 50 * time.Millisecond
		c, err := New(cfg, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := call(c); err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		} else {
			t.Fatal("expected an error")
		}
		texts = append(texts, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
	}
	payment := func(c *Client) error { _, err := c.PaymentToken(context.Background(), paymentRequest()); return err }
	status := func(c *Client) error { _, err := c.PaymentStatus(context.Background(), "100000000001"); return err }

	run(startFake(t, answer(400, echoSecret)), payment)
	run(startFake(t, answer(401, echoSecret)), payment)
	run(startFake(t, answer(503, echoSecret)), payment)
	run(startFake(t, hang), payment)
	run(startFake(t, byPath(answer(200, serviceTokenBody), answer(403, echo))), status)
	run(startFake(t, byPath(answer(200, serviceTokenBody), answer(500, echo))), status)

	f := startFake(t, answer(200, tokenBody))
	tok, err := mustClient(t, testConfig(f)).PaymentToken(context.Background(), paymentRequest())
	if err != nil {
		t.Fatal(err)
	}
	log.Info("got token", "token", tok)
	texts = append(texts, fmt.Sprintf("%v %+v %s", tok, tok, tok), logs.String())

	for _, text := range texts {
		for _, secret := range []string{testSecret, accessToken, "DCEB8O_ZM5U7SO_T_U5EJQ"} {
			if strings.Contains(text, secret) {
				t.Fatalf("a secret leaked into %q", text)
			}
		}
	}
}
