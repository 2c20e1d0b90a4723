package epaytest_test

import (
	"errors"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

func TestSignedCallbackDecodesAndVerifiesForBothKinds(t *testing.T) {
	keys, err := epay.ParseKeyring("A:signed-callback-test-key-0001")
	if err != nil {
		t.Fatal(err)
	}
	opts := epaytest.TriggerOptions{InvoiceID: "000000100001", Amount: 150_00, Keys: keys}
	for _, tt := range []struct {
		name       string
		reasonCode int
		succeeded  bool
	}{
		{"success", 0, true},
		{"failure", 484, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, body := epaytest.SignedCallback(opts, tt.reasonCode)
			cb, err := epay.DecodeCallback(body)
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, body)
			}
			if err := cb.Validate(); err != nil {
				t.Fatal(err)
			}
			if cb.ID != id || cb.InvoiceID != opts.InvoiceID || cb.Amount != opts.Amount || cb.Succeeded() != tt.succeeded {
				t.Errorf("got id %q invoice %q amount %s succeeded %v", cb.ID, cb.InvoiceID, cb.Amount, cb.Succeeded())
			}
			if err := keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash); err != nil {
				t.Errorf("secret_hash: %v", err)
			}
		})
	}
}

func TestSignedCallbackWithWrongHashDoesNotVerify(t *testing.T) {
	keys, _ := epay.ParseKeyring("A:signed-callback-test-key-0001")
	_, body := epaytest.SignedCallback(epaytest.TriggerOptions{InvoiceID: "000000100002", Amount: 100, Keys: keys, WrongHash: true}, 0)
	cb, err := epay.DecodeCallback(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash); !errors.Is(err, epay.ErrSecretHashMismatch) {
		t.Errorf("Verify = %v, want a mismatch", err)
	}
}
