package worker

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

// ePay's status answer about another invoice (its transaction.invoiceID another's, with
// the same amount, CHARGE, on the merchant's terminal) says nothing of the invoice asked:
// it confirms no claim, however many times it comes. Once ePay answers about the invoice
// itself, the claim is confirmed. A refund is not sent while ePay's status names another
// invoice. (Before: the first such answer made the invoice paid.)
func TestAStatusAnswerAboutAnotherInvoiceConfirmsNothing(t *testing.T) {
	sb := startSandbox(t)
	var other atomic.Bool
	var asked, operations atomic.Int32
	other.Store(true)
	front := epayFront(t, sb, func(r *http.Request, pass func() (int, []byte)) (int, []byte) {
		if isOperation(r) {
			operations.Add(1)
		}
		status, b := pass()
		if !strings.Contains(r.URL.Path, "/check-status/") {
			return status, b
		}
		asked.Add(1)
		if !other.Load() {
			return status, b
		}
		return status, editTransaction(t, b, func(tx map[string]any) { tx["invoiceID"] = "999999999999" })
	})
	o := opsOn(t, sb, front, 5*time.Second)
	o.cfg.ConfirmPayments = true
	o.w = o.start(o.cfg)
	const id = "300000091"
	sandboxPay(t, sb, id, "100", cardPays)
	o.publishCreated(createdFor(id, 10000))
	o.publish(callbackMsg(t, successCallback(id, "tx-91", 10000), true, ""))
	waitFor(t, 15*time.Second, "ePay asked twice, or the invoice paid", func() bool {
		_, inv := get(t, o.w.url, id)
		return asked.Load() >= 2 || inv.State == invoice.StatePaid
	})
	if _, inv := get(t, o.w.url, id); inv.State != invoice.StateCreated || inv.Confirmation != invoice.ConfirmationPending {
		t.Fatalf("after answers about another invoice: state %s, confirmation %q; want created, the claim waiting", inv.State, inv.Confirmation)
	}
	if ev := eventTypes(o.env, id); len(ev) != 0 {
		t.Fatalf("events %v after answers about another invoice, want none", ev)
	}
	other.Store(false)
	waitState(t, o.w.url, id, invoice.StatePaid)

	other.Store(true)
	got := post(t, o.w.url, id, "refund", "refund-1", `{"amount":40}`)
	if got.status != http.StatusServiceUnavailable || operations.Load() != 0 {
		t.Fatalf("a refund while ePay's status names another invoice: %+v, %d operation calls; want 503 and none", got, operations.Load())
	}
}
