package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epaytest"
)

// ErrCardForm is wrapped by every error about what was typed into the card form; the
// form is shown again with the message, and nothing is sent to the merchant.
var ErrCardForm = errors.New("card form")

// testCard is one of the cards ePay publishes for its test environment, or one the
// sandbox adds for an outcome ePay's cards do not show.
type testCard struct {
	expiry   string // MM/YY
	cvc      string
	locked   bool
	notFinal bool // any future expiry and CVC: ePay's NOT FINAL outcome (454), money taken
}

// NotFinalCard is the sandbox's own test card for ePay's NOT FINAL outcome: the form
// and the callback report a failure (reason code 454) but the money is taken, which
// the status API shows after one "107" (in progress) answer.
const NotFinalCard = "4012888888881881"

var testCards = map[string]testCard{
	"4405639704015096": {expiry: "01/27", cvc: "321"},
	"5522042705066736": {expiry: "01/27", cvc: "775"},
	"4003032704547597": {locked: true},
	"5578342710750560": {locked: true},
	NotFinalCard:       {notFinal: true},
}

// Reason codes the card rules use besides the configured ones.
const (
	reasonNotFinal       = 454 // "not final, request the payment status" on ePay's table
	reasonWrongExpiry    = 457
	reasonIssuerDeclined = 462
	reasonExpired        = 478
)

// cardEntry is what the payer typed.
type cardEntry struct {
	number, expiry, cvc, holder string
}

// verdict is what the card form decides: the reason code it reports (0 is success)
// and, for ePay's NOT FINAL outcome, that the money is taken all the same.
type verdict struct {
	code     int
	notFinal bool
}

// judge decides a card payment: the card as ePay shows it and the verdict. A number that fails
// Luhn, a malformed expiry or CVC is an error wrapping ErrCardForm.
func (c Config) judge(e cardEntry, now time.Time) (epaytest.Card, verdict, error) {
	num := strings.NewReplacer(" ", "", "-", "").Replace(e.number)
	if len(num) < 12 || len(num) > 19 || !allDigits(num) || !luhn(num) {
		return epaytest.Card{}, verdict{}, fmt.Errorf("%w: the card number is not valid", ErrCardForm)
	}
	month, year, err := parseExpiry(e.expiry)
	if err != nil {
		return epaytest.Card{}, verdict{}, err
	}
	cvc := strings.TrimSpace(e.cvc)
	if len(cvc) < 3 || len(cvc) > 4 || !allDigits(cvc) {
		return epaytest.Card{}, verdict{}, fmt.Errorf("%w: the CVC is 3 or 4 digits", ErrCardForm)
	}
	k := epaytest.NewCard(num)
	tc, known := testCards[num]
	exact := known && tc.expiry != "" && fmt.Sprintf("%02d/%02d", month, year%100) == tc.expiry
	if exact && cvc == tc.cvc {
		// The published cards pay whatever the date, as ePay keeps its test cards
		// valid: a local stack must not stop working the month they expire.
		return k, verdict{}, nil
	}
	y, m, _ := now.Date()
	switch {
	case year < y || year == y && time.Month(month) < m:
		return k, verdict{code: reasonExpired}, nil
	case known && tc.notFinal:
		return k, verdict{code: reasonNotFinal, notFinal: true}, nil
	case known && tc.locked:
		return k, verdict{code: c.LockedCode}, nil
	case !known:
		return k, verdict{code: c.DeclineCode}, nil
	case !exact:
		return k, verdict{code: reasonWrongExpiry}, nil
	}
	return k, verdict{code: reasonIssuerDeclined}, nil // a published card with the wrong CVC
}

// parseExpiry reads MM/YY, MM/YYYY or MMYY.
func parseExpiry(s string) (month, year int, err error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	mm, yy, ok := strings.Cut(s, "/")
	if !ok && len(s) == 4 {
		mm, yy = s[:2], s[2:]
	}
	month, err1 := strconv.Atoi(mm)
	year, err2 := strconv.Atoi(yy)
	if err1 != nil || err2 != nil || len(mm) != 2 || (len(yy) != 2 && len(yy) != 4) || month < 1 || month > 12 {
		return 0, 0, fmt.Errorf("%w: the expiry date is MM/YY", ErrCardForm)
	}
	if len(yy) == 2 {
		year += 2000
	}
	return month, year, nil
}

// luhn reports whether a string of digits passes the Luhn check.
func luhn(num string) bool {
	sum := 0
	for i := 0; i < len(num); i++ {
		d := int(num[len(num)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
