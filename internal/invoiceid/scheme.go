package invoiceid

import (
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
// to Width digits.
type Scheme struct {
	// Prefix is 1 to 3 digits, not starting with 0, so ids never start with a zero.
	Prefix string
	// Width is the number of sequence digits: at least 6 (the unique suffix), and
	// len(Prefix)+Width at most 15.
	Width int
}

// DefaultScheme gives 12-digit ids from 100000000001 on, 10^11-1 of them.
func DefaultScheme() Scheme { return Scheme{Prefix: "1", Width: 11} }

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
	case len(s.Prefix)+s.Width > epay.InvoiceIDMaxLen:
		return fmt.Errorf("%w: prefix %q and width %d make ids longer than %d digits",
			ErrScheme, s.Prefix, s.Width, epay.InvoiceIDMaxLen)
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
	return s.Prefix + strings.Repeat("0", s.Width-len(digits)) + digits, nil
}
