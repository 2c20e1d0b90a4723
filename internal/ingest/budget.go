package ingest

import (
	"sync"
	"time"
)

// DefaultInvoiceBudget is INGEST_INVOICE_BUDGET's default: the bytes of callbacks one ingest
// stores for one invoice within a day. ePay's callbacks are 1 to 2 KiB and an invoice has a
// few (a retry of one already stored is a duplicate and costs nothing), so an honest
// invoice never comes near it.
const DefaultInvoiceBudget = 256 << 10

// invoiceBudgetWindow is how long what an invoice's callbacks stored counts against it:
// between one and two halves of it, as the counts are kept in two generations.
const invoiceBudgetWindow = 24 * time.Hour

// invoiceBudgetTracked bounds the invoices a generation counts (about 50 bytes each); a
// full generation starts the next one early.
const invoiceBudgetTracked = 100_000

// invoiceBudget bounds what one ingest stores for one invoice. A callback is stored on
// EPAY_INBOX for the stream's max age (30 days) whatever the worker makes of it, and its
// invoice's buyer can sign one (secret_hash is the only check ePay's callbacks carry): a
// buyer who sent its own invoice callback after callback, each with a new transaction id
// and 64 KiB, filled the stream, and a full EPAY_INBOX refuses every callback, every
// invoice.created and every answer of the worker (review of session 28). Past the budget
// the ingest answers 429 and stores nothing; the invoice is still confirmed from ePay's
// status API.
type invoiceBudget struct {
	limit int // bytes
	now   func() time.Time

	mu        sync.Mutex
	cur, prev map[string]int
	since     time.Time // when cur began
}

func newInvoiceBudget(limit int, now func() time.Time) *invoiceBudget {
	if limit <= 0 {
		return nil
	}
	return &invoiceBudget{limit: limit, now: now, cur: map[string]int{}, since: now()}
}

// reserve counts n bytes for invoiceID and reports true when it was under its budget;
// under one lock, so callbacks sent at once cannot all pass before any is counted.
func (b *invoiceBudget) reserve(invoiceID string, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.turn()
	if b.cur[invoiceID]+b.prev[invoiceID] >= b.limit {
		return false
	}
	b.cur[invoiceID] += n
	return true
}

// refund gives back n bytes reserved for a callback that was not stored (a publish that
// failed, or a duplicate: already stored).
func (b *invoiceBudget) refund(invoiceID string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur[invoiceID] = max(b.cur[invoiceID]-n, 0)
}

// turn starts a new generation every half window, or when the current one is full.
func (b *invoiceBudget) turn() {
	if now := b.now(); now.Sub(b.since) >= invoiceBudgetWindow/2 || len(b.cur) >= invoiceBudgetTracked {
		b.prev, b.cur, b.since = b.cur, make(map[string]int, len(b.cur)), now
	}
}
