package initiator

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

func TestParsePaymentRequestNormalises(t *testing.T) {
	base := `"kind":"payment","amount":100,"currency":"KZT","description":"x"`
	tests := []struct {
		name  string
		extra string
		check func(*PaymentRequest) bool
	}{
		{"language defaults to rus", ``, func(p *PaymentRequest) bool { return p.Language == "rus" }},
		{"RU is rus", `,"language":"RU"`, func(p *PaymentRequest) bool { return p.Language == "rus" }},
		{"RUS is rus", `,"language":"RUS"`, func(p *PaymentRequest) bool { return p.Language == "rus" }},
		{"KZ is kaz", `,"language":"KZ"`, func(p *PaymentRequest) bool { return p.Language == "kaz" }},
		{"KAZ is kaz", `,"language":"KAZ"`, func(p *PaymentRequest) bool { return p.Language == "kaz" }},
		{"EN is eng", `,"language":"EN"`, func(p *PaymentRequest) bool { return p.Language == "eng" }},
		{"ENG is eng", `,"language":"ENG"`, func(p *PaymentRequest) bool { return p.Language == "eng" }},
		{"phone with a plus", `,"phone":"+77771234567"`, func(p *PaymentRequest) bool { return p.Phone == "77771234567" }},
		{"empty phone and email are absent", `,"phone":"","email":""`, func(p *PaymentRequest) bool { return p.Phone == "" && p.Email == "" }},
		{"cardSave true", `,"cardSave":true`, func(p *PaymentRequest) bool { return p.CardSave }},
		{"amount as a string", `,"amount":"12.22"`, nil},
		{"125 Latin characters", `,"description":"` + strings.Repeat("a", 125) + `"`, func(p *PaymentRequest) bool { return len(p.Description) == 125 }},
		{"62 Cyrillic characters", `,"description":"` + strings.Repeat("д", 62) + `"`, func(p *PaymentRequest) bool { return len([]rune(p.Description)) == 62 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "{" + base + tt.extra + "}"
			if strings.Contains(tt.extra, `"amount"`) {
				body = `{"kind":"payment","currency":"kzt","description":"x"` + tt.extra + "}"
			}
			if strings.Contains(tt.extra, `"description"`) {
				body = `{"kind":"payment","amount":100,"currency":"KZT"` + tt.extra + "}"
			}
			p, err := ParsePaymentRequest([]byte(body))
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if tt.check != nil && !tt.check(p) {
				t.Fatalf("%+v", p)
			}
			if tt.name == "amount as a string" && (p.Amount != epay.Amount(1222) || p.Currency != "KZT") {
				t.Fatalf("amount %v currency %s", p.Amount, p.Currency)
			}
		})
	}
}

// ePay's "at most 125 Latin or 62 Cyrillic characters" (3298 declines a longer one) is
// held to both of its readings: characters, and 125 bytes of UTF-8 (62 Cyrillic letters
// are 124). Counted in characters only, 62 '₸' or 62 emoji passed here and were declined
// by ePay once the invoice and its token existed.
func TestDescriptionIsHeldToCharactersAndBytes(t *testing.T) {
	const order = "Заказ №12345 — Ёлочные игрушки «Қазақстан» 🎄🎁✨🎅🎉 — доставка 🚚📦" // 62 characters, 126 bytes
	tests := []struct {
		name, description, err string // err: "" accepted, else the start of the field's error
	}{
		{"125 ASCII", strings.Repeat("a", 125), ""},
		{"126 ASCII", strings.Repeat("a", 126), "must be at most 125 characters (has 126)"},
		{"62 Cyrillic, 124 bytes", strings.Repeat("д", 62), ""},
		{"63 Cyrillic", strings.Repeat("д", 63), "must be at most 62 characters when it contains Cyrillic or other non-Latin letters (has 63)"},
		{"Latin and Cyrillic, 62 characters", "Order " + strings.Repeat("ж", 56), ""},
		{"a tenge sign and 61 Cyrillic, 125 bytes", "₸" + strings.Repeat("д", 61), ""},
		{"two tenge signs and 60 Cyrillic, 126 bytes", "₸₸" + strings.Repeat("д", 60), "must be at most 125 bytes of UTF-8 (has 126 bytes in 62 characters"},
		{"62 tenge signs, 186 bytes", strings.Repeat("₸", 62), "must be at most 125 bytes of UTF-8 (has 186 bytes in 62 characters"},
		{"62 emoji, 248 bytes", strings.Repeat("🎁", 62), "must be at most 125 bytes of UTF-8 (has 248 bytes in 62 characters"},
		{"an order with signs and emoji, 126 bytes", order, "must be at most 125 bytes of UTF-8 (has 126 bytes in 62 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"kind": "payment", "amount": 100, "currency": "KZT", "description": tt.description})
			p, err := ParsePaymentRequest(body)
			if tt.err == "" {
				if err != nil || p.Description != tt.description {
					t.Fatalf("%d characters, %d bytes: %v, want accepted", len([]rune(tt.description)), len(tt.description), err)
				}
				return
			}
			var fe FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 || !strings.HasPrefix(fe["description"], tt.err) {
				t.Fatalf("%d characters, %d bytes: %v, want description: %s…", len([]rune(tt.description)), len(tt.description), err, tt.err)
			}
		})
	}
}

func TestFieldErrorsMatchErrInvalid(t *testing.T) {
	_, err := ParsePaymentRequest([]byte(`{}`))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "amount: required") {
		t.Fatalf("err %v", err)
	}
}

func FuzzParsePaymentRequest(f *testing.F) {
	f.Add([]byte(sourceRequest))
	f.Add([]byte(`{"kind":"p2p","amount":"0.01","currency":"usd","description":"Ж"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePaymentRequest(b)
		if err != nil {
			return
		}
		if p.Amount <= 0 || p.Kind == "" || p.Currency == "" || p.Description == "" || p.Language == "" {
			t.Fatalf("accepted an incomplete request: %+v", p)
		}
		// round trip: what was read, written back as a merchant would, reads the same
		again, err := ParsePaymentRequest(encodePaymentRequest(t, p))
		if err != nil || !reflect.DeepEqual(*again, *p) {
			t.Fatalf("round trip of %+v: %+v, %v", p, again, err)
		}
	})
}

// encodePaymentRequest writes p as a request body; the optional fields only when set.
func encodePaymentRequest(t *testing.T, p *PaymentRequest) []byte {
	t.Helper()
	m := map[string]any{"kind": p.Kind, "amount": p.Amount, "currency": p.Currency, "description": p.Description,
		"language": p.Language, "cardSave": p.CardSave}
	for k, v := range map[string]string{"accountId": p.AccountID, "email": p.Email, "phone": p.Phone, "name": p.Name,
		"backLink": p.BackLink, "failureBackLink": p.FailureBackLink, "orderId": p.OrderID} {
		if v != "" {
			m[k] = v
		}
	}
	if len(p.Metadata) > 0 {
		m["metadata"] = p.Metadata
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The texts shown on ePay's page, in receipts and in events refuse bidirectional
// overrides, zero-width characters and line separators, as metadata does: "Order 42‮001
// KZT" would read backwards on a screen.
func TestShownTextsRefuseFormatCharacters(t *testing.T) {
	for _, field := range []string{"description", "name", "accountId"} {
		for _, bad := range []string{"Order\u202e24", "Ord\u200ber", "line\u2028two", "tab\there"} {
			body, _ := json.Marshal(map[string]any{"kind": "payment", "amount": "100", "currency": "KZT", "description": "Order 1", field: bad})
			if _, err := ParsePaymentRequest(body); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field+": must not contain control, format or line-separator characters") {
				t.Errorf("%s %q: %v, want refused", field, bad, err)
			}
		}
	}
}
