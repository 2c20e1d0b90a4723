package ingest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The review of session 28: a buyer who knows its own invoice's secret_hash sent it signed
// callbacks of 64 KiB, each with a new transaction id, until EPAY_INBOX was full (it keeps
// them 30 days and forbids delete and purge); then every callback, invoice.created and
// worker answer was refused. Past its budget an invoice's callbacks get 429 and are not
// stored; other invoices' callbacks go on, and ePay's retry of one already stored is a
// duplicate that costs nothing.
func TestAnInvoiceCannotStoreMoreThanItsBudget(t *testing.T) {
	t.Parallel()
	const budget = 4 * MaxBodyBytes
	ti := mustStartIngest(t, func(c *Config) { c.InvoiceBudget = budget })
	pad := `"x":"` + strings.Repeat("a", 60<<10) + `",`
	big := func(invoiceID string, i int) []byte {
		b := callback(ti.Keys, invoiceID, fmt.Sprintf("tx-flood-%d", i), "ok")
		return append([]byte("{"+pad), b[1:]...)
	}
	first := callback(ti.Keys, "100000010", "tx-first", "ok")
	if res := post(t, ti.URL, RoutePostlink, first); res.status != http.StatusOK {
		t.Fatalf("the invoice's first callback: %d %s", res.status, res.body)
	}
	stored, spent, want := 1, len(first), 1 // want: the callbacks taken while under the budget
	for i := range 10 {
		if spent < budget {
			want++
			spent += len(big("100000010", i))
		}
		res := post(t, ti.URL, RouteFailurePostlink, big("100000010", i)) // both routes count
		if res.status == http.StatusOK {
			stored++
			continue
		}
		if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != invoiceBudgetRetry ||
			!strings.Contains(res.body, "too many callbacks stored for this invoice") {
			t.Fatalf("callback %d past the budget: %d %q (Retry-After %q), want 429", i, res.status, res.body, res.header.Get("Retry-After"))
		}
	}
	if stored != want || want != 6 { // 1 small and 5 of 60 KiB: the 5th goes past 256 KiB, the 6th is refused
		t.Errorf("%d callbacks stored for the flooded invoice, want %d within its budget of %d bytes", stored, want, budget)
	}
	if got := ti.metric(t, `epayflow_ingest_rejections_total{reason="invoice_budget"}`); got != strconv.Itoa(11-stored) {
		t.Errorf(`rejections_total{reason="invoice_budget"} = %q, want %d`, got, 11-stored)
	}
	if res := post(t, ti.URL, RoutePostlink, callback(ti.Keys, "100000011", "tx-other", "ok")); res.status != http.StatusOK {
		t.Errorf("another invoice's callback: %d %s, want 200", res.status, res.body)
	}
	if n := len(ti.storedMessages(t)); n != stored+1 {
		t.Errorf("%d messages on EPAY_INBOX, want %d: nothing past the budget is stored", n, stored+1)
	}
}

func TestAnInvoiceBudgetCountsADayInTwoHalves(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	b := newInvoiceBudget(100, func() time.Time { return now })
	if !b.reserve("A", 60) || !b.reserve("A", 40) {
		t.Fatal("100 of 100: want both reserved")
	}
	if b.reserve("A", 1) || !b.reserve("B", 1) {
		t.Fatal("100 of 100 spent: want A refused, B taken")
	}
	b.refund("A", 40) // a duplicate, or a publish that failed
	if !b.reserve("A", 40) {
		t.Fatal("40 refunded: want A taken again")
	}
	now = now.Add(invoiceBudgetWindow / 2) // the spent half is now the previous one: it still counts
	if b.reserve("A", 1) {
		t.Fatal("half a window later: want A still refused")
	}
	now = now.Add(invoiceBudgetWindow / 2) // a whole window: forgotten
	if !b.reserve("A", 60) || !b.reserve("A", 40) || b.reserve("A", 1) {
		t.Fatal("a window later: want A's whole budget again, and no more without the clock moving")
	}
	if newInvoiceBudget(0, time.Now) != nil {
		t.Error("a budget of 0 is no bound")
	}
	for i := range invoiceBudgetTracked + 1 { // a full generation starts the next early: memory stays bounded
		b.reserve(strconv.Itoa(i), 1)
	}
	if len(b.cur) > invoiceBudgetTracked || len(b.prev) > invoiceBudgetTracked {
		t.Errorf("generations of %d and %d invoices, want at most %d each", len(b.cur), len(b.prev), invoiceBudgetTracked)
	}
}

// Callbacks sent at once must not all pass before any is counted (review of session 28:
// 200 at once were all stored), and ePay's retry of one already stored costs nothing.
func TestABurstOfCallbacksStaysWithinItsInvoicesBudget(t *testing.T) {
	t.Parallel()
	const budget = 4 * MaxBodyBytes
	ti := mustStartIngest(t, func(c *Config) { c.InvoiceBudget = budget })
	pad := `"x":"` + strings.Repeat("a", 60<<10) + `",`
	dup := callback(ti.Keys, "100000020", "tx-dup", "ok")
	dup = append([]byte("{"+pad), dup[1:]...)
	for i := range 6 { // 6 x 60 KiB of one callback: stored once, the rest duplicates
		if res := post(t, ti.URL, RoutePostlink, dup); res.status != http.StatusOK {
			t.Fatalf("the same callback again (%d): %d %s, want 200: a duplicate costs nothing", i, res.status, res.body)
		}
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 32 {
		wg.Go(func() {
			b := callback(ti.Keys, "100000021", fmt.Sprintf("tx-burst-%d", i), "ok")
			if res := post(t, ti.URL, RoutePostlink, append([]byte("{"+pad), b[1:]...)); res.status == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n != 5 { // 4 of 60 KiB stay under 256 KiB, the 5th goes past it, the rest are refused
		t.Errorf("%d of 32 callbacks sent at once stored, want 5 within a budget of %d bytes", n, budget)
	}
}

// What the budget adds to a callback: a reservation, under one lock shared by every
// request (bench/NOTES.md, session 28).
func BenchmarkInvoiceBudget(b *testing.B) {
	bud := newInvoiceBudget(DefaultInvoiceBudget, time.Now)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			id := strconv.Itoa(100000000 + i%50000)
			bud.reserve(id, 1500)
			i++
		}
	})
}
