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
		{"random digits make ids longer than fifteen", Scheme{Prefix: "1", Width: 11, Random: 4}},
		{"more random digits than allowed", Scheme{Prefix: "1", Width: 6, Random: 6}},
		{"negative random digits", Scheme{Prefix: "1", Width: 6, Random: -1}},
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
	if err := ProdScheme().Validate(); err != nil {
		t.Fatalf("prod scheme invalid: %v", err)
	}
}

// ProdScheme's ids are 15 digits: the prefix, the sequence's leading digits, 5 random
// digits, then the sequence's last 6 (ePay's unique suffix, unchanged). Ids of the same
// sequence number made twice differ only in the random digits, the next id cannot be told
// from the last one's, and every id of a million made in a row is distinct, with distinct
// last 6 digits, and never a DefaultScheme id.
func TestProdSchemeIdsCannotBeGuessedAndStayUnique(t *testing.T) {
	s := ProdScheme()
	first, err := s.Format(1_000_001)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 15 || first[:4] != "1001" || first[9:] != "000001" || epay.ValidateInvoiceID(first) != nil {
		t.Fatalf("Format(1000001) = %q, want 1 001 ????? 000001", first)
	}
	middles := map[string]bool{}
	for range 50 {
		id, _ := s.Format(1_000_001)
		middles[id[4:9]] = true
	}
	if len(middles) < 45 { // 50 draws of 10^5: a repeat is rare, ten would be broken randomness
		t.Fatalf("50 ids of one sequence number have %d distinct random parts, want nearly 50", len(middles))
	}
	seen, suffixes := make(map[string]bool, 1_000_000), make(map[string]bool, 1_000_000)
	prev := ""
	nextGuessed := 0
	for seq := uint64(500_000); seq < 1_500_000; seq++ {
		id, err := s.Format(seq)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] || suffixes[id[9:]] || len(id) == len("100000000001") {
			t.Fatalf("seq %d: id %q repeats an id or a last-6, or has a DefaultScheme id's length", seq, id)
		}
		seen[id], suffixes[id[9:]] = true, true
		if prev != "" && id[4:9] == prev[4:9] {
			nextGuessed++
		}
		prev = id
	}
	if nextGuessed > 100 { // one in 10^5 expected: 10 of a million
		t.Fatalf("%d of a million ids shared their random digits with the one before", nextGuessed)
	}
}
