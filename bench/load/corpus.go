package load

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/invoice"
)

// Callback is one POST the load generator makes.
type Callback struct {
	Route     string // ingest.RoutePostlink or ingest.RouteFailurePostlink
	Body      []byte
	InvoiceID string
	TxID      string
	Success   bool
	Duplicate bool // a resend of an earlier callback (ePay retrying)
}

// CorpusConfig says what callbacks to make.
type CorpusConfig struct {
	Keys *epay.Keyring
	// FirstInvoice numbers the invoices: FirstInvoice, FirstInvoice+1, ... (12 digits).
	// Runs against one stream use distinct ranges so that nothing is a duplicate by accident.
	FirstInvoice int64
	// Stride spaces the invoices: FirstInvoice, FirstInvoice+Stride, ... (default 1), so
	// that callbacks can be spread over a store pre-filled with a range of invoices.
	Stride int64
	// Callbacks is how many callbacks to make; the first callback of each invoice
	// comes in invoice order, one invoice per callback.
	Callbacks int
	// DuplicateShare of the callbacks are resends of an earlier one (0 to 1).
	DuplicateShare float64
	// FailureShare of the invoices end in a failure callback (0 to 1).
	FailureShare float64
	Seed         uint64
}

// Corpus is a set of callbacks and the invoices they are about.
type Corpus struct {
	Invoices  []invoice.Created
	Callbacks []Callback
}

// failureCodes are common decline reasons of ePay's table, final ones only: a failure
// ePay calls not final (454) waits for its final answer and raises no event, and the
// suite counts events (454 here made about 1.7% of the events look missing).
var failureCodes = []int{484, 455, 457, 470, 476}

// NewCorpus makes the callbacks of cfg, each signed by cfg.Keys as ePay would sign it,
// with the body the sandbox sends (epaytest.SignedCallback).
func NewCorpus(cfg CorpusConfig) (*Corpus, error) {
	if cfg.Keys == nil || cfg.Callbacks < 1 {
		return nil, fmt.Errorf("load: corpus needs keys and at least one callback")
	}
	r := rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.FirstInvoice)))
	now := time.Now()
	c := &Corpus{Callbacks: make([]Callback, 0, cfg.Callbacks)}
	for len(c.Callbacks) < cfg.Callbacks {
		if len(c.Callbacks) > 0 && r.Float64() < cfg.DuplicateShare {
			dup := c.Callbacks[r.IntN(len(c.Callbacks))]
			dup.Duplicate = true
			c.Callbacks = append(c.Callbacks, dup)
			continue
		}
		id := InvoiceID(cfg.FirstInvoice + max(cfg.Stride, 1)*int64(len(c.Invoices)))
		amount := epay.Amount(100_00 + r.IntN(500_000_00))
		c.Invoices = append(c.Invoices, invoice.Created{
			InvoiceID: id, Kind: "payment", Amount: amount, Currency: "KZT", Terminal: epaytest.TestTerminal,
			Description: "load " + id, CreatedAt: now,
		})
		reason := 0
		if r.Float64() < cfg.FailureShare {
			reason = failureCodes[r.IntN(len(failureCodes))]
		}
		tx, body := epaytest.SignedCallback(epaytest.TriggerOptions{
			InvoiceID: id, Amount: amount, Keys: cfg.Keys, Now: func() time.Time { return now },
		}, reason)
		cb := Callback{Route: ingest.RoutePostlink, Body: body, InvoiceID: id, TxID: tx, Success: reason == 0}
		if reason != 0 {
			cb.Route = ingest.RouteFailurePostlink
		}
		c.Callbacks = append(c.Callbacks, cb)
	}
	return c, nil
}

// InvoiceID formats n as a 12-digit invoiceId.
func InvoiceID(n int64) string { return fmt.Sprintf("%012d", n) }

// MeanBodySize is the average callback body in bytes.
func (c *Corpus) MeanBodySize() int {
	n := 0
	for _, cb := range c.Callbacks {
		n += len(cb.Body)
	}
	return n / max(1, len(c.Callbacks))
}
