package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

func TestSampleCallbacksEndInTheirStateWithOneEventEach(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	tests := []struct {
		file, invoiceID string
		state           invoice.State
		eventType       string
	}{
		{"success.json", "191111111", invoice.StatePaid, "kz.epay.payment.paid"},
		{"failure.json", "10000000001", invoice.StateFailed, "kz.epay.payment.failed"},
	}
	for _, tc := range tests {
		e.publishCreated(createdFor(tc.invoiceID, 10000))
		e.publish(callbackMsg(t, sample(t, tc.file), true, ""))
	}
	for _, tc := range tests {
		got := waitState(t, w.url, tc.invoiceID, tc.state)
		// created and callback were published back to back: applied in that order
		if len(got.History) != 2 || got.History[0].Kind != invoice.MsgCreated || !jsonEqual(t, got.History[1].Body, epay.RedactSecretHash(signed(t, sample(t, tc.file)))) {
			t.Errorf("%s: history %+v", tc.file, got.History)
		}
	}
	// both messages are applied, their events in the outbox: once it is empty, all are out
	waitFor(t, 10*time.Second, "outbox relayed", func() bool { return metricValue(t, w.url, "epayflow_worker_outbox_backlog") == 0 })
	got := e.events()
	if len(got) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(got), got)
	}
	byInvoice := map[string]events.CloudEvent{} // two invoices: nothing orders one's events against the other's
	for _, ev := range got {
		byInvoice[ev.Subject] = ev
	}
	for _, tc := range tests {
		ev := byInvoice[tc.invoiceID]
		if ev.Type != tc.eventType || ev.Subject != tc.invoiceID || ev.SpecVersion != "1.0" || ev.Source != "epayflow/worker" ||
			ev.DataContentType != "application/json" || ev.Data.Invoice.State != tc.state || len(ev.Data.Callback) == 0 {
			t.Errorf("event of %s: %+v", tc.invoiceID, ev)
		}
	}
	paid := byInvoice["191111111"].Data.Invoice
	if paid.TransactionID != "1d1a11f1-1111-111c-1113b-e8340ce51111" || paid.CardMask != "440043...2222" || paid.Reason == nil || paid.Reason.EN != "Success" {
		t.Errorf("paid invoice view %+v", paid)
	}
	if failed := byInvoice["10000000001"].Data.Invoice; failed.ReasonCode != -498 || failed.Reason == nil || failed.Reason.EN != "ePay reason code -498" {
		t.Errorf("failed invoice view %+v", failed)
	}
	// each applied message's steps are timed: four records and commits, two of them with
	// events (invoice.created has none)
	stage := func(name string) float64 {
		return metricValue(t, w.url, `epayflow_worker_apply_stage_seconds_count{stage="`+name+`"}`)
	}
	waitFor(t, 10*time.Second, "the events' step timed", func() bool { return stage("events") == 2 })
	if c, m := stage("changelog"), stage("commit"); c != 4 || m != 4 {
		t.Errorf("apply stages timed: changelog %v, commit %v; want 4 and 4", c, m)
	}
}

func TestReadAPIAnswers404ForUnknownAnd400ForMalformedIDs(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	for id, want := range map[string]int{"123456789": http.StatusNotFound, "12ab56789": http.StatusBadRequest, "123": http.StatusBadRequest} {
		if code, _ := get(t, w.url, id); code != want {
			t.Errorf("GET %s: %d, want %d", id, code, want)
		}
	}
	for _, path := range []string{"/livez", "/readyz", "/metrics"} {
		resp, err := http.Get(w.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestInvoiceCreatedAfterItsCallbackResolvesUnmatched(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	e.publish(callbackMsg(t, sample(t, "success.json"), true, ""))
	waitState(t, w.url, "191111111", invoice.StateUnmatched)
	if n := e.eventCount(); n != 0 {
		t.Fatalf("%d events for an unmatched callback, want none", n)
	}
	e.publishCreated(createdFor("191111111", 10000))
	got := waitState(t, w.url, "191111111", invoice.StatePaid)
	if len(got.History) != 2 || got.History[0].Kind != invoice.MsgSuccess || got.History[1].StateAfter != invoice.StatePaid {
		t.Errorf("history %+v", got.History)
	}
	waitFor(t, 10*time.Second, "the paid event", func() bool { return e.eventCount() == 1 })
	if ev := e.events()[0]; ev.Type != "kz.epay.payment.paid" {
		t.Fatalf("event %+v", ev)
	}
}

// Messages forged straight onto the inbox, with every header a real one has ("verified",
// the verified callback's Msg-Id), change nothing: the worker checks secret_hash itself
// and applies only status messages signed with the workers' key. The callbacks stay in
// history; the status messages go to the DLQ with the reason.
func TestForgedMessagesStraightToNATSChangeNothing(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config()) // no ePay client: nothing can check an unverified callback
	e.publishCreated(createdFor("191111111", 10000))
	e.publishCreated(createdFor("191111112", 10000))
	success := callbackMsg(t, sample(t, "success.json"), false, "")                                        // no secret_hash ...
	success.Header.Set(inbox.HeaderReceipt, "/epay/postlink 2026-12-03T06:00:00Z 127.0.0.1:1 forged true") // ... but "verified"
	e.publish(success)
	failure := callbackMsg(t, bytes.Replace(sample(t, "failure.json"), []byte("10000000001"), []byte("191111112"), 1), false, "")
	failure.Header.Set(inbox.HeaderVerified, "true") // the older form of the claim
	e.publish(failure)
	forgedStatus := func(sig string) *nats.Msg {
		body, _ := json.Marshal(inbox.StatusBody{InvoiceID: "191111111", Status: invoice.Status{Check: 1, Purpose: invoice.PurposeConfirm,
			ResultCode: "100", StatusName: "CHARGE", Amount: 10000, Currency: "KZT", Terminal: sampleTerminal, TransactionID: "tx-forged"}})
		subject := inbox.Subject(inbox.Shard("191111111", inbox.DefaultShards), inbox.KindStatus)
		h := nats.Header{}
		h.Set(nats.MsgIdHdr, "st:forged:"+sig)
		if sig == "other key" {
			other, err := inbox.NewStatusSigner([]byte("not-the-workers-status-key"))
			if err != nil {
				t.Fatal(err)
			}
			sig = other.Sign(subject, body)
		}
		h.Set(inbox.HeaderStatusSignature, sig)
		return &nats.Msg{Subject: subject, Header: h, Data: body}
	}
	e.publish(forgedStatus(""))
	e.publish(forgedStatus("other key"))

	waitFor(t, 10*time.Second, "both forged status messages in the DLQ", func() bool { return len(e.dlqEntries()) == 2 })
	for _, d := range e.dlqEntries() {
		if !strings.Contains(d.Reason, "status message") || !strings.Contains(d.Reason, "signature") {
			t.Errorf("DLQ reason %q, want it to say the status message is not signed by a worker", d.Reason)
		}
	}
	for id, n := range map[string]int{"191111111": 2, "191111112": 2} {
		waitFor(t, 10*time.Second, "the forged callback in history", func() bool {
			_, got := get(t, w.url, id)
			return len(got.History) == n
		})
		_, got := get(t, w.url, id)
		if got.State != invoice.StateCreated || got.Version != 2 {
			t.Errorf("%s: state %s version %d, want created, the forgery in history only", id, got.State, got.Version)
		}
		if v := got.History[1].Verified; v == nil || *v {
			t.Errorf("%s: the forged callback is recorded as verified=%v", id, v)
		}
	}
	if got := metricValue(t, w.url, "epayflow_worker_outbox_backlog"); got != 0 || e.eventCount() != 0 {
		t.Fatalf("outbox %v, events %d: want none", got, e.eventCount())
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var ca, cb bytes.Buffer
	if err := json.Compact(&ca, a); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&cb, b); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// A worker stopped while its router is still subscribing (SIGTERM right after start)
// shuts down cleanly instead of reporting the cancellation as a failure.
func TestRunStoppedDuringStartReturnsNil(t *testing.T) {
	e := newEnv(t)
	// The window is the router's subscribing: cancel at growing delays after the listener
	// is up so that some runs land inside it.
	for i := 0; i < 20; i++ {
		cfg := e.config()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		delay := time.Duration(i) * 2 * time.Millisecond
		listened := httpserver.WithListenHook(ctx, func(string) { time.AfterFunc(delay, cancel) })
		go func() { done <- Run(listened, cfg, e.log) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: Run stopped during start returned %v, want nil", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return within 20s of cancel")
		}
		cancel()
	}
}

// Unsigned callbacks posted without end for an invoice that was never created (issue:
// 150 of 60 KB grew the file to 55 MB) are bounded: WORKER_MAX_PENDING are kept, the
// rest go to the DLQ and are counted; the invoice's record stays small.
func TestPendingCallbacksOfAnUncreatedInvoiceAreBounded(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxPending, cfg.MaxPendingBytes = 4, 1<<20
	w := e.start(cfg)
	pad := strings.Repeat("x", 60<<10)
	for i := range 10 {
		body := []byte(fmt.Sprintf(`{"id":"tx-%d","invoiceId":"191111119","amount":100,"currency":"KZT","code":"ok",`+
			`"terminal":"%s","description":"%s"}`, i, sampleTerminal, pad))
		e.publish(callbackMsg(t, body, false, ""))
	}
	waitFor(t, 20*time.Second, "six refused callbacks in the DLQ", func() bool { return len(e.dlqEntries()) == 6 })
	if got := metricValue(t, w.url, "epayflow_worker_pending_refused_total"); got != 6 {
		t.Errorf("pending_refused_total = %v, want 6", got)
	}
	for _, d := range e.dlqEntries() {
		if !strings.Contains(d.Reason, "WORKER_MAX_PENDING") {
			t.Errorf("DLQ reason %q", d.Reason)
		}
	}
	_, got := get(t, w.url, "191111119")
	if got.State != invoice.StateUnmatched || len(got.History) != 4 {
		t.Fatalf("state %s, %d history entries; want unmatched with the 4 kept", got.State, len(got.History))
	}
}
