package worker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// docStatus reads one of ePay's documented status answers (internal/epayapi/testdata/docs,
// whose README names the page of each) and turns it into the state machine's Status as
// the checker does; edit changes the transaction first (nil: as documented).
func docStatus(t *testing.T, name string, edit func(map[string]any)) invoice.Status {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "epayapi", "testdata", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	api, code, msg := "payment", doc["resultCode"], doc["resultMessage"]
	txObj, _ := doc["transaction"].(map[string]any)
	if r, ok := doc["result"].(map[string]any); ok {
		api, code, msg = "p2p", r["code"], r["message"]
		txObj, _ = txObj["p2p"].(map[string]any)
	}
	if edit != nil {
		edit(txObj)
	}
	txRaw, _ := json.Marshal(txObj)
	var tx epayapi.Transaction
	if err := json.Unmarshal(txRaw, &tx); err != nil {
		t.Fatal(err)
	}
	st := statusOf(api, epayapi.ResultCode(code.(string)), msg.(string), &tx, raw)
	st.Check, st.Purpose = 1, invoice.PurposeConfirm
	return *st
}

// invoiceFor is an invoice as the initiator would create it for a documented answer.
func invoiceFor(id, kind, terminal string, amount epay.Amount, claim string) *invoice.Invoice {
	t0 := time.Date(2022, 11, 15, 3, 50, 0, 0, time.UTC)
	inv, _, _ := invoice.Apply(nil, invoice.CreatedMessage(id, invoice.Created{InvoiceID: id, Kind: kind, Amount: amount,
		Currency: "KZT", Terminal: terminal, CreatedAt: t0}, t0), t0)
	if claim == "" {
		return &inv
	}
	p := &invoice.Payment{TransactionID: "tx-claim", Amount: amount, Currency: "KZT", Terminal: terminal, Verified: true,
		Confirm: claim == invoice.ConfirmationPending, Raw: json.RawMessage(`{"id":"tx-claim"}`)}
	kindOf := invoice.MsgSuccess
	if claim == invoice.ConfirmationNotFinal {
		kindOf, p.ReasonCode = invoice.MsgFailure, 454
	}
	inv, _, _ = invoice.Apply(&inv, invoice.Message{ID: "claim", Kind: kindOf, InvoiceID: id, ReceivedAt: t0, Payment: p}, t0)
	if inv.Confirmation != claim {
		panic("claim not set up: " + inv.Confirmation)
	}
	return &inv
}

// ePay's documented answers, as the checker reads them, applied to every kind of
// invoice waiting on them: the decisions that move money come out right.
func TestDocumentedStatusAnswersDecideAsEPayMeansThem(t *testing.T) {
	const payID, p2pID, p2pTerminal = "205218074", "12345678937780", "c36b282f-6819-4d4f-85df-a4bdc8a8f703"
	set := func(kv ...any) func(map[string]any) {
		return func(tx map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				tx[kv[i].(string)] = kv[i+1]
			}
		}
	}
	tests := []struct {
		name   string
		doc    string
		edit   func(map[string]any)
		inv    *invoice.Invoice
		state  invoice.State
		reason string // substring of the review reason
		wait   string // the confirmation left waiting
	}{
		// check-status-payment: amount 12.22 after 10 paid back, orgAmount 22.22;
		// terminal 98120001 (ePay's), terminalID the merchant's.
		{name: "payment sample confirms a claim for orgAmount on terminalID", doc: "check-status-payment.json",
			inv: invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationPending), state: invoice.StatePaid},
		{name: "payment sample reconciles a created invoice", doc: "check-status-payment.json",
			inv: invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, ""), state: invoice.StatePaid},
		{name: "payment sample settles a not-final failure as paid", doc: "check-status-payment.json",
			inv: invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationNotFinal), state: invoice.StatePaid},
		{name: "payment sample for another amount is review", doc: "check-status-payment.json",
			inv:   invoiceFor(payID, "payment", epayapi.TestTerminal, 1222, invoice.ConfirmationPending),
			state: invoice.StateReview, reason: "amount 22.22 != invoice 12.22"},
		{name: "payment sample on another merchant terminal is review", doc: "check-status-payment.json",
			inv:   invoiceFor(payID, "payment", "another-terminal", 2222, invoice.ConfirmationPending),
			state: invoice.StateReview, reason: `terminal "67e34d63-102f-4bd1-898e-370781d0074d" != invoice another-terminal`},
		{name: "payment sample whose terminalID is missing is compared by terminal: review", doc: "check-status-payment.json",
			edit: func(tx map[string]any) { delete(tx, "terminalID") },
			inv:  invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationPending), state: invoice.StateReview,
			reason: `terminal "98120001"`},
		{name: "payment sample in NEW waits", doc: "check-status-payment.json", edit: set("statusName", "NEW"),
			inv: invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationPending), state: invoice.StateCreated,
			wait: invoice.ConfirmationPending},
		{name: "payment sample in 3D waits for a not-final failure", doc: "check-status-payment.json", edit: set("statusName", "3D"),
			inv: invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationNotFinal), state: invoice.StateCreated,
			wait: invoice.ConfirmationNotFinal},
		{name: "payment sample REJECT 454 is not final", doc: "check-status-payment.json",
			edit: set("statusName", "REJECT", "reasonCode", "454"),
			inv:  invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationNotFinal), state: invoice.StateCreated,
			wait: invoice.ConfirmationNotFinal},
		{name: "payment sample REFUND for a claim is review", doc: "check-status-payment.json", edit: set("statusName", "REFUND"),
			inv: invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationPending), state: invoice.StateReview,
			reason: "100 REFUND"},
		{name: "payment sample with an undocumented statusName is review, never paid", doc: "check-status-payment.json",
			edit: set("statusName", "PAID"),
			inv:  invoiceFor(payID, "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationPending), state: invoice.StateReview,
			reason: "100 PAID"},
		// the 2022 page's answer: REJECT with 465 (final)
		{name: "2022 sample REJECT 465 fails a not-final failure", doc: "check-status-payment-2022.json",
			inv:   invoiceFor("10338026186011", "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationNotFinal),
			state: invoice.StateFailed},
		{name: "2022 sample REJECT 465 fails a created invoice", doc: "check-status-payment-2022.json",
			inv:   invoiceFor("10338026186011", "payment", epayapi.TestTerminal, 2222, ""),
			state: invoice.StateFailed},
		{name: "2022 sample REJECT 465 does not confirm a success", doc: "check-status-payment-2022.json",
			inv:   invoiceFor("10338026186011", "payment", epayapi.TestTerminal, 2222, invoice.ConfirmationPending),
			state: invoice.StateReview, reason: "not confirmed: ePay status says 100 REJECT reason 465"},
		// check-status-p2p: transaction.p2p
		{name: "P2P sample confirms a transfer", doc: "check-status-p2p.json",
			inv: invoiceFor(p2pID, "p2p", p2pTerminal, 20000, invoice.ConfirmationPending), state: invoice.StatePaid},
		{name: "P2P sample for another amount is review", doc: "check-status-p2p.json",
			inv: invoiceFor(p2pID, "p2p", p2pTerminal, 20001, invoice.ConfirmationPending), state: invoice.StateReview,
			reason: "amount 200 != invoice 200.01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := docStatus(t, tt.doc, tt.edit)
			now := time.Date(2022, 11, 15, 4, 0, 0, 0, time.UTC)
			got, _, err := invoice.Apply(tt.inv, invoice.StatusMessage("st:doc", tt.inv.InvoiceID, st, now), now)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.state || !strings.Contains(got.ReviewReason, tt.reason) || got.Confirmation != tt.wait {
				t.Fatalf("state %s reason %q confirmation %q; want %s, %q, %q", got.State, got.ReviewReason, got.Confirmation,
					tt.state, tt.reason, tt.wait)
			}
		})
	}
}

// A P2P transfer is confirmed with the P2P status API (its answer shape is
// transaction.p2p), a card payment with the payment one.
func TestTransfersAreConfirmedWithTheP2PStatusAPI(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	w := e.start(e.withSandbox(sb, func(c *Config) { c.ConfirmPayments = true }))
	sandboxPayKind(t, sb, "300000051", "100", cardPays, invoice.KindP2P)
	sandboxPay(t, sb, "300000052", "100", cardPays)
	p2p := createdFor("300000051", 10000)
	p2p.Kind = invoice.KindP2P
	e.publishCreated(p2p)
	e.publishCreated(createdFor("300000052", 10000))
	e.publish(callbackMsg(t, successCallback("300000051", "tx-p2p", 10000), true, ""))
	e.publish(callbackMsg(t, successCallback("300000052", "tx-pay", 10000), true, ""))
	for id, api := range map[string]string{"300000051": "p2p", "300000052": "payment"} {
		got := waitState(t, w.url, id, invoice.StatePaid)
		var asked []string
		for _, h := range got.History {
			if h.Kind != invoice.MsgStatus {
				continue
			}
			var st invoice.Status // history keeps the answer as applied
			if err := json.Unmarshal(h.Body, &st); err != nil {
				t.Fatal(err)
			}
			asked = append(asked, st.API)
		}
		if len(asked) != 1 || asked[0] != api {
			t.Errorf("%s: status APIs asked %v, want [%s]", id, asked, api)
		}
	}
}

// ePay's reason 454 is "not final, request the status": the failure callback does not
// make the invoice failed; the worker asks ePay ("107 in progress" first, then CHARGE on
// the sandbox's not-final card) and the invoice ends paid, with one paid event. So does
// a failure whose reason code is 0 ("success"), null or missing: it says nothing of the
// failure's finality (a captured failurePostLink body carried "reasonCode": 0).
func TestNotFinalFailureIsCheckedAndEndsPaid(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	w := e.start(e.withSandbox(sb, nil))
	for i, reason := range []string{`,"reasonCode":454`, `,"reasonCode":0`, `,"reasonCode":null`, ``} {
		id := fmt.Sprintf("30000006%d", i+1)
		t.Run(id+reason, func(t *testing.T) {
			sandboxPay(t, sb, id, "100", sandbox.NotFinalCard)
			e.publishCreated(createdFor(id, 10000))
			failure := []byte(`{"id":"tx-` + id + `","invoiceId":"` + id + `","amount":100,"currency":"KZT","code":"error",` +
				`"terminal":"` + sampleTerminal + `","reason":"The operation failed"` + reason + `}`)
			e.publish(callbackMsg(t, failure, true, ""))
			got := waitState(t, w.url, id, invoice.StatePaid)
			if got.StatusChecks < 1 || !strings.HasPrefix(got.LastStatus, "100 CHARGE") {
				t.Errorf("status checks %d, last %q", got.StatusChecks, got.LastStatus)
			}
			var states []invoice.State
			for _, h := range got.History {
				states = append(states, h.StateAfter)
			}
			for _, s := range states {
				if s == invoice.StateFailed {
					t.Fatalf("history %v: the failure made the invoice failed", states)
				}
			}
			waitFor(t, 10*time.Second, "the paid event", func() bool { return len(eventTypes(e, id)) > 0 })
			if ev := eventTypes(e, id); len(ev) != 1 || ev[0] != "paid" {
				t.Errorf("events %v, want [paid]", ev)
			}
		})
	}
}

// A claim that gets no final answer within WORKER_FINAL_WITHIN goes to review with the
// reason; it is never paid or failed by default.
func TestClaimWithoutAFinalAnswerGoesToReviewAfterTheBound(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	w := e.start(e.withSandbox(sb, func(c *Config) { c.FinalWithin = 2 * time.Second }))
	e.publishCreated(createdFor("300000071", 10000)) // ePay never heard of it
	failure := []byte(`{"id":"tx-454b","invoiceId":"300000071","amount":100,"currency":"KZT","code":"error",` +
		`"terminal":"` + sampleTerminal + `","reason":"The operation failed","reasonCode":454}`)
	e.publish(callbackMsg(t, failure, true, ""))
	waitFor(t, 10*time.Second, "the not-final failure waiting", func() bool {
		_, b := get(t, w.url, "300000071")
		return b.Confirmation == invoice.ConfirmationNotFinal && b.LastStatus == "102"
	})
	got := waitState(t, w.url, "300000071", invoice.StateReview)
	if !strings.Contains(got.ReviewReason, "no final answer from ePay in time: 102") || got.Confirmation != "" {
		t.Errorf("review reason %q confirmation %q", got.ReviewReason, got.Confirmation)
	}
	if v := metricValue(t, w.url, `epayflow_worker_confirmations_total{result="review"}`); v != 1 {
		t.Errorf(`confirmations_total{result="review"} = %v, want 1`, v)
	}
	waitFor(t, 10*time.Second, "the awaiting gauge back to 0", func() bool {
		return metricValue(t, w.url, `epayflow_worker_awaiting_final{confirmation="not_final"}`) == 0
	})
}

// A claim's wait for a final answer starts when the inbox stored its callback (the
// server's time), not at the receipt's time, which its publisher writes: a callback whose
// receipt is dated a day back is not sent to review at its first not-final answer (it was,
// with WORKER_FINAL_WITHIN 1h, before the wait started at StoredAt).
func TestABackdatedReceiptDoesNotShortenTheWaitForAFinalAnswer(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	w := e.start(e.withSandbox(sb, func(c *Config) { c.FinalWithin = time.Hour }))
	const id = "300000072"
	e.publishCreated(createdFor(id, 10000)) // ePay never heard of it: "102" each time
	failure := []byte(`{"id":"tx-454c","invoiceId":"` + id + `","amount":100,"currency":"KZT","code":"error",` +
		`"terminal":"` + sampleTerminal + `","reason":"The operation failed","reasonCode":454}`)
	publishedAt := time.Now()
	e.publish(callbackReceivedAt(t, failure, true, "", publishedAt.Add(-25*time.Hour)))
	waitFor(t, 10*time.Second, "ePay's not-final answer applied", func() bool {
		_, got := get(t, w.url, id)
		return got.LastStatus == "102" || got.State == invoice.StateReview
	})
	_, got := get(t, w.url, id)
	if got.State != invoice.StateCreated || got.Confirmation != invoice.ConfirmationNotFinal {
		t.Fatalf("state %s confirmation %q (review reason %q): the receipt's date decided the wait", got.State, got.Confirmation, got.ReviewReason)
	}
	if got.ConfirmSince.Before(publishedAt.Add(-time.Minute)) || got.ConfirmSince.After(time.Now()) {
		t.Errorf("confirmSince %s, want when the inbox stored the callback (published %s)", got.ConfirmSince, publishedAt)
	}
	if len(got.History) < 2 || !got.History[1].ReceivedAt.Before(publishedAt.Add(-24*time.Hour)) {
		t.Errorf("history %+v: the receipt's own time is still the callback's receivedAt", got.History)
	}
}

// Strange answers from ePay never make an invoice paid and never panic: each gets a
// clear outcome (review with the reason, or asked again until the bound).
func TestStrangeStatusAnswersEndInReviewNeverPaid(t *testing.T) {
	answers := map[string]string{
		// both spellings of the invoice id, with different values: malformed, retried
		"300000081": `{"resultCode":"100","resultMessage":"SUCCESS","transaction":{"invoiceID":"300000081","invoiceId":"300000099",` +
			`"statusName":"CHARGE","amount":100,"currency":"KZT","terminalID":"` + sampleTerminal + `"}}`,
		// an undocumented statusName
		"300000082": `{"resultCode":"100","resultMessage":"SUCCESS","transaction":{"statusName":"SETTLED","amount":100,"currency":"KZT","terminalID":"` + sampleTerminal + `"}}`,
		// result 100 and no transaction
		"300000083": `{"resultCode":"100","resultMessage":"SUCCESS"}`,
		// a body over the client's limit
		"300000084": `{"resultCode":"100","pad":"` + strings.Repeat("x", 2<<20) + `","transaction":{"statusName":"CHARGE"}}`,
	}
	epaySrv := httptestServer(t, func(path string) (int, string) {
		if strings.HasSuffix(path, "/oauth2/token") {
			return 200, `{"access_token":"T","expires_in":1200,"scope":"webapi payment","token_type":"Bearer"}`
		}
		return 200, answers[path[strings.LastIndexByte(path, '/')+1:]]
	})
	e := newEnv(t)
	w := e.start(e.withSandbox(epaySrv, func(c *Config) { c.ConfirmPayments, c.FinalWithin = true, 2*time.Second }))
	for id := range answers {
		e.publishCreated(createdFor(id, 10000))
		e.publish(callbackMsg(t, successCallback(id, "tx-"+id, 10000), true, ""))
	}
	want := map[string]string{
		"300000081": "no final answer from ePay in time: no answer (bad_response",
		"300000082": "not confirmed: ePay status says 100 SETTLED",
		"300000083": "not confirmed: ePay status says 100",
		"300000084": "no final answer from ePay in time: no answer (bad_response",
	}
	for id, reason := range want {
		got := waitState(t, w.url, id, invoice.StateReview)
		if !strings.Contains(got.ReviewReason, reason) {
			t.Errorf("%s: review reason %q, want %q", id, got.ReviewReason, reason)
		}
	}
}

// httptestServer serves answer(path) as ePay would, on loopback, until the test ends.
func httptestServer(t *testing.T, answer func(path string) (int, string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := answer(r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A transfer is confirmed with a service token of its own terminal, the one its signed
// invoice.created names, whatever the worker's EPAY_P2P_TERMINAL says: an invoice made
// before the setting, or by an initiator that has it while this worker does not, would
// otherwise be asked about with another terminal's token, answered 106 (wrong terminal,
// not final), and end in review. A card payment likewise uses its own.
func TestATransferIsAskedAboutWithItsOwnTerminal(t *testing.T) {
	const p2pTerminal = "40a348cb-68a3-45d5-9002-a4836d79c3b5"
	e := newEnv(t)
	sb := startSandboxOf(t, sandbox.Config{Terminals: []string{sandbox.TestTerminal, p2pTerminal}})
	// the worker knows EPAY_TERMINAL only (no EPAY_P2P_TERMINAL)
	w := e.start(e.withSandbox(sb, func(c *Config) { c.ConfirmPayments = true }))
	sandboxPayOn(t, sb, "300000061", "100", cardPays, invoice.KindP2P, p2pTerminal)
	p2p := createdFor("300000061", 10000)
	p2p.Kind, p2p.Terminal = invoice.KindP2P, p2pTerminal
	e.publishCreated(p2p)
	cb := bytes.Replace(successCallback("300000061", sandboxTxOn(t, sb, p2pTerminal, "300000061"), 10000), []byte(sampleTerminal), []byte(p2pTerminal), 1)
	e.publish(callbackMsg(t, cb, true, ""))
	got := waitState(t, w.url, "300000061", invoice.StatePaid)
	if got.Terminal != p2pTerminal || got.LastStatus != "100 CHARGE" {
		t.Fatalf("the transfer: terminal %s, last status %q; want paid on %s, confirmed by ePay's 100 CHARGE", got.Terminal, got.LastStatus, p2pTerminal)
	}
}
