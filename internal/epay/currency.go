package epay

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCurrency is wrapped by the error for a currency ePay does not take.
var ErrCurrency = errors.New("unknown currency")

var currencies = map[string]bool{"KZT": true, "USD": true, "EUR": true, "RUB": true}

// NormalizeCurrency returns the ISO 4217 code in upper case, or an error wrapping
// ErrCurrency for a currency outside KZT, USD, EUR and RUB.
func NormalizeCurrency(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if !currencies[c] {
		return "", fmt.Errorf("%w: %q (want KZT, USD, EUR or RUB)", ErrCurrency, truncate(s))
	}
	return c, nil
}
