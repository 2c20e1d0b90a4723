package epay

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
	}{
		{"0", 0},
		{"1", 100},
		{"100", 10000},
		{"12.2", 1220},
		{"12.22", 1222},
		{"12.20", 1220},
		{"0.01", 1},
		{"0.1", 10},
		{"007", 700},
		{"100.000", 10000},
		{"12.220000", 1222},
		{"999999999", 99999999900},
		{"100000000000", MaxAmount},
		// a float64's rendering of a cent value: 22.22 - 10, 0.1 + 0.2, 1.1 * 3
		{"12.219999999999999", 1222},
		{"0.30000000000000004", 30},
		{"3.3000000000000003", 330},
		{"0.92999999999995", 93},          // 754.4 - 753.47
		{"1.8599999999999", 186},          // 757.8 - 755.94
		{"69736781.38999999", 6973678139}, // large amounts carry more float error
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseAmountRejects(t *testing.T) {
	for _, in := range []string{
		"", ".", ".5", "5.", "-1", "+1", "1e2", "1E2", "12.223", "12.001", "12.225", "12.2250000000001", "12.2199999", "12.2150000000", "12.2199999999999999999", "-12.219999999999999", "1,5", " 1", "1 ",
		"0x10", "NaN", "Inf", "1.2.3", "１", "100000000000.01", "1000000000000", "99999999999999999999999",
	} {
		got, err := ParseAmount(in)
		if !errors.Is(err, ErrAmount) {
			t.Errorf("ParseAmount(%q) = %d, %v; want an ErrAmount", in, got, err)
		}
	}
}

func TestAmountString(t *testing.T) {
	tests := []struct {
		in   Amount
		want string
	}{
		{0, "0"},
		{1, "0.01"},
		{10, "0.1"},
		{100, "1"},
		{1220, "12.2"},
		{1222, "12.22"},
		{10000, "100"},
		{10005, "100.05"},
		{-1222, "-12.22"},
		{-5, "-0.05"},
		{-10, "-0.1"},
		{MaxAmount, "100000000000"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if got := string(tt.in.AppendJSON([]byte("x:"))); got != "x:"+tt.want {
			t.Errorf("Amount(%d).AppendJSON(x:) = %q, want %q", int64(tt.in), got, "x:"+tt.want)
		}
	}
}

func TestAmountRoundTrip(t *testing.T) {
	for _, a := range []Amount{0, 1, 9, 10, 99, 100, 101, 1222, 123456789, MaxAmount} {
		got, err := ParseAmount(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", a.String(), got, err, a)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	var v struct {
		A Amount `json:"a"`
		B Amount `json:"b"`
		C Amount `json:"c"`
	}
	v.C = 7
	if err := json.Unmarshal([]byte(`{"a":12.22,"b":"100","c":null}`), &v); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if v.A != 1222 || v.B != 10000 || v.C != 7 {
		t.Errorf("decoded a=%d b=%d c=%d; want 1222, 10000 and c untouched by null", v.A, v.B, v.C)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(out) != `{"a":12.22,"b":100,"c":0.07}` {
		t.Errorf("Marshal = %s", out)
	}
	if err := json.Unmarshal([]byte(`{"a":"x"}`), &v); !errors.Is(err, ErrAmount) {
		t.Errorf("Unmarshal of a word = %v, want ErrAmount", err)
	}
}
