package merchant_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/merchant"
)

// The signature published with the Standard Webhooks reference library
// (libraries/go/webhook_test.go, TestWebhookSign, of standard-webhooks/standard-webhooks).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return h
}

func verifier(t *testing.T, now int64, secrets ...string) *merchant.WebhookVerifier {
	t.Helper()
	v, err := merchant.NewWebhookVerifier(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return time.Unix(now, 0) }
	return v
}

func TestVerifierAcceptsTheSpecsPublishedSignature(t *testing.T) {
	v := verifier(t, specTimestamp+10, specSecret)
	id, err := v.Verify(headers(specID, specTimestamp, specSignature), []byte(specBody))
	if err != nil || id != specID {
		t.Fatalf("Verify: %q %v", id, err)
	}
}

// During a rotation the webhooks service signs with the old and the new secret; the
// receiver may hold either, or both. Signatures made by the reference library.
func TestVerifierAcceptsAnyOfSeveralSignaturesAndSecrets(t *testing.T) {
	const oldSecret, newSecret, otherSecret = specSecret, "whsec_dGhlLW5ldy1zZWNyZXQtb2YtdGhlLWVuZHBvaW50", "whsec_c29tZWJvZHktZWxzZXMtc2VjcmV0LTAxMjM0NQ=="
	body := []byte(`{"specversion":"1.0","id":"100000000001-2"}`)
	now := time.Now().Unix()
	sign := func(secret string) string {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		s, err := wh.Sign("100000000001-2", time.Unix(now, 0), body)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	both := headers("100000000001-2", now, sign(oldSecret)+" "+sign(newSecret))
	for _, secrets := range [][]string{{oldSecret}, {newSecret}, {otherSecret, newSecret}} {
		if _, err := verifier(t, now, secrets...).Verify(both, body); err != nil {
			t.Errorf("secrets %v: %v", secrets, err)
		}
	}
	if _, err := verifier(t, now, otherSecret).Verify(both, body); !errors.Is(err, merchant.ErrWebhookSignature) {
		t.Errorf("another secret: %v, want ErrWebhookSignature", err)
	}
}

func TestVerifierRefusesWhatWasNotSignedNow(t *testing.T) {
	v := verifier(t, specTimestamp, specSecret)
	body := []byte(specBody)
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
		want error
	}{
		"another body":            {headers(specID, specTimestamp, specSignature), []byte(`{"test": 2432232315}`), merchant.ErrWebhookSignature},
		"another id":              {headers(specID+"x", specTimestamp, specSignature), body, merchant.ErrWebhookSignature},
		"another timestamp":       {headers(specID, specTimestamp+1, specSignature), body, merchant.ErrWebhookSignature},
		"another version":         {headers(specID, specTimestamp, "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), body, merchant.ErrWebhookSignature},
		"a prefix of it":          {headers(specID, specTimestamp, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"), body, merchant.ErrWebhookSignature},
		"6 minutes old, signed":   {headers(specID, specTimestamp-6*60, specSign(t, specTimestamp-6*60)), body, merchant.ErrWebhookTimestamp},
		"6 minutes ahead, signed": {headers(specID, specTimestamp+6*60, specSign(t, specTimestamp+6*60)), body, merchant.ErrWebhookTimestamp},
		"no id":                   {headers("", specTimestamp, specSignature), body, merchant.ErrWebhookHeaders},
		"no signature":            {headers(specID, specTimestamp, ""), body, merchant.ErrWebhookHeaders},
		"a timestamp not a number": {func() http.Header {
			h := headers(specID, 0, specSignature)
			h.Set("webhook-timestamp", "soon")
			return h
		}(), body, merchant.ErrWebhookHeaders},
	} {
		if _, err := v.Verify(c.h, c.body); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := merchant.NewWebhookVerifier("whsec_not base64!"); !errors.Is(err, merchant.ErrWebhookSecret) {
		t.Errorf("a bad secret: %v", err)
	}
	if _, err := merchant.NewWebhookVerifier(); !errors.Is(err, merchant.ErrWebhookSecret) {
		t.Errorf("no secret: %v", err)
	}
}

// VerifyRequest reads a bounded body, verifies it and decodes the event.
func TestVerifyRequest(t *testing.T) {
	now := time.Now().Unix()
	wh, _ := standardwebhooks.NewWebhook(specSecret)
	sig, _ := wh.Sign("191111111-2", time.Unix(now, 0), []byte(paidEvent))
	req := httptest.NewRequest(http.MethodPost, "/epay/webhook", bytes.NewReader([]byte(paidEvent)))
	req.Header = headers("191111111-2", now, sig)
	ev, body, err := verifier(t, now, specSecret).VerifyRequest(req, 64<<10)
	if err != nil || ev.Type != merchant.EventPaid || ev.Data.Invoice.OrderID != "ORD-42" || string(body) != paidEvent {
		t.Fatalf("VerifyRequest: %+v %v", ev, err)
	}
	req = httptest.NewRequest(http.MethodPost, "/epay/webhook", bytes.NewReader([]byte(paidEvent)))
	req.Header = headers("191111111-2", now, sig)
	if _, _, err := verifier(t, now, specSecret).VerifyRequest(req, 100); !errors.Is(err, merchant.ErrWebhookTooLarge) {
		t.Errorf("a body over the bound: %v", err)
	}
}

// specSign is the reference library's signature of the spec's message at ts.
func specSign(t *testing.T, ts int64) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(specID, time.Unix(ts, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
