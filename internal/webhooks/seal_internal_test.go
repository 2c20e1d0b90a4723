package webhooks

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// A sealed secret opens only under its own endpoint's id, URL and event types, and with
// the key that sealed it; a secret stored as it is (before the key was set) or sealed
// the v1 way is read only by the start's reseal; a store without the key refuses a
// sealed one rather than sign with it.
func TestSealedSecretsOpenOnlyWhereTheyWereSealed(t *testing.T) {
	key := []byte("tests-webhooks-secrets-key-0123!")
	sealed, plain, other := &Store{}, &Store{}, &Store{}
	if err := sealed.SealSecrets(key); err != nil {
		t.Fatal(err)
	}
	if err := other.SealSecrets([]byte("another-webhooks-secrets-key-01!")); err != nil {
		t.Fatal(err)
	}
	ep := Endpoint{ID: "ep_0000000000000001", URL: "https://shop.kz/hook", Secrets: []Secret{{Value: "whsec_c2VjcmV0LW9mLWVuZHBvaW50LW9uZQ=="}}}
	b, err := sealed.encodeEndpoint(ep)
	if err != nil || strings.Contains(string(b), "whsec_") {
		t.Fatalf("encoded %s (%v), want the secret sealed", b, err)
	}
	if got, err := sealed.decodeEndpoint(ep.ID, b); err != nil || got.Secrets[0].Value != ep.Secrets[0].Value {
		t.Fatalf("decoded %+v (%v), want the secret back", got, err)
	}
	moved := strings.Replace(string(b), ep.ID, "ep_0000000000000002", 1)
	if _, err := sealed.decodeEndpoint("ep_0000000000000002", []byte(moved)); err == nil {
		t.Error("a sealed secret moved to another endpoint opened")
	}
	if _, err := sealed.decodeEndpoint("ep_0000000000000002", b); err == nil {
		t.Error("an entry copied under another endpoint's key was taken")
	}
	if _, err := other.decodeEndpoint(ep.ID, b); err == nil {
		t.Error("a sealed secret opened with another key")
	}
	if _, err := plain.decodeEndpoint(ep.ID, b); !errors.Is(err, ErrSealed) {
		t.Errorf("a store without the key: %v, want ErrSealed", err)
	}
	for _, change := range []func(*Endpoint){
		func(e *Endpoint) { e.URL = "https://attacker.example/steal" },
		func(e *Endpoint) { e.EventTypes = []string{"kz.epay.payment.refunded"} },
	} {
		var got Endpoint
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		change(&got)
		changed, _ := json.Marshal(got)
		if _, err := sealed.decodeEndpoint(ep.ID, changed); err == nil {
			t.Errorf("a sealed secret opened for %s: its URL or event types changed outside the API", changed)
		}
	}
	// stored as it is before the key was set: taken by Reseal (legacy) only; the v1 way,
	// bound to the id alone, too
	legacy, _ := plain.encodeEndpoint(ep)
	if got, err := sealed.decodeEndpointAs(ep.ID, legacy, true); err != nil || got.Secrets[0].Value != ep.Secrets[0].Value {
		t.Errorf("a secret stored before the key was set, at the reseal: %+v (%v), want it read as it is", got, err)
	}
	if _, err := sealed.decodeEndpoint(ep.ID, legacy); !errors.Is(err, ErrUnsealed) {
		t.Errorf("a secret stored as it is after the reseal: %v, want ErrUnsealed", err)
	}
	nonce := make([]byte, sealed.sealer.aead.NonceSize())
	v1 := Endpoint{ID: ep.ID, URL: "https://attacker.example/steal", Secrets: []Secret{{Value: sealedPrefixV1 +
		base64.StdEncoding.EncodeToString(sealed.sealer.aead.Seal(nonce, nonce, []byte(ep.Secrets[0].Value), additionalV1(ep.ID)))}}}
	v1b, _ := json.Marshal(v1)
	if got, err := sealed.decodeEndpointAs(ep.ID, v1b, true); err != nil || got.Secrets[0].Value != ep.Secrets[0].Value {
		t.Errorf("a v1 secret at the reseal: %+v (%v), want it opened", got, err)
	}
	if _, err := sealed.decodeEndpoint(ep.ID, v1b); !errors.Is(err, ErrUnsealed) {
		t.Errorf("a v1 secret (its URL changed under it) after the reseal: %v, want ErrUnsealed", err)
	}
	for _, bad := range []string{"", "c2hvcnQ=", "not base64!"} {
		if _, err := ParseSecretsKey(bad); err == nil {
			t.Errorf("WEBHOOKS_SECRETS_KEY %q taken", bad)
		}
	}
}

// Rotations pile up no more than maxSecrets signing secrets: each is in every delivery's
// webhook-signature header, and 200 rotations made it 9.6 KB, past a receiver's header
// buffer, so that every delivery failed. A rotation once they are there is refused (409)
// until the oldest expires.
func TestRotationsKeepAtMostThreeSecretsSigning(t *testing.T) {
	now := time.Now()
	e := Endpoint{ID: "ep_0000000000000001", Secrets: []Secret{{Value: "whsec_first"}}}
	for i := range maxSecrets - 1 {
		if _, err := e.Rotate(now, 24*time.Hour); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	if len(e.Secrets) != maxSecrets {
		t.Fatalf("%d secrets after %d rotations, want %d", len(e.Secrets), maxSecrets-1, maxSecrets)
	}
	if _, err := e.Rotate(now, 24*time.Hour); !errors.Is(err, ErrTooManySecrets) || !errors.Is(err, ErrConflict) || len(e.Secrets) != maxSecrets {
		t.Fatalf("a rotation with %d secrets signing: %v, %d secrets; want ErrTooManySecrets (409) and nothing changed", maxSecrets, err, len(e.Secrets))
	}
	if _, err := e.Rotate(now.Add(25*time.Hour), 24*time.Hour); err != nil || len(e.Secrets) != 2 {
		t.Errorf("a rotation once the old ones expired: %v, %d secrets; want it made, with the one it replaces", err, len(e.Secrets))
	}
}

// Prod's NetworkPolicy lets deliveries out on 443 only: another port is refused at
// registration there, and anywhere a literal address deliveries may not reach.
func TestRegistrationRefusesWhatNoDeliveryReaches(t *testing.T) {
	for _, c := range []struct {
		url  string
		prod bool
		ok   bool
	}{
		{"https://shop.kz/hook", true, true},
		{"https://shop.kz:443/hook", true, true},
		{"https://shop.kz:8443/hook", true, false},
		{"https://shop.kz:8443/hook", false, true},
		{"https://93.184.216.34/hook", true, true},
		{"https://127.0.0.1/hook", false, false},
		{"https://[fd00::1]/hook", false, false},
		{"https://[::ffff:10.0.0.1]/hook", false, false},
	} {
		err := reachable(c.url, Guard{}, c.prod)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s (prod %v): %v, want accepted %v", c.url, c.prod, err, c.ok)
		}
	}
}
