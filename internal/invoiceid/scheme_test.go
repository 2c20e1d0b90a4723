package invoiceid

import (
	"errors"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

func TestSchemeFormatPadsToAFixedWidthAfterThePrefix(t *testing.T) {
	tests := []struct {
		name   string
		scheme Scheme
		seq    uint64
		want   string
	}{
		{"first id of the default scheme", DefaultScheme(), 1, "100000000001"},
		{"a million and one", DefaultScheme(), 1_000_001, "100001000001"},
		{"last id of the default scheme", DefaultScheme(), 99_999_999_999, "199999999999"},
		{"shortest scheme gives 7 digits", Scheme{Prefix: "9", Width: 6}, 42, "9000042"},
		{"longest scheme gives 15 digits", Scheme{Prefix: "123", Width: 12}, 7, "123000000000007"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.scheme.Format(tt.seq)
			if err != nil {
				t.Fatalf("Format(%d): %v", tt.seq, err)
			}
			if got != tt.want {
				t.Fatalf("Format(%d) = %q, want %q", tt.seq, got, tt.want)
			}
			if err := epay.ValidateInvoiceID(got); err != nil {
				t.Fatalf("ePay would refuse %q: %v", got, err)
			}
		})
	}
}

func TestSchemeFormatKeepsTheSequenceInTheLastSixDigits(t *testing.T) {
	s := DefaultScheme()
	for _, seq := range []uint64{1, 999_999, 1_000_000, 123_456_789} {
		id, err := s.Format(seq)
		if err != nil {
			t.Fatal(err)
		}
		want := seq % 1_000_000
		var got uint64
		for _, c := range id[len(id)-6:] {
			got = got*10 + uint64(c-'0')
		}
		if got != want {
			t.Fatalf("Format(%d) = %q: last 6 digits %d, want %d", seq, id, got, want)
		}
	}
}

func TestSchemeFormatRefusesZeroAndOverflow(t *testing.T) {
	s := Scheme{Prefix: "1", Width: 6}
	if _, err := s.Format(0); err == nil {
		t.Fatal("Format(0) succeeded")
	}
	if _, err := s.Format(1_000_000); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Format(10^6) with width 6: err %v, want ErrExhausted", err)
	}
}

func TestSchemeValidateRefusesSchemesThatBreakEPayRules(t *testing.T) {
	tests := []struct {
		name   string
		scheme Scheme
	}{
		{"empty prefix", Scheme{Prefix: "", Width: 11}},
		{"prefix of four digits", Scheme{Prefix: "1234", Width: 6}},
		{"prefix with a letter", Scheme{Prefix: "1a", Width: 6}},
		{"prefix starting with zero", Scheme{Prefix: "01", Width: 6}},
		{"width below six", Scheme{Prefix: "1", Width: 5}},
		{"ids longer than fifteen digits", Scheme{Prefix: "12", Width: 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.scheme.Validate(); !errors.Is(err, ErrScheme) {
				t.Fatalf("Validate() = %v, want ErrScheme", err)
			}
		})
	}
	if err := DefaultScheme().Validate(); err != nil {
		t.Fatalf("default scheme invalid: %v", err)
	}
}
