package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/invoice"
)

// A money review against ePay's documents (epayment.kz docs "process-scheme": refunds are
// also made "manually via the merchant's personal account", and a terminal is one-stage by
// default; "vozvrat-chastichnyi-vozvrat" and "cancel": an operation's error is
// {"code": 100, "message": ""}, and ePay's table calls 100 "system error, check the
// payment status"): an operation's outcome is never concluded from what ePay's status
// shows of something else.

// epayFront is ePay in front of sandbox sb whose answers are answer's: it gets each
// request and pass, which sends the request on to the sandbox and returns its answer.
func epayFront(t *testing.T, sb string, answer func(r *http.Request, pass func() (int, []byte)) (int, []byte)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		pass := func() (int, []byte) {
			req, _ := http.NewRequestWithContext(context.Background(), r.Method, sb+r.URL.RequestURI(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return http.StatusBadGateway, []byte(err.Error())
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		status, b := answer(r, pass)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func isOperation(r *http.Request) bool { return strings.Contains(r.URL.Path, "/operation/") }

// editTransaction is a status answer b with edit applied to its transaction (b as it is
// when it has none), numbers kept as written.
func editTransaction(t *testing.T, b []byte, edit func(tx map[string]any)) []byte {
	t.Helper()
	var body map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&body); err != nil {
		t.Errorf("sandbox status answer %s: %v", b, err)
		return b
	}
	tx, _ := body["transaction"].(map[string]any)
	if tx == nil {
		return b
	}
	edit(tx)
	out, _ := json.Marshal(body)
	return out
}

// cabinetRefund refunds amount of the invoice's transaction at ePay directly: what the
// merchant does in ePay's web cabinet.
func (o *opsEnv) cabinetRefund(t *testing.T, tx string, amount epay.Amount) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.client.Operate(ctx, epayapi.OperationRequest{Op: epayapi.OpRefund, TransactionID: tx, Amount: &amount, ExternalID: "cabinet"}); err != nil {
		t.Fatal(err)
	}
}

// lostRefund records refund-b of 40 on invoiceID as started past recoverOperationAfter
// ago (no call for it can be under way), with ePay's view before it (zero: none read),
// its call never made; once the invoice holds n operations, it asks for refund-b again
// and returns the answer: its outcome, read from ePay's status.
func (o *opsEnv) lostRefund(t *testing.T, invoiceID string, before invoice.EPayBefore, n int) opResult {
	t.Helper()
	o.publishStep(t, invoiceID, invoice.OperationStep{ID: "refund-b", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000,
		At: time.Now().UTC().Add(-recoverOperationAfter - time.Second), Before: before}, opsStatusKey)
	waitFor(t, 10*time.Second, "refund-b pending", func() bool {
		_, inv := get(t, o.w.url, invoiceID)
		return len(inv.Operations) == n
	})
	return post(t, o.w.url, invoiceID, "refund", "refund-b", `{"amount":40}`)
}

// A refund made in ePay's cabinet is in ePay's refunded total, not in the invoice's. A
// refund of ours whose call never reached ePay is recorded with what ePay had refunded
// when it was sent, and judged against that: it was not made, though ePay's total covers
// it. (Judged against the invoice's refunds, the cabinet's 40 was taken for ours: the
// customer owed 40 and nobody told.)
func TestARefundMadeInEPaysCabinetIsNeverTakenForOneOfOursWhoseAnswerWasLost(t *testing.T) {
	sb := startSandbox(t)
	var lose atomic.Bool
	front := epayFront(t, sb, func(r *http.Request, pass func() (int, []byte)) (int, []byte) {
		if lose.Load() && isOperation(r) {
			return http.StatusBadGateway, []byte(`upstream connection reset`) // never reached ePay
		}
		return pass()
	})
	o := opsOn(t, sb, front, 5*time.Second)
	o.w = o.start(o.cfg)

	// through the API: what ePay showed is recorded with the operation
	const id = "400008001"
	tx := o.paid(t, id, "100")
	o.cabinetRefund(t, tx, 4000)
	lose.Store(true)
	if got := post(t, o.w.url, id, "refund", "refund-b", `{"amount":40}`); got.status != http.StatusServiceUnavailable {
		t.Fatalf("a refund whose answer was lost: %+v, want 503 (pending)", got)
	}
	_, inv := get(t, o.w.url, id)
	want := invoice.EPayBefore{Status: epayapi.StatusCharge, Refunded: 4000}
	if len(inv.Operations) != 1 || inv.Operations[0].State != invoice.OpPending || inv.Operations[0].EPayBefore != want {
		t.Fatalf("operations %+v, want refund-b pending with ePay's view before it %+v", inv.Operations, want)
	}

	// its outcome, once no call can be under way: ePay refunded 40 in all, what it had
	// refunded before refund-b, so refund-b was not made
	const other = "400008002"
	tx = o.paid(t, other, "100")
	o.cabinetRefund(t, tx, 4000)
	got := o.lostRefund(t, other, want, 1)
	if got.body.Operation.State != invoice.OpFailed || got.body.Operation.Code != "not_made" || got.body.Invoice.Refunded != 0 {
		t.Fatalf("refund-b, which never reached ePay, after a cabinet refund of 40: %+v; want failed, not_made, nothing refunded", got)
	}
	if r := o.epayTx(t, other).Refunded(); r != 4000 {
		t.Fatalf("ePay refunded %s, want the cabinet's 40 only", r)
	}
}

// A one-stage terminal (ePay's default) charges a payment at once: a charge or a cancel
// of it is refused before anything is sent, since ePay's status shows CHARGE. (Sent and
// its answer lost, the charge was read as made from that very CHARGE: the invoice said
// 50 charged while ePay had taken 100, and the rest could not be refunded.)
func TestAChargeOrCancelOfAPaymentEPayShowsChargedIsRefusedBeforeItIsSent(t *testing.T) {
	o := startOps(t, false)
	const id = "400008011"
	o.paid(t, id, "100")
	for _, typ := range []string{"charge", "cancel"} {
		body := `{"amount":50}`
		if typ == "cancel" {
			body = ""
		}
		if got := post(t, o.w.url, id, typ, typ+"-1", body); got.status != http.StatusUnprocessableEntity ||
			!strings.Contains(got.err, "ePay's status of the payment is CHARGE") {
			t.Fatalf("a %s of a one-stage payment: %+v, want 422 naming ePay's status", typ, got)
		}
	}
	if _, inv := get(t, o.w.url, id); len(inv.Operations) != 0 || inv.Charged != 0 || inv.Cancelled {
		t.Fatalf("invoice after two refused operations: %+v", inv.View)
	}
	if tx := o.epayTx(t, id); tx.StatusName != epayapi.StatusCharge || tx.Amount != 10000 {
		t.Fatalf("ePay's transaction %s %s, want CHARGE 100 untouched", tx.StatusName, tx.Amount)
	}
}

// A refund is sent only of a payment ePay's status shows charged: CHARGE, or REFUND (a
// partial refund made, the rest still refundable). Declined (REJECT, FAILED), unfinished
// (NEW, 3D, …), held or released, or a status ePay does not document: 422 naming it,
// nothing recorded, no call to ePay's operation API. (Refused only for AUTH, CANCEL and
// CANCEL_OLD, a refund of a declined payment went to ePay.)
func TestARefundIsSentOnlyOfAPaymentEPayShowsCharged(t *testing.T) {
	sb := startSandbox(t)
	var show atomic.Value // the statusName ePay's status answers show; "" as the sandbox has it
	show.Store("")
	var operations atomic.Int32
	front := epayFront(t, sb, func(r *http.Request, pass func() (int, []byte)) (int, []byte) {
		if isOperation(r) {
			operations.Add(1)
		}
		status, b := pass()
		name := show.Load().(string)
		if name == "" || !strings.Contains(r.URL.Path, "/check-status/") {
			return status, b
		}
		return status, editTransaction(t, b, func(tx map[string]any) { tx["statusName"] = name })
	})
	o := opsOn(t, sb, front, 5*time.Second)
	o.w = o.start(o.cfg)
	const id = "400008051"
	o.paid(t, id, "100")

	for _, name := range []string{epayapi.StatusReject, epayapi.StatusFailed, epayapi.StatusNew, epayapi.Status3D, epayapi.StatusVerified,
		epayapi.StatusFingerprint, epayapi.StatusAuth, epayapi.StatusCancel, epayapi.StatusCancelOld, "SETTLED"} {
		show.Store(name)
		want := "ePay's status of the payment is " + name + ": a refund is made only of a charged payment"
		if name == "SETTLED" {
			want = `ePay's status of the payment is "SETTLED", not a status ePay documents: a refund is made only of a charged payment`
		}
		if got := post(t, o.w.url, id, "refund", "refund-"+name, `{"amount":30}`); got.status != http.StatusUnprocessableEntity || !strings.Contains(got.err, want) {
			t.Errorf("a refund of a payment ePay shows %s: %+v, want 422 %q", name, got, want)
		}
	}
	if _, inv := get(t, o.w.url, id); len(inv.Operations) != 0 || inv.Refunded != 0 {
		t.Fatalf("invoice after refused refunds: operations %+v, refunded %s; want none", inv.Operations, inv.Refunded)
	}
	if n := operations.Load(); n != 0 {
		t.Fatalf("%d calls to ePay's operation API for refused refunds, want none", n)
	}

	// charged: CHARGE, then REFUND as ePay shows a payment partly refunded
	for i, name := range []string{epayapi.StatusCharge, epayapi.StatusRefund} {
		show.Store(name)
		got := post(t, o.w.url, id, "refund", "refund-"+name, `{"amount":30}`)
		if want := epay.Amount(3000 * (i + 1)); got.status != http.StatusOK || got.body.Operation.State != invoice.OpSucceeded || got.body.Invoice.Refunded != want {
			t.Fatalf("a refund of 30 of a payment ePay shows %s: %+v, want made, %s refunded", name, got, want)
		}
	}
	if n, r := operations.Load(), o.epayTx(t, id).Refunded(); n != 2 || r != 6000 {
		t.Fatalf("%d calls to ePay's operation API, ePay refunded %s; want 2 and 60", n, r)
	}
}

// When ePay's status of the payment cannot be read, nothing is sent: 503, no operation
// recorded, no call to ePay's operation API.
func TestAnOperationIsNotSentWhenEPaysStatusCannotBeRead(t *testing.T) {
	sb := startSandbox(t)
	var down atomic.Bool
	var operations atomic.Int32
	front := epayFront(t, sb, func(r *http.Request, pass func() (int, []byte)) (int, []byte) {
		if isOperation(r) {
			operations.Add(1)
		}
		if down.Load() && strings.Contains(r.URL.Path, "/check-status/") {
			return http.StatusServiceUnavailable, []byte(`{"message":"maintenance"}`)
		}
		return pass()
	})
	o := opsOn(t, sb, front, 2*time.Second)
	o.w = o.start(o.cfg)
	const id = "400008021"
	o.paid(t, id, "100")
	down.Store(true)
	got := post(t, o.w.url, id, "refund", "refund-1", `{"amount":40}`)
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.err, "nothing was sent") {
		t.Fatalf("a refund while ePay's status is down: %+v, want 503 saying nothing was sent", got)
	}
	if _, inv := get(t, o.w.url, id); len(inv.Operations) != 0 {
		t.Fatalf("operations %+v, want none recorded", inv.Operations)
	}
	if n := operations.Load(); n != 0 {
		t.Fatalf("%d calls to ePay's operation API, want none", n)
	}
	down.Store(false)
	if got := post(t, o.w.url, id, "refund", "refund-1", `{"amount":40}`); got.status != http.StatusOK || got.body.Operation.State != invoice.OpSucceeded {
		t.Fatalf("the same refund once ePay answers: %+v", got)
	}
}

// ePay's documented operation error is {"code": 100, "message": ""}, and its table calls
// 100 "system error, check the payment status". Such an answer is checked against the
// status: a refund ePay made before answering it is recorded made (told "failed", the
// merchant refunded again: 80 paid back, 40 on the invoice); one it did not make stays
// pending, never concluded "not made" at once.
func TestAnOperationErrorWithCode100IsCheckedAgainstEPaysStatus(t *testing.T) {
	sb := startSandbox(t)
	front := epayFront(t, sb, func(r *http.Request, pass func() (int, []byte)) (int, []byte) {
		if !isOperation(r) {
			return pass()
		}
		if strings.Contains(r.URL.RawQuery, "externalID=made") {
			pass() // ePay made it, then answered its documented error
		}
		return http.StatusBadRequest, []byte(`{"code": 100, "message": ""}`)
	})
	o := opsOn(t, sb, front, 5*time.Second)
	o.w = o.start(o.cfg)
	const id = "400008031"
	o.paid(t, id, "100")
	got := post(t, o.w.url, id, "refund", "made", `{"amount":40}`)
	if got.status != http.StatusOK || got.body.Operation.State != invoice.OpSucceeded || !got.body.Operation.Recovered || got.body.Invoice.Refunded != 4000 {
		t.Fatalf("a refund ePay made, answered 400 code 100: %+v; want succeeded, read from the status", got)
	}
	got = post(t, o.w.url, id, "refund", "not-made", `{"amount":40}`)
	if got.status != http.StatusServiceUnavailable {
		t.Fatalf("a refund ePay did not make, answered 400 code 100: %+v; want 503, pending (ePay may still make it)", got)
	}
	if _, inv := get(t, o.w.url, id); len(inv.Operations) != 2 || inv.Operations[1].State != invoice.OpPending {
		t.Fatalf("operations %+v, want the second pending", inv.Operations)
	}
	if r := o.epayTx(t, id).Refunded(); r != 4000 {
		t.Fatalf("ePay refunded %s, want 40", r)
	}
}

// After a partial charge of 60 of a hold of 100, ePay's status says amount 60, orgAmount
// 100, payoutAmount 0: nothing was refunded. A lost refund of 40 is not made (read as
// orgAmount - amount, the released 40 looked refunded).
func TestAPartialChargeIsNeverReadAsARefund(t *testing.T) {
	o := startOps(t, true)
	const id = "400008041"
	o.paid(t, id, "100")
	if got := post(t, o.w.url, id, "charge", "charge-1", `{"amount":60}`); got.status != http.StatusOK || got.body.Invoice.Charged != 6000 {
		t.Fatalf("charge of 60: %+v", got)
	}
	got := o.lostRefund(t, id, invoice.EPayBefore{}, 2)
	if got.body.Operation.State != invoice.OpFailed || got.body.Operation.Code != "not_made" || got.body.Invoice.Refunded != 0 {
		t.Fatalf("a refund that never reached ePay after a partial charge: %+v; want failed, not_made", got)
	}
}

// A refund's started step replayed long after it was made (from the DLQ, say, after a
// status key rotation sent it there before anything was asked of ePay), after the
// merchant had refunded the same 50 through the API with another key: ePay's refunded
// total covers it only through the later refund, which the invoice recorded. It is
// judged not made, the invoice says 50 refunded as ePay does, and the other 50 can still
// be refunded. (Before: "made", a second refunded event, the invoice at 100 refunded
// while ePay had refunded 50, and the customer's last 50 beyond the API's reach.)
func TestARefundReplayedAfterALaterOneIsNeverTakenForMade(t *testing.T) {
	o := startOps(t, false)
	const id = "400008061"
	o.paid(t, id, "100")
	if got := post(t, o.w.url, id, "refund", "refund-B", `{"amount":50}`); got.status != http.StatusOK || got.body.Invoice.Refunded != 5000 {
		t.Fatalf("refund-B of 50: %+v", got)
	}
	o.publishStep(t, id, invoice.OperationStep{ID: "refund-A", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 5000,
		At: time.Now().UTC().Add(-recoverOperationAfter - time.Minute), Before: invoice.EPayBefore{Status: epayapi.StatusCharge}}, opsStatusKey)
	waitFor(t, 10*time.Second, "refund-A pending", func() bool {
		_, inv := get(t, o.w.url, id)
		return len(inv.Operations) == 2
	})
	got := post(t, o.w.url, id, "refund", "refund-A", `{"amount":50}`)
	if got.body.Operation.State != invoice.OpFailed || got.body.Operation.Code != "not_made" || got.body.Invoice.Refunded != 5000 {
		t.Fatalf("refund-A, never sent, judged after refund-B: %+v; want failed, not_made, 50 refunded", got)
	}
	if r := o.epayTx(t, id).Refunded(); r != 5000 {
		t.Fatalf("ePay refunded %s, want 50", r)
	}
	if got := post(t, o.w.url, id, "refund", "refund-C", `{"amount":50}`); got.status != http.StatusOK || got.body.Invoice.Refunded != 10000 {
		t.Fatalf("refund-C of the 50 left: %+v", got)
	}
}
