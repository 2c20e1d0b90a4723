package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

// The 401 reasons are epay's own labels, prefixed: one vocabulary on every dashboard.
func TestSecretHashRejectionsUseEpayReasons(t *testing.T) {
	for _, err := range []error{epay.ErrSecretHashMissing, epay.ErrSecretHashMalformed, epay.ErrSecretHashUnknownKey,
		epay.ErrSecretHashMismatch, fmt.Errorf("wrapped: %w", epay.ErrSecretHashMismatch)} {
		rej := secretHashRejection(err)
		if want := "secret_hash_" + epay.SecretHashReason(err); rej.reason() != want {
			t.Errorf("%v: reason %q, want %q", err, rej.reason(), want)
		}
		if rej.status() != http.StatusUnauthorized {
			t.Errorf("%v: status %d", err, rej.status())
		}
	}
}

func TestEveryRejectionHasAReasonAndA4xx(t *testing.T) {
	seen := map[string]bool{}
	for r := range numRejections {
		if r.reason() == "" || seen[r.reason()] || r.status() < 400 || r.status() > 499 {
			t.Errorf("rejection %d: reason %q, status %d", r, r.reason(), r.status())
		}
		seen[r.reason()] = true
	}
}

func TestDecodeAndValidateRejections(t *testing.T) {
	tests := []struct {
		err  error
		want rejection
	}{
		{epay.ErrNotJSONObject, rejBadJSON},
		{fmt.Errorf("%w: x", epay.ErrDuplicateKey), rejDuplicateKey},
		{fmt.Errorf("%w: x", epay.ErrCaseVariantKey), rejCaseVariantKey},
		{fmt.Errorf("%w: x", epay.ErrFieldType), rejBadFieldType},
		{errors.Join(fmt.Errorf("%w: missing", epay.ErrInvoiceID), fmt.Errorf("%w: missing", epay.ErrTransactionID)), rejBadInvoiceID},
		{fmt.Errorf("%w: missing", epay.ErrTransactionID), rejBadID},
	}
	for _, tt := range tests {
		var got rejection
		if errors.Is(tt.err, epay.ErrInvoiceID) || errors.Is(tt.err, epay.ErrTransactionID) {
			got = validateRejection(tt.err)
		} else {
			got = decodeRejection(tt.err)
		}
		if got != tt.want {
			t.Errorf("%v: %s, want %s", tt.err, got.reason(), tt.want.reason())
		}
	}
}

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{"ok": true, "error": true, "OK": true, "": true, "payment.declined-1_x": true,
		"ok\n": false, "o k": false, "ошибка": false, "a:b": false, "123456789012345678901234567890123": false} {
		if got := validCode(code); got != want {
			t.Errorf("validCode(%q) = %v, want %v", code, got, want)
		}
	}
}
