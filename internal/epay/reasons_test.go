package epay

import (
	"strconv"
	"strings"
	"testing"
)

func TestReasonKnownCodes(t *testing.T) {
	tests := []struct {
		code   int
		en, ru string
	}{
		{0, "Success", "Успешно"},
		{484, "Insufficient funds", "Недостаточно средств"},
		{498, "Payment with bonuses is unavailable", "Оплата бонусами недоступна"},
		{3298, "Description is too long", "Слишком длинное описание"},
	}
	for _, tt := range tests {
		got, ok := Reason(tt.code)
		if !ok || got.EN != tt.en || got.RU != tt.ru {
			t.Errorf("Reason(%d) = %+v, %v; want {%s %s}, true", tt.code, got, ok, tt.en, tt.ru)
		}
	}
}

// Every code FACTS.md lists is in the table, in both languages.
func TestReasonTableIsComplete(t *testing.T) {
	codes := []int{455, 457, 458, 459, 460, 462, 463, 464, 465, 466, 467, 470, 471, 472, 473, 476,
		478, 479, 481, 482, 483, 484, 485, 488, 489, 491, 492, 493, 494, 498, 504, 1654, 2740, 3298}
	for _, code := range codes {
		r, ok := Reason(code)
		if !ok || r.EN == "" || r.RU == "" {
			t.Errorf("Reason(%d) = %+v, %v; want a known code with both texts", code, r, ok)
		}
		if strings.Contains(r.EN, "ePay reason code") {
			t.Errorf("Reason(%d) fell through to the unknown text", code)
		}
	}
}

func TestReasonUnknownCodesPassThrough(t *testing.T) {
	for _, code := range []int{-498, -1, 1, 999, 100000} {
		r, ok := Reason(code)
		if ok {
			t.Errorf("Reason(%d) ok = true, want false", code)
		}
		n := strconv.Itoa(code)
		if !strings.Contains(r.EN, n) || !strings.Contains(r.RU, n) {
			t.Errorf("Reason(%d) = %+v, want both texts to name the code", code, r)
		}
	}
}
