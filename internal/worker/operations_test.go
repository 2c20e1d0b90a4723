package worker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// The tests' key of scope operate, and the workers' status key (operation steps are
// signed with it).
const (
	testOperateKey = "worker-tests-operate-key"
	opsStatusKey   = "worker-tests-status-key-0123"
)

// opsEnv is a worker with an ePay client on a sandbox (two-stage payments or not) and a
// key that may operate.
type opsEnv struct {
	*env
	sb     string
	client *epayapi.Client // the tests' own client on the sandbox, to look at ePay's side
	w      *running
	cfg    Config
}

func startOps(t *testing.T, twoStep bool) *opsEnv {
	t.Helper()
	return startOpsBehind(t, twoStep, nil)
}

// startOpsBehind is startOps with ePay's API behind wrap (nil: none), which may change
// what ePay answers.
func startOpsBehind(t *testing.T, twoStep bool, wrap func(http.Handler) http.Handler) *opsEnv {
	t.Helper()
	e := newEnv(t)
	sb, err := sandbox.New(sandbox.Config{CallbackAttempts: 1, CallbackTimeout: time.Second, RedirectWait: time.Second, TwoStep: twoStep},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	h := sb.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := e.withSandbox(srv.URL, func(c *Config) {
		c.StatusKey = opsStatusKey
		c.ReadKeys, _ = ParseReadKeys("tests:pii:" + testReadKey + ",support:read:" + testSupportKey + ",shop:operate:" + testOperateKey)
	})
	client, err := epayapi.New(*cfg.EPay, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &opsEnv{env: e, sb: srv.URL, client: client, w: e.start(cfg), cfg: cfg}
}

// paid pays invoiceID on the sandbox with amount (tenge) and gives the worker its
// invoice.created and verified callback, with ePay's real transaction id; it returns
// that id once the invoice is paid.
func (o *opsEnv) paid(t *testing.T, invoiceID, amount string) string {
	t.Helper()
	sandboxPay(t, o.sb, invoiceID, amount, cardPays)
	tx := o.epayTx(t, invoiceID).ID
	amt, _ := epay.ParseAmount(amount)
	o.publishCreated(createdFor(invoiceID, amt))
	o.publish(callbackMsg(t, successCallback(invoiceID, tx, amt), true, ""))
	waitState(t, o.w.url, invoiceID, invoice.StatePaid)
	return tx
}

// epayTx is the transaction as ePay's status API shows it.
func (o *opsEnv) epayTx(t *testing.T, invoiceID string) *epayapi.Transaction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := o.client.PaymentStatus(ctx, invoiceID)
	if err != nil || st.Transaction == nil {
		t.Fatalf("ePay status of %s: %+v %v", invoiceID, st, err)
	}
	return st.Transaction
}

// opResult is an operation's answer.
type opResult struct {
	status int
	body   OperationResponse
	err    string
}

// post sends POST /v1/invoices/{id}/{typ} with key as Idempotency-Key and body (""
// for none), with the operate key.
func post(t *testing.T, base, id, typ, key, body string) opResult {
	t.Helper()
	return postAs(t, base, id, typ, key, body, testOperateKey)
}

func postAs(t *testing.T, base, id, typ, key, body, auth string) opResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/invoices/"+id+"/"+typ, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+auth)
	if key != "" {
		req.Header.Set(IdempotencyKeyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := opResult{status: resp.StatusCode}
	var e struct{ Error string }
	json.Unmarshal(raw, &e)
	res.err = e.Error
	json.Unmarshal(raw, &res.body)
	return res
}

func TestRefundsAreMadeOnceEachAndNeverMoreThanWasPaid(t *testing.T) {
	o := startOps(t, false)
	const id = "400000001"
	o.paid(t, id, "100")

	first := post(t, o.w.url, id, "refund", "refund-1", `{"amount":30}`)
	if first.status != 200 || first.body.Operation.State != invoice.OpSucceeded || first.body.Operation.Amount != 3000 ||
		first.body.Invoice.Refunded != 3000 {
		t.Fatalf("refund of 30: %+v", first)
	}
	// the same operation id again: the same answer, ePay not asked again
	again := post(t, o.w.url, id, "refund", "refund-1", `{"amount":30}`)
	if again.status != 200 || again.body.Operation != first.body.Operation || again.body.Invoice.Refunded != 3000 {
		t.Fatalf("the same refund again: %+v, want %+v", again, first)
	}
	if tx := o.epayTx(t, id); tx.Refunded() != 3000 || tx.StatusName != epayapi.StatusCharge {
		t.Fatalf("ePay refunded %s (%s), want 30 once", tx.Refunded(), tx.StatusName)
	}
	for _, c := range []struct {
		key, body string
		status    int
		err       string
	}{
		{"refund-1", `{"amount":31}`, 409, "Idempotency-Key was used for another operation"},
		{"refund-2", `{"amount":70.01}`, 422, "refund of 70.01 is more than the 70 left to refund"},
		{"refund-3", `{"amount":9.99}`, 422, "less than ePay's minimum of 10 KZT"},
		{"refund-4", `{"amount":-5}`, 400, "amount"},
		{"refund-5", `{"amount":10,"reason":"x"}`, 400, "the body must be"},
		{"refund-7", `{"amount":null}`, 400, "amount is null"},
		{"", `{"amount":10}`, 400, "Idempotency-Key"},
		{"bad key!", `{"amount":10}`, 400, "Idempotency-Key"},
	} {
		if got := post(t, o.w.url, id, "refund", c.key, c.body); got.status != c.status || !strings.Contains(got.err, c.err) {
			t.Errorf("refund %s %s: %d %q, want %d %q", c.key, c.body, got.status, got.err, c.status, c.err)
		}
	}
	// the rest, with no amount: all that is left
	rest := post(t, o.w.url, id, "refund", "refund-6", "")
	if rest.status != 200 || rest.body.Operation.Amount != 7000 || rest.body.Invoice.Refunded != 10000 {
		t.Fatalf("refund of the rest: %+v", rest)
	}
	if tx := o.epayTx(t, id); tx.Refunded() != 10000 || tx.StatusName != epayapi.StatusRefund {
		t.Fatalf("ePay refunded %s (%s), want 100 in all, REFUND", tx.Refunded(), tx.StatusName)
	}
	if got := post(t, o.w.url, id, "refund", "refund-7", `{"amount":10}`); got.status != 422 || !strings.Contains(got.err, "nothing is left to refund") {
		t.Fatalf("a refund of a refunded payment: %+v", got)
	}

	waitFor(t, 10*time.Second, "three events", func() bool { return o.eventCount() == 3 })
	var refunds []events.CloudEvent
	for _, ce := range o.events() {
		if ce.Type == events.TypePrefix+"refunded" {
			refunds = append(refunds, ce)
		}
	}
	if got := eventTypes(o.env, id); strings.Join(got, ",") != "paid,refunded,refunded" {
		t.Fatalf("events %v, want paid, refunded, refunded", got)
	}
	if op := refunds[0].Data.Operation; op == nil || op.ID != "refund-1" || op.Amount != 3000 || refunds[0].Data.Invoice.Refunded != 3000 ||
		refunds[1].Data.Operation.Amount != 7000 || refunds[1].Data.Invoice.Refunded != 10000 {
		t.Fatalf("refunded events: %+v / %+v", refunds[0].Data, refunds[1].Data)
	}
	// the invoice's history shows each step
	_, inv := get(t, o.w.url, id)
	steps := 0
	for _, h := range inv.History {
		if h.Kind == invoice.MsgOperation {
			steps++
		}
	}
	if steps != 4 || len(inv.Operations) != 2 {
		t.Fatalf("history holds %d operation steps and the invoice %d operations, want 4 and 2 (refused ones are not recorded)", steps, len(inv.Operations))
	}
}

func TestOperationsOfAnInvoiceNotPaidAreRefusedWithoutAskingEPay(t *testing.T) {
	o := startOps(t, false)
	o.publishCreated(createdFor("400000002", 10000))
	waitState(t, o.w.url, "400000002", invoice.StateCreated)
	for _, typ := range []string{"refund", "charge", "cancel"} {
		if got := post(t, o.w.url, "400000002", typ, "op-"+typ, ""); got.status != 422 || !strings.Contains(got.err, "the invoice is created, not paid") {
			t.Errorf("%s of an unpaid invoice: %+v", typ, got)
		}
	}
	if got := post(t, o.w.url, "400000009", "refund", "op-1", ""); got.status != 404 {
		t.Errorf("refund of an unknown invoice: %+v", got)
	}
	// a key that may only read may not operate; no key is 401
	if got := postAs(t, o.w.url, "400000002", "refund", "op-1", "", testSupportKey); got.status != 403 {
		t.Errorf("a read key: %+v, want 403", got)
	}
	if got := postAs(t, o.w.url, "400000002", "refund", "op-1", "", "nope-nope-nope-nope"); got.status != 401 {
		t.Errorf("an unknown key: %+v, want 401", got)
	}
	if got := post(t, o.w.url, "400000002", "cancel", "op-2", `{"amount":5}`); got.status != 400 {
		t.Errorf("a cancel with an amount: %+v, want 400", got)
	}
}

func TestTwoStagePaymentIsChargedThenRefundedOrCancelled(t *testing.T) {
	o := startOps(t, true)
	o.paid(t, "400000011", "100")
	o.paid(t, "400000012", "100")
	if tx := o.epayTx(t, "400000011"); tx.StatusName != epayapi.StatusAuth {
		t.Fatalf("two-stage payment is %s, want AUTH", tx.StatusName)
	}
	// a refund before the charge: refused before anything is sent, as ePay's status of
	// the payment is AUTH (ePay would refuse it with its code 100, which it also gives
	// for a system error: an answer the worker cannot take for "not made")
	if got := post(t, o.w.url, "400000011", "refund", "early", `{"amount":10}`); got.status != 422 ||
		!strings.Contains(got.err, "ePay's status of the payment is AUTH") {
		t.Fatalf("a refund of an AUTH payment: %+v", got)
	}
	if _, r := get(t, o.w.url, "400000011"); len(r.Operations) != 0 {
		t.Fatalf("a refund refused before it was sent is recorded: %+v", r.Operations)
	}
	if got := post(t, o.w.url, "400000011", "charge", "charge-1", `{"amount":60}`); got.status != 200 || got.body.Invoice.Charged != 6000 {
		t.Fatalf("charge of 60: %+v", got)
	}
	if got := post(t, o.w.url, "400000011", "refund", "refund-1", `{"amount":60.01}`); got.status != 422 || !strings.Contains(got.err, "the 60 left") {
		t.Fatalf("a refund above the charge: %+v", got)
	}
	if got := post(t, o.w.url, "400000011", "cancel", "cancel-1", ""); got.status != 422 || !strings.Contains(got.err, "charged already") {
		t.Fatalf("a cancel after the charge: %+v", got)
	}
	if got := post(t, o.w.url, "400000011", "refund", "refund-2", ""); got.status != 200 || got.body.Invoice.Refunded != 6000 {
		t.Fatalf("a refund of the charge: %+v", got)
	}
	if got := post(t, o.w.url, "400000012", "cancel", "cancel-2", ""); got.status != 200 || !got.body.Invoice.Cancelled {
		t.Fatalf("cancel: %+v", got)
	}
	if tx := o.epayTx(t, "400000012"); tx.StatusName != epayapi.StatusCancel {
		t.Fatalf("after the cancel ePay says %s", tx.StatusName)
	}
	if got := post(t, o.w.url, "400000012", "refund", "refund-3", ""); got.status != 422 || !strings.Contains(got.err, "cancelled") {
		t.Fatalf("a refund of a cancelled payment: %+v", got)
	}
	waitFor(t, 10*time.Second, "the events", func() bool { return o.eventCount() == 5 })
	if a, b := strings.Join(eventTypes(o.env, "400000011"), ","), strings.Join(eventTypes(o.env, "400000012"), ","); a != "paid,charged,refunded" || b != "paid,cancelled" {
		t.Fatalf("events %s / %s", a, b)
	}
}

// publishStep publishes an operation step signed with key, as a worker (or a forger).
func (o *opsEnv) publishStep(t *testing.T, invoiceID string, step invoice.OperationStep, key string) {
	t.Helper()
	b, _ := inbox.NewBuilder(o.cfg.Shards)
	s, err := inbox.NewStatusSigner([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.Operation(inbox.OperationBody{InvoiceID: invoiceID, Operation: step}, s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o.publish(msg)
}

func TestForgedOperationStepsMoveNothing(t *testing.T) {
	o := startOps(t, false)
	const id = "400000021"
	o.paid(t, id, "100")
	now := time.Now().UTC()
	for _, s := range []invoice.OperationStep{
		{ID: "forged", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 5000, At: now},
		{ID: "forged", Type: invoice.OpRefund, Phase: invoice.PhaseDone, Amount: 5000, Outcome: invoice.OpSucceeded, At: now},
	} {
		o.publishStep(t, id, s, "someone-elses-status-key")
	}
	waitFor(t, 10*time.Second, "both forged steps in the DLQ", func() bool { return o.dlqCount(t) == 2 })
	_, inv := get(t, o.w.url, id)
	if inv.Refunded != 0 || len(inv.Operations) != 0 || o.epayTx(t, id).Refunded() != 0 {
		t.Fatalf("after forged steps: refunded %s, operations %+v", inv.Refunded, inv.Operations)
	}
	if got := eventTypes(o.env, id); strings.Join(got, ",") != "paid" {
		t.Fatalf("events %v, want paid only", got)
	}
}

func (o *opsEnv) dlqCount(t *testing.T) uint64 { return streamMsgs(o.js, natsbus.StreamDLQ) }

// A worker that stopped between ePay's answer and the record: after a restart, the
// refund's outcome is read from ePay's status API and recorded once; it is never sent
// again. One that stopped before asking ePay records the refund as not made, once no
// call for it can be under way any more (recoverOperationAfter); before that a request
// on the invoice answers 503 and nothing is sent.
func TestRefundLeftPendingByACrashIsResolvedFromEPaysStatusNeverMadeTwice(t *testing.T) {
	o := startOps(t, false)
	const made, lost, young = "400000031", "400000032", "400000033"
	txMade := o.paid(t, made, "100")
	o.paid(t, lost, "100")
	o.paid(t, young, "100")
	now := time.Now().UTC()
	// all started (each invoice holds its refund pending); ePay made the first only
	o.publishStep(t, made, invoice.OperationStep{ID: "refund-a", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000, At: now}, opsStatusKey)
	o.publishStep(t, lost, invoice.OperationStep{ID: "refund-b", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000,
		At: now.Add(-recoverOperationAfter - time.Second)}, opsStatusKey)
	o.publishStep(t, young, invoice.OperationStep{ID: "refund-d", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000, At: now}, opsStatusKey)
	amt := epay.Amount(4000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.client.Operate(ctx, epayapi.OperationRequest{Op: epayapi.OpRefund, TransactionID: txMade, Amount: &amt, ExternalID: "refund-a"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "all pending", func() bool {
		_, a := get(t, o.w.url, made)
		_, b := get(t, o.w.url, lost)
		_, c := get(t, o.w.url, young)
		return len(a.Operations) == 1 && len(b.Operations) == 1 && len(c.Operations) == 1
	})
	if err := o.w.stop(t); err != nil {
		t.Fatal(err)
	}
	o.w = o.start(o.cfg)

	// the merchant sends it again with the same id: the outcome is found, not remade
	got := post(t, o.w.url, made, "refund", "refund-a", `{"amount":40}`)
	if got.status != 200 || got.body.Operation.State != invoice.OpSucceeded || !got.body.Operation.Recovered || got.body.Invoice.Refunded != 4000 {
		t.Fatalf("the refund made before the crash: %+v", got)
	}
	if r := o.epayTx(t, made).Refunded(); r != 4000 {
		t.Fatalf("ePay refunded %s, want 40 once", r)
	}
	// a new operation on the other invoice resolves its pending one first
	next := post(t, o.w.url, lost, "refund", "refund-c", `{"amount":10}`)
	if next.status != 200 || next.body.Invoice.Refunded != 1000 {
		t.Fatalf("a refund after the lost one: %+v", next)
	}
	if op := next.body.Invoice.Operations[0]; op.ID != "refund-b" || op.State != invoice.OpFailed || op.Code != "not_made" || !op.Recovered {
		t.Fatalf("the refund never sent: %+v, want failed, not made", op)
	}
	if r := o.epayTx(t, lost).Refunded(); r != 1000 {
		t.Fatalf("ePay refunded %s, want only the new 10", r)
	}
	// a pending refund started a moment ago: ePay's status shows nothing yet, but a call
	// for it may still be under way; a new operation waits (503), nothing is sent, and
	// the pending one is not concluded not made
	wait := post(t, o.w.url, young, "refund", "refund-e", `{"amount":10}`)
	if wait.status != http.StatusServiceUnavailable || !strings.Contains(wait.err, "not known yet") {
		t.Fatalf("a refund while a young one is pending: %+v, want 503", wait)
	}
	if _, inv := get(t, o.w.url, young); len(inv.Operations) != 1 || inv.Operations[0].State != invoice.OpPending {
		t.Fatalf("the young pending refund: %+v, want it still pending", inv.Operations)
	}
	if r := o.epayTx(t, young).Refunded(); r != 0 {
		t.Fatalf("ePay refunded %s on the invoice with the young pending refund, want nothing", r)
	}
	waitFor(t, 10*time.Second, "the events", func() bool { return o.eventCount() == 5 })
	if a, b := strings.Join(eventTypes(o.env, made), ","), strings.Join(eventTypes(o.env, lost), ","); a != "paid,refunded" || b != "paid,refunded" {
		t.Fatalf("events %s / %s", a, b)
	}
}

// Operations left pending by a worker that stopped, which no request asks about again,
// are resolved in the background once they are older than recoverOperationAfter: the
// one ePay made is recorded succeeded (with its event), the one never sent failed, not
// made; neither is sent to ePay again, and a pending operation younger than that is left
// alone (its worker may still be making it).
func TestOperationsLeftPendingAreRecoveredInTheBackgroundFromEPaysStatus(t *testing.T) {
	o := startOps(t, false)
	const made, lost, young = "400000041", "400000042", "400000043"
	txMade := o.paid(t, made, "100")
	o.paid(t, lost, "100")
	o.paid(t, young, "100")
	// ePay makes refund-a before the worker sees it pending: the checker scans every
	// 100 ms, and one that read ePay's status between the step and the refund would
	// rightly record refund-a as not made.
	amt := epay.Amount(4000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.client.Operate(ctx, epayapi.OperationRequest{Op: epayapi.OpRefund, TransactionID: txMade, Amount: &amt, ExternalID: "refund-a"}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().UTC().Add(-recoverOperationAfter - time.Second)
	o.publishStep(t, made, invoice.OperationStep{ID: "refund-a", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000, At: old}, opsStatusKey)
	o.publishStep(t, lost, invoice.OperationStep{ID: "refund-b", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000, At: old}, opsStatusKey)
	o.publishStep(t, young, invoice.OperationStep{ID: "refund-c", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000, At: time.Now().UTC()}, opsStatusKey)

	state := func(id string) invoice.Operation {
		_, inv := get(t, o.w.url, id)
		if len(inv.Operations) != 1 {
			return invoice.Operation{}
		}
		return inv.Operations[0]
	}
	waitFor(t, 20*time.Second, "both old operations resolved by the checker", func() bool {
		return state(made).State == invoice.OpSucceeded && state(lost).State == invoice.OpFailed
	})
	if a, b := state(made), state(lost); !a.Recovered || !b.Recovered || b.Code != "not_made" {
		t.Fatalf("recovered: %+v / %+v, want succeeded and failed not_made, both recovered", a, b)
	}
	_, inv := get(t, o.w.url, made)
	if inv.Refunded != 4000 || o.epayTx(t, made).Refunded() != 4000 || o.epayTx(t, lost).Refunded() != 0 {
		t.Fatalf("refunded: worker %s, ePay %s and %s; want 40, 40 and 0 (never sent again)", inv.Refunded,
			o.epayTx(t, made).Refunded(), o.epayTx(t, lost).Refunded())
	}
	waitFor(t, 10*time.Second, "the refunded event", func() bool { return o.eventCount() == 4 })
	if got := strings.Join(eventTypes(o.env, made), ","); got != "paid,refunded" {
		t.Fatalf("events of %s: %s", made, got)
	}
	if got := state(young); got.State != invoice.OpPending {
		t.Fatalf("the young operation: %+v, want still pending", got)
	}
	// counted once the checker's record returned, which can be after the state shows
	for _, outcome := range []string{invoice.OpSucceeded, invoice.OpFailed} {
		metric := `epayflow_worker_operations_recovered_total{outcome="` + outcome + `"}`
		waitFor(t, 5*time.Second, metric+" = 1", func() bool { return metricValue(t, o.w.url, metric) >= 1 })
		if got := metricValue(t, o.w.url, metric); got != 1 {
			t.Errorf("%s = %v, want 1", metric, got)
		}
	}
}

// An operation sent to a worker that does not own the invoice's shard is forwarded to
// its owner with its body: a partial refund through the Service in front of two workers
// refunds what was asked, never everything left (a review found the owner receiving an
// empty body, which means "all that is left").
func TestAnOperationForwardedToTheShardsOwnerKeepsItsAmount(t *testing.T) {
	o := startOps(t, false) // o.w owns every shard until the two below take theirs
	if err := o.w.stop(t); err != nil {
		t.Fatal(err)
	}
	front, id := o.twoWorkers(t, 400000101)
	o.paid(t, id, "100")

	got := post(t, front.url, id, "refund", "refund-forwarded", `{"amount":30}`)
	if got.status != http.StatusOK || got.body.Operation.Amount != 3000 || got.body.Invoice.Refunded != 3000 {
		t.Fatalf("refund of 30 through the worker that does not own the invoice: %+v, want 30 refunded", got)
	}
	if tx := o.epayTx(t, id); tx.Refunded() != 3000 {
		t.Fatalf("ePay refunded %s, want 30", tx.Refunded())
	}
	// the same key again through the front: the owner's answer for it, ePay not asked again
	if again := post(t, front.url, id, "refund", "refund-forwarded", `{"amount":30}`); again.status != http.StatusOK || again.body.Operation != got.body.Operation {
		t.Fatalf("the same refund again: %+v, want %+v", again, got)
	}
	if tx := o.epayTx(t, id); tx.Refunded() != 3000 {
		t.Fatalf("ePay refunded %s after the retry, want 30", tx.Refunded())
	}
}

// A refund left pending whose outcome ePay's status does not tell (statusName REFUND,
// as integrations read a refund, with amounts that do not show it) is not recorded as
// not made: the merchant would refund again. It stays pending, for the checker's retries
// and then a human (EpayflowOperationUnresolved). The answer is ePay's documented status
// sample (internal/epayapi/testdata/docs) with REFUND and no payoutAmount.
func TestARefundEPayCallsRefundedWithoutItsAmountIsNeverRecordedNotMade(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "epayapi", "testdata", "docs", "check-status-payment.json"))
	if err != nil {
		t.Fatal(err)
	}
	answer := strings.Replace(strings.Replace(string(doc), `"statusName": "CHARGE"`, `"statusName": "REFUND"`, 1), `"payoutAmount": 10,`, ``, 1)
	answer = strings.Replace(answer, `"orgAmount":22.22`, `"orgAmount":12.22`, 1)
	if !strings.Contains(answer, `"REFUND"`) || strings.Contains(answer, "payoutAmount") {
		t.Fatal("the documented sample changed: adapt the edit")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			io.WriteString(w, `{"access_token":"t","expires_in":7200,"token_type":"Bearer","scope":"webapi"}`)
			return
		}
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	client, err := epayapi.New(epayConfig(t, srv.URL), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &operator{epay: client, log: slog.New(slog.DiscardHandler), now: time.Now}
	inv := invoice.Invoice{InvoiceID: "205218074", State: invoice.StatePaid, Amount: 1222, Currency: "KZT", TransactionID: "af2089fe-43b1-47eb-a61f-c78dd196e18d"}
	op := invoice.Operation{ID: "refund-x", Type: invoice.OpRefund, Amount: 1222, State: invoice.OpPending}
	if _, err := o.resolve(context.Background(), inv, op); !errors.Is(err, errOpUnknownOutcome) {
		t.Fatalf("resolve: %v, want the outcome unknown (nothing recorded)", err)
	}
}

// twoWorkers starts two workers of o.cfg, one owning the even shards, the other (o.w
// from now on) the odd ones, and returns the first and an invoice id of an odd shard,
// from first on: an operation sent to the first is forwarded to its owner.
func (o *opsEnv) twoWorkers(t *testing.T, first int) (*running, string) {
	t.Helper()
	var even, odd []int
	for s := range o.cfg.Shards {
		if s%2 == 0 {
			even = append(even, s)
		} else {
			odd = append(odd, s)
		}
	}
	start := func(name string, shards []int) *running {
		port, err := proctest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfg := o.cfg
		cfg.DB = filepath.Join(t.TempDir(), name+".db")
		cfg.Addr = "127.0.0.1:" + strconv.Itoa(port)
		cfg.AdvertiseURL = "http://" + cfg.Addr
		cfg.OwnShards = shards
		return o.start(cfg)
	}
	front := start("even", even)
	o.w = start("odd", odd)
	for i := first; ; i++ {
		if id := strconv.Itoa(i); inbox.Shard(id, o.cfg.Shards)%2 == 1 {
			return front, id
		}
	}
}

// An operation ePay refuses with 401 or 403 (its token refused) was not made: it is
// failed at once with ePay's answer, and the status API is not asked (refusedForSure).
// Read as "unknown", the merchant would wait minutes for a refund that never was.
func TestARefundEPayRefusesItsTokenIsFailedAtOnce(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			var refused, askedAfter atomic.Int32
			o := startOpsBehind(t, false, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refund") {
						refused.Add(1)
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(status)
						io.WriteString(w, `{"code":100,"message":"access denied"}`)
						return
					}
					if refused.Load() > 0 && !strings.Contains(r.URL.Path, "token") {
						askedAfter.Add(1)
					}
					next.ServeHTTP(w, r)
				})
			})
			const id = "400000092"
			o.paid(t, id, "100")
			got := post(t, o.w.url, id, "refund", "refund-"+strconv.Itoa(status), `{"amount":30}`)
			if got.status != http.StatusUnprocessableEntity || got.body.Operation.State != invoice.OpFailed || got.body.Operation.Recovered ||
				got.body.Operation.Code != "100" || got.body.Invoice.Refunded != 0 {
				t.Fatalf("a refund ePay refused with %d: %d %+v %q, want failed with code 100, nothing refunded", status, got.status, got.body, got.err)
			}
			if refused.Load() != 1 || askedAfter.Load() != 0 {
				t.Fatalf("%d refund calls and %d status calls, want one refund call and no status call", refused.Load(), askedAfter.Load())
			}
			if r := o.epayTx(t, id).Refunded(); r != 0 {
				t.Fatalf("ePay refunded %s", r)
			}
		})
	}
}

// A refund ePay made, answered with HTTP 400 and a code its payment table calls final
// (458 "server is not responding": final for a payment attempt, and all the operation
// API documents is {"code":100,"message":""}), is read from ePay's status, never taken
// for "not made": recorded failed, the merchant, told so, would refund again.
func TestARefundEPayMadeButAnsweredWithAnErrorCodeIsReadFromItsStatus(t *testing.T) {
	var answered atomic.Int32
	o := startOpsBehind(t, false, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/refund") {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r) // ePay makes it
			if rec.Code != http.StatusOK {
				t.Errorf("the sandbox refused the refund: %d %s", rec.Code, rec.Body)
			}
			answered.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":458,"message":"Server is not responding"}`)
		})
	})
	const id = "400000091"
	o.paid(t, id, "100")
	got := post(t, o.w.url, id, "refund", "refund-458", `{"amount":30}`)
	if got.status != 200 || got.body.Operation.State != invoice.OpSucceeded || !got.body.Operation.Recovered || got.body.Invoice.Refunded != 3000 {
		t.Fatalf("a refund ePay made, answered 400 code 458: %d %+v %q, want succeeded (read from ePay's status), 30 refunded", got.status, got.body, got.err)
	}
	if r := o.epayTx(t, id).Refunded(); r != 3000 || answered.Load() != 1 {
		t.Fatalf("ePay refunded %s in %d calls, want 30 in one", r, answered.Load())
	}
}
