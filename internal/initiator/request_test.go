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
