package sandbox

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epaytest"
)

type judgeCase struct {
	name                string
	number, expiry, cvc string
	code                int
	mask, typ           string
	at                  time.Time
}

func TestJudgeCards(t *testing.T) {
	cfg := DefaultConfig()
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, epaytest.Zone)
	cases := []judgeCase{
		{"published visa pays", "4405639704015096", "01/27", "321", 0, "440563...5096", "VISA", time.Time{}},
		{"published mastercard pays", "5522042705066736", "01/27", "775", 0, "552204...6736", "MASTERCARD", time.Time{}},
		{"spaces and dashes are ignored", "4405 6397-0401 5096", "01/2027", "321", 0, "440563...5096", "VISA", time.Time{}},
		{"expiry as MMYY", "4405639704015096", "0127", "321", 0, "440563...5096", "VISA", time.Time{}},
		{"locked visa declines", "4003032704547597", "05/29", "000", 465, "400303...7597", "VISA", time.Time{}},
		{"locked mastercard declines", "5578342710750560", "05/29", "000", 465, "557834...0560", "MASTERCARD", time.Time{}},
		{"unknown card lacks funds", "4111111111111111", "05/29", "123", 484, "411111...1111", "VISA", time.Time{}},
		{"2-series mastercard", "2223000048400011", "05/29", "123", 484, "222300...0011", "MASTERCARD", time.Time{}},
		{"last month is expired", "4405639704015096", "10/26", "321", 478, "440563...5096", "VISA", time.Time{}},
		{"this month is still good", "4111111111111111", "11/26", "321", 484, "411111...1111", "VISA", time.Time{}},
		{"test card with another expiry", "4405639704015096", "01/28", "321", 457, "440563...5096", "VISA", time.Time{}},
		{"test card with another cvc", "4405639704015096", "01/27", "123", 462, "440563...5096", "VISA", time.Time{}},
		{"published card still pays after its expiry", "5522042705066736", "01/27", "775", 0, "552204...6736", "MASTERCARD", time.Date(2031, 5, 1, 0, 0, 0, 0, epaytest.Zone)},
		{"other card past its expiry then", "4111111111111111", "01/27", "775", 478, "411111...1111", "VISA", time.Date(2031, 5, 1, 0, 0, 0, 0, epaytest.Zone)},
		{"not-final card", NotFinalCard, "05/29", "123", 454, "401288...1881", "VISA", time.Time{}},
		{"not-final card, any future expiry and CVC", NotFinalCard, "11/26", "9999", 454, "401288...1881", "VISA", time.Time{}},
		{"not-final card past its expiry", NotFinalCard, "10/26", "123", 478, "401288...1881", "VISA", time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, v, err := cfg.judge(cardEntry{number: c.number, expiry: c.expiry, cvc: c.cvc}, c.now(now))
			if err != nil || v.code != c.code || v.notFinal != (c.code == reasonNotFinal) || k.Mask != c.mask || k.Type != c.typ {
				t.Fatalf("got %+v %+v %v, want %s %s %d", k, v, err, c.mask, c.typ, c.code)
			}
		})
	}
}

func (c judgeCase) now(def time.Time) time.Time {
	if c.at.IsZero() {
		return def
	}
	return c.at
}

func TestJudgeFormErrors(t *testing.T) {
	cfg := DefaultConfig()
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, epaytest.Zone)
	for name, e := range map[string]cardEntry{
		"luhn":        {"4405639704015097", "01/27", "321", ""},
		"short":       {"44056397", "01/27", "321", ""},
		"too long":    {"44056397040150964405", "01/27", "321", ""},
		"month 13":    {"4405639704015096", "13/27", "321", ""},
		"month 0":     {"4405639704015096", "00/27", "321", ""},
		"year of 3":   {"4405639704015096", "01/027", "321", ""},
		"cvc letters": {"4405639704015096", "01/27", "3a1", ""},
		"cvc of 5":    {"4405639704015096", "01/27", "32111", ""},
		"empty":       {},
	} {
		if _, _, err := cfg.judge(e, now); !errors.Is(err, ErrCardForm) {
			t.Errorf("%s: err = %v, want ErrCardForm", name, err)
		}
	}
}

func TestFIFOEvictsTheOldest(t *testing.T) {
	f := newFIFO[int, string](3)
	for i := 1; i <= 3; i++ {
		f.put(i, "v")
	}
	f.delete(1)
	f.put(1, "again") // re-inserted: now the newest
	if ev := f.put(4, "v"); len(ev) != 1 {
		t.Fatalf("evicted %v, want one", ev)
	}
	if _, ok := f.get(2); ok {
		t.Error("2 should be evicted first")
	}
	if _, ok := f.get(1); !ok {
		t.Error("1 was re-inserted after 2 and 3: it must stay")
	}
	for i := 5; i < 1000; i++ {
		f.put(i, "v")
		f.delete(i - 1)
	}
	if f.len() > 3 || len(f.order) > 3*2+16+3 {
		t.Fatalf("len %d, order %d: not bounded", f.len(), len(f.order))
	}
}

func TestInvoicesAreBounded(t *testing.T) {
	s := newStore(10)
	for i := range 25 {
		id := 100000 + i
		terms := invoiceTerms{invoiceID: strconv.Itoa(id), amount: 100}
		s.addTxn(terms, &txn{id: "t" + strconv.Itoa(id), status: statusCharge})
	}
	if s.invoices.len() != 10 || len(s.txns) != 10 {
		t.Fatalf("%d invoices, %d transactions, want 10 each", s.invoices.len(), len(s.txns))
	}
	if _, ok := s.lastTxn("100000"); ok {
		t.Error("the oldest invoice should be gone")
	}
}

func FuzzParsePaymentObject(f *testing.F) {
	f.Add([]byte(`{"invoiceId":"000000001","amount":100,"currency":"KZT","terminal":"t","cardSave":true,"auth":{"access_token":"X"}}`))
	f.Add([]byte(`{"invoiceId":123456,"amount":12.22,"auth":{"access_token":"X"}}`))
	f.Add([]byte(`{"invoiceId":" 000000002 ","amount":1.5,"description":"\u0416 \"q\"","terminal":98120001,"auth":{"access_token":"X"}}`))
	f.Add([]byte(`{"auth":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parsePaymentObject(b)
		if err != nil {
			if !errors.Is(err, ErrPaymentObject) {
				t.Fatalf("error %v does not wrap ErrPaymentObject", err)
			}
			return
		}
		if o.accessToken == "" || o.amount <= 0 {
			t.Fatalf("accepted %+v", o)
		}
		// round trip: the object written back as the initiator writes one reads the same
		again, err := parsePaymentObject(encodePaymentObject(t, o))
		if err != nil || !reflect.DeepEqual(o, again) {
			t.Fatalf("round trip of %+v: %+v, %v", o, again, err)
		}
	})
}

// encodePaymentObject writes o as the initiator's PaymentObject JSON: strings, the
// amount a JSON number, the token under auth.
func encodePaymentObject(t *testing.T, o *paymentObject) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"invoiceId": o.invoiceID, "invoiceIdAlt": o.invoiceIDAlt, "backLink": o.backLink,
		"failureBackLink": o.failureBackLink, "postLink": o.postLink, "failurePostLink": o.failurePostLink,
		"language": o.language, "description": o.description, "accountId": o.accountID,
		"terminal": o.terminal, "currency": o.currency, "phone": o.phone, "email": o.email, "name": o.name,
		"amount": o.amount, "auth": map[string]string{"access_token": o.accessToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
