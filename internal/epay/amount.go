package epay

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrAmount is wrapped by every error about a malformed amount.
var ErrAmount = errors.New("invalid amount")

// Amount is a sum of money in minor units (tiyn, cents): 12.22 KZT is Amount(1222).
// ePay sends amounts as JSON numbers with at most two decimals; keeping them as
// integers means no float ever touches money.
type Amount int64

// MaxAmount bounds an amount (one hundred billion major units), far above any payment
// and far below int64 overflow.
const MaxAmount Amount = 100_000_000_000_00

// ParseAmount parses a decimal such as "100", "12.2" or "12.22". It refuses signs,
// exponents, more than two significant decimals and values above MaxAmount.
// Trailing zero decimals ("100.000") are accepted, and so is a binary float's rendering
// of an amount in cents: "12.219999999999999" (ePay's status sample computes amount as
// orgAmount 22.22 less payoutAmount 10; a float64 writes that difference so) is 12.22.
// "12.225" and "12.2250000000001", which no float64 writes for a cent value, are refused.
func ParseAmount(s string) (Amount, error) {
	if a, ok := floatCents(s); ok {
		return a, nil
	}
	return parseAmount(s)
}

// floatCents reads s as the shortest rendering of a float64 (strconv's, and JSON
// encoders') with 8 decimals or more that lies within a thousandth of a cent of a whole
// number of cents (a float64's error on amounts up to MaxAmount is far below that, and
// a value half a cent off, "12.225", is far above it).
func floatCents(s string) (Amount, bool) {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) < 8 || whole == "" || !allDigits(whole) || !allDigits(frac) || len(whole) > 12 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strconv.FormatFloat(f, 'f', -1, 64) != strings.TrimRight(s, "0") {
		return 0, false
	}
	cents := math.Round(f * 100)
	if math.Abs(f*100-cents) > 1e-3 || cents > float64(MaxAmount) {
		return 0, false
	}
	return Amount(cents), true
}

func parseAmount(s string) (Amount, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrAmount)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || hasDot && frac == "" {
		return 0, fmt.Errorf("%w: %q is not a decimal number", ErrAmount, truncate(s))
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%w: %q is not a plain decimal number", ErrAmount, truncate(s))
	}
	if len(frac) > 2 {
		if strings.Trim(frac[2:], "0") != "" {
			return 0, fmt.Errorf("%w: %q has more than two decimals", ErrAmount, truncate(s))
		}
		frac = frac[:2]
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 12 {
		return 0, fmt.Errorf("%w: %q is too large", ErrAmount, truncate(s))
	}
	var a int64
	if whole != "" {
		a, _ = strconv.ParseInt(whole, 10, 64)
	}
	a *= 100
	switch len(frac) {
	case 1:
		a += int64(frac[0]-'0') * 10
	case 2:
		a += int64(frac[0]-'0')*10 + int64(frac[1]-'0')
	}
	if Amount(a) > MaxAmount {
		return 0, fmt.Errorf("%w: %q is too large", ErrAmount, truncate(s))
	}
	return Amount(a), nil
}

// String formats the amount the way ePay writes it: "100", "12.2", "12.22".
func (a Amount) String() string { return string(a.AppendJSON(make([]byte, 0, 24))) }

// AppendJSON appends the amount as String writes it (a JSON number).
func (a Amount) AppendJSON(b []byte) []byte {
	u := uint64(a)
	if a < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/100, 10)
	if cents := u % 100; cents != 0 {
		b = append(b, '.', byte('0'+cents/10))
		if cents%10 != 0 {
			b = append(b, byte('0'+cents%10))
		}
	}
	return b
}

// MarshalJSON writes the amount as a JSON number, as the payment form expects.
func (a Amount) MarshalJSON() ([]byte, error) { return a.AppendJSON(make([]byte, 0, 24)), nil }

// UnmarshalJSON reads a JSON number or a string holding one. A JSON null leaves the
// amount as it was, as encoding/json does for its own types.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate keeps error messages about outside input short.
func truncate(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
