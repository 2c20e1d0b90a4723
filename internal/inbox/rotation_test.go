package inbox

import (
	"time"

	"strings"
	"testing"
)

// A rotation of the workers' status key: the new signer signs with the new key only and
// still accepts, in every domain, what the previous key signed; a key that is in neither
// place is refused; the old signer (a worker not yet restarted) does not take the new
// key's signatures unless it lists it.
func TestAStatusKeyRotationKeepsWhatThePreviousKeySigned(t *testing.T) {
	oldKey, newKey, stranger := []byte("status-key-before-rotation-01"), []byte("status-key-after-rotation-002"), []byte("someone-elses-status-key-0003")
	before, _ := NewStatusSigner(oldKey)
	after, err := NewStatusSigner(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewStatusSigner(stranger)
	const subject, owner, url = "epay.state.3.123456789", "store-a", "http://10.0.0.7:8082"
	at := time.Now()
	body := []byte(`{"invoice":{"invoiceId":"123456789"}}`)
	checks := map[string]func(s StatusSigner, by StatusSigner) bool{
		"status": func(s, by StatusSigner) bool { return s.Check(subject, body, by.Sign(subject, body)) == nil },
		"resolution": func(s, by StatusSigner) bool {
			return s.CheckResolution(subject, body, by.SignResolution(subject, body)) == nil
		},
		"state":  func(s, by StatusSigner) bool { return s.CheckState(subject, body, by.SignState(subject, body)) == nil },
		"advert": func(s, by StatusSigner) bool { return s.CheckAdvert(owner, url, at, by.SignAdvert(owner, url, at)) },
	}
	for name, check := range checks {
		if !check(after, before) {
			t.Errorf("%s: the previous key's signature is refused after the rotation", name)
		}
		if !check(after, after) {
			t.Errorf("%s: the new key's signature is refused", name)
		}
		if check(after, other) {
			t.Errorf("%s: a key listed nowhere is accepted", name)
		}
		if check(before, after) {
			t.Errorf("%s: a worker with the old key alone takes the new key's signature", name)
		}
	}
	if after.Sign(subject, body) == before.Sign(subject, body) || after.NatsMsgID("st:1") == before.NatsMsgID("st:1") {
		t.Error("the rotated signer still signs with the previous key")
	}
	if _, err := NewStatusSigner(newKey, []byte("short")); err == nil || !strings.Contains(err.Error(), "shorter than 16") {
		t.Errorf("a short previous key: %v, want refused", err)
	}
}
