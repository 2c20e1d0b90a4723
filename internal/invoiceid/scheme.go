package invoiceid

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
)

// ErrExhausted is returned when the sequence has no number left for the scheme's width.
var ErrExhausted = errors.New("invoiceid: sequence exhausted")

// ErrScheme is wrapped by every error about a malformed Scheme.
var ErrScheme = errors.New("invoiceid: invalid scheme")

// suffixDigits is how many trailing digits ePay wants unique.
const suffixDigits = 6

// Scheme turns a sequence number into an invoiceId: Prefix, then the number zero-padded
// to Width digits, with Random random digits put before its last 6.
type Scheme struct {
	// Prefix is 1 to 3 digits, not starting with 0, so ids never start with a zero.
	Prefix string
	// Width is the number of sequence digits: at least 6 (the unique suffix), and
	// len(Prefix)+Width+Random at most 15.
	Width int
	// Random digits (0 to MaxRandom), drawn anew for each id, stand between the sequence's
	// leading digits and its last 6, so that the next ids cannot be guessed from one's own:
	// ePay's P2P transfer token binds no invoiceId, and a shopper who could name the next
	// invoice could pay a tenge against it before its buyer. Ids stay unique without them
	// (the sequence's digits are all there, at fixed places) and the last 6 digits are
	// still the sequence's.
	Random int
}

// MaxRandom bounds Scheme.Random: each random digit is one sequence digit less.
const MaxRandom = 5

// DefaultScheme gives 12-digit ids from 100000000001 on, 10^11-1 of them, in order: what
// the local stack and ePay's test environment use, so that a walkthrough's ids are known.
func DefaultScheme() Scheme { return Scheme{Prefix: "1", Width: 11} }

// ProdScheme gives 15-digit ids, 10^9-1 of them, each with 5 random digits before its
// last 6: the next invoice is one guess in 100,000. A 15-digit id is never a 12-digit
// DefaultScheme id, so a deployment that moves to it repeats none.
func ProdScheme() Scheme { return Scheme{Prefix: "1", Width: 9, Random: 5} }

// Validate reports the first problem with the scheme, wrapping ErrScheme.
func (s Scheme) Validate() error {
	switch {
	case len(s.Prefix) < 1 || len(s.Prefix) > 3:
		return fmt.Errorf("%w: prefix %q must be 1 to 3 digits", ErrScheme, s.Prefix)
	case strings.Trim(s.Prefix, "0123456789") != "":
		return fmt.Errorf("%w: prefix %q must be digits only", ErrScheme, s.Prefix)
	case s.Prefix[0] == '0':
		return fmt.Errorf("%w: prefix %q must not start with 0", ErrScheme, s.Prefix)
	case s.Width < suffixDigits:
		return fmt.Errorf("%w: width %d is below %d", ErrScheme, s.Width, suffixDigits)
	case s.Random < 0 || s.Random > MaxRandom:
		return fmt.Errorf("%w: %d random digits: want 0 to %d", ErrScheme, s.Random, MaxRandom)
	case len(s.Prefix)+s.Width+s.Random > epay.InvoiceIDMaxLen:
		return fmt.Errorf("%w: prefix %q, width %d and %d random digits make ids longer than %d digits",
			ErrScheme, s.Prefix, s.Width, s.Random, epay.InvoiceIDMaxLen)
	}
	return nil
}

// MaxSeq is the largest sequence number the width holds.
func (s Scheme) MaxSeq() uint64 {
	m := uint64(1)
	for range s.Width {
		m *= 10
	}
	return m - 1
}

// Format returns the invoiceId of sequence number seq (1 and up). It returns
// ErrExhausted when seq does not fit the width and an error for seq 0. The scheme must
// be valid.
func (s Scheme) Format(seq uint64) (string, error) {
	if seq == 0 {
		return "", fmt.Errorf("invoiceid: sequence numbers start at 1")
	}
	if seq > s.MaxSeq() {
		return "", fmt.Errorf("%w: %d does not fit %d digits", ErrExhausted, seq, s.Width)
	}
	digits := strconv.FormatUint(seq, 10)
	digits = strings.Repeat("0", s.Width-len(digits)) + digits
	if s.Random == 0 {
		return s.Prefix + digits, nil
	}
	cut := len(digits) - suffixDigits
	return s.Prefix + digits[:cut] + randomDigits(s.Random) + digits[cut:], nil
}

// randomDigits returns n decimal digits from crypto/rand, each uniform (a byte of 250 or
// more is drawn again: 250 is the largest multiple of 10 a byte holds).
func randomDigits(n int) string {
	out := make([]byte, 0, n)
	var buf [16]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (crypto/rand's contract since Go 1.24)
		for _, b := range buf {
			if b < 250 && len(out) < n {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out)
}
