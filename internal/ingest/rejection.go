package ingest

import (
	"errors"
	"net/http"

	"github.com/epayflow/epayflow/internal/epay"
)

// rejection is why a callback is refused with a 4xx. The table below is the one place
// that maps each to its HTTP status and its metric label.
type rejection uint8

const (
	rejMethod rejection = iota
	rejTooLarge
	rejReadError
	rejBadJSON
	rejDuplicateKey
	rejCaseVariantKey
	rejBadFieldType
	rejBadInvoiceID
	rejBadID
	rejBadCode
	rejSecretHashMissing
	rejSecretHashMalformed
	rejSecretHashUnknownKey
	rejSecretHashMismatch
	rejForbidden
	rejRateLimited
	rejInvoiceBudget
	numRejections
)

var rejections = [numRejections]struct {
	reason string
	status int
}{
	rejMethod:               {"method", http.StatusMethodNotAllowed},
	rejTooLarge:             {"too_large", http.StatusRequestEntityTooLarge},
	rejReadError:            {"read_error", http.StatusBadRequest},
	rejBadJSON:              {"bad_json", http.StatusBadRequest},
	rejDuplicateKey:         {"duplicate_key", http.StatusBadRequest},
	rejCaseVariantKey:       {"case_variant_key", http.StatusBadRequest},
	rejBadFieldType:         {"bad_field_type", http.StatusBadRequest},
	rejBadInvoiceID:         {"bad_invoice_id", http.StatusBadRequest},
	rejBadID:                {"bad_id", http.StatusBadRequest},
	rejBadCode:              {"bad_code", http.StatusBadRequest},
	rejSecretHashMissing:    {"secret_hash_missing", http.StatusUnauthorized},
	rejSecretHashMalformed:  {"secret_hash_malformed", http.StatusUnauthorized},
	rejSecretHashUnknownKey: {"secret_hash_unknown_key", http.StatusUnauthorized},
	rejSecretHashMismatch:   {"secret_hash_mismatch", http.StatusUnauthorized},
	rejForbidden:            {"forbidden", http.StatusForbidden},
	rejRateLimited:          {"rate_limited", http.StatusTooManyRequests},
	rejInvoiceBudget:        {"invoice_budget", http.StatusTooManyRequests},
}

func (r rejection) reason() string { return rejections[r].reason }
func (r rejection) status() int    { return rejections[r].status }

// decodeRejection classifies an error of epay.DecodeCallback.
func decodeRejection(err error) rejection {
	switch {
	case errors.Is(err, epay.ErrDuplicateKey):
		return rejDuplicateKey
	case errors.Is(err, epay.ErrCaseVariantKey):
		return rejCaseVariantKey
	case errors.Is(err, epay.ErrFieldType):
		return rejBadFieldType
	default:
		return rejBadJSON
	}
}

// validateRejection classifies an error of Callback.Validate: the invoiceId first.
func validateRejection(err error) rejection {
	if errors.Is(err, epay.ErrInvoiceID) {
		return rejBadInvoiceID
	}
	return rejBadID
}

// secretHashRejection classifies an error of Keyring.Verify.
func secretHashRejection(err error) rejection {
	switch {
	case errors.Is(err, epay.ErrSecretHashMissing):
		return rejSecretHashMissing
	case errors.Is(err, epay.ErrSecretHashMalformed):
		return rejSecretHashMalformed
	case errors.Is(err, epay.ErrSecretHashUnknownKey):
		return rejSecretHashUnknownKey
	default:
		return rejSecretHashMismatch
	}
}

// maxCodeLen bounds the callback's code, which goes into the Nats-Msg-Id. ePay sends
// "ok" or "error".
const maxCodeLen = 32

// validCode reports whether code can go into a Nats-Msg-Id as it is: short, and
// letters, digits, '-', '_' and '.' only. An empty code is kept: the worker decides.
func validCode(code string) bool {
	if len(code) > maxCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
