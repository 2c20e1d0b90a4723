package webhooks_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/merchant"
)

// With WEBHOOKS_SECRETS_KEY the bucket holds an endpoint's signing secrets sealed: a
// reader of EPAY_WEBHOOKS (a RePublish or a stream source added with a NATS password's
// stream rights, a backup) finds no secret, rotated ones included, while deliveries
// are signed with them as before. A service without the key refuses to deliver with
// them rather than sign with junk.
func TestEndpointSecretsAreSealedInTheBucket(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	id, secret := s.register(t, rc.URL)
	var rotated struct{ Secret string }
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints/"+id+"/rotate-secret", nil, &rotated); code != http.StatusOK || rotated.Secret == "" {
		t.Fatalf("rotate: %d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := s.asWebhooks(t, "test-raw").KeyValue(ctx, natsbus.WebhooksBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "endpoints."+id)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(e.Value())
	for _, sec := range []string{secret, rotated.Secret} {
		key := strings.TrimPrefix(sec, "whsec_")
		if strings.Contains(raw, key) {
			t.Fatalf("the bucket holds a secret as it is: %s", raw)
		}
	}
	if strings.Count(raw, `"enc:v2:`) != 2 {
		t.Fatalf("the bucket's entry %s, want both secrets sealed", raw)
	}
	s.publish(t, "ev-sealed", "paid", "INV-S")
	waitFor(t, "the event delivered", func() bool { return len(rc.delivered()) == 1 })
	for _, sec := range []string{secret, rotated.Secret} { // the old one still signs during the overlap
		v, err := merchant.NewWebhookVerifier(sec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(rc.requests()[0].Header, rc.requests()[0].Body); err != nil {
			t.Errorf("the delivery does not verify with a secret the API handed out: %v", err)
		}
	}
}
