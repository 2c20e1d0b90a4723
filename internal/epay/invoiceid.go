package epay

import (
	"errors"
	"fmt"
)

// ErrInvoiceID is wrapped by every error about a malformed invoiceId.
var ErrInvoiceID = errors.New("invalid invoiceId")

// Invoice id length bounds, as the ePay form documents them.
const (
	InvoiceIDMinLen = 6
	InvoiceIDMaxLen = 15
)

// ValidateInvoiceID reports whether s is an invoiceId ePay accepts: digits only,
// 6 to 15 of them. The error wraps ErrInvoiceID and says what is wrong.
func ValidateInvoiceID(s string) error {
	if s == "" {
		return fmt.Errorf("%w: missing", ErrInvoiceID)
	}
	if len(s) < InvoiceIDMinLen || len(s) > InvoiceIDMaxLen {
		return fmt.Errorf("%w: %d characters, want %d to %d digits", ErrInvoiceID, len(s), InvoiceIDMinLen, InvoiceIDMaxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%w: character %d is not a digit", ErrInvoiceID, i+1)
		}
	}
	return nil
}

// ErrTransactionID is wrapped by every error about a malformed transaction id
// (the callback's "id").
var ErrTransactionID = errors.New("invalid transaction id")

// TransactionIDMaxLen bounds the callback's "id". ePay sends UUID-like strings.
const TransactionIDMaxLen = 64

// ValidateTransactionID reports whether s looks like an ePay transaction id:
// 1 to 64 characters of letters, digits, '-' and '_'.
func ValidateTransactionID(s string) error {
	if s == "" {
		return fmt.Errorf("%w: missing", ErrTransactionID)
	}
	if len(s) > TransactionIDMaxLen {
		return fmt.Errorf("%w: %d characters, at most %d", ErrTransactionID, len(s), TransactionIDMaxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("%w: character %d is not a letter, digit, '-' or '_'", ErrTransactionID, i+1)
		}
	}
	return nil
}
