package epay

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateInvoiceID(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		mention string // part of the error that says what is wrong
	}{
		{"123456", true, ""},
		{"191111111", true, ""},
		{"10000000001", true, ""},
		{"000000001", true, ""},
		{"123456789012345", true, ""},
		{"", false, "missing"},
		{"12345", false, "5 characters"},
		{"1234567890123456", false, "16 characters"},
		{"12345a", false, "character 6"},
		{"a23456", false, "character 1"},
		{"123 456", false, "character 4"},
		{"-123456", false, "character 1"},
		{"12345.6", false, "character 6"},
		{"１２３４５６", false, "18 characters"},
		{"12345٦", false, "character 6"},
	}
	for _, tt := range tests {
		err := ValidateInvoiceID(tt.in)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidateInvoiceID(%q) = %v, want nil", tt.in, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvoiceID) {
			t.Errorf("ValidateInvoiceID(%q) = %v, want ErrInvoiceID", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ValidateInvoiceID(%q) = %q, want it to mention %q", tt.in, err, tt.mention)
		}
	}
}

func TestValidateTransactionID(t *testing.T) {
	ok := []string{"1", "1d1a11f1-1111-111c-1113b-e8340ce51111", "abc_DEF-123", strings.Repeat("a", TransactionIDMaxLen)}
	for _, s := range ok {
		if err := ValidateTransactionID(s); err != nil {
			t.Errorf("ValidateTransactionID(%q) = %v, want nil", s, err)
		}
	}
	bad := []string{"", strings.Repeat("a", TransactionIDMaxLen+1), "a b", "a:b", "a.b", "a/b", "é", "a\nb", "a*"}
	for _, s := range bad {
		if err := ValidateTransactionID(s); !errors.Is(err, ErrTransactionID) {
			t.Errorf("ValidateTransactionID(%q) = %v, want ErrTransactionID", s, err)
		}
	}
}
