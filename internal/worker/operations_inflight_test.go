package worker

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/invoice"
)

// The cases of a money review: an operation whose call to ePay is still under way (ours
// timed out, a forwarder gave up, the shard moved) must never be concluded "not made"
// from ePay's status while ePay may still make it; the merchant, told it failed, would
// make it again, and the customer be refunded twice.

// slowEPay is ePay in front of sandbox sb that makes an operation only after delay,
// whether or not the caller still waits (a server does not undo a request its client
// stopped waiting for); everything else passes at once. (Tests wait for the operation by
// ePay's status: a WaitGroup's Add in the handler would race with the test's Wait for
// the race detector, which sees no order through a socket.)
func slowEPay(t *testing.T, sb string, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(r.URL.Path, "/operation/") {
			time.Sleep(delay)
		}
		req, _ := http.NewRequestWithContext(context.Background(), r.Method, sb+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// opsOn is an opsEnv whose workers reach ePay at epayURL (the sandbox sb behind it) and
// whose EPAY_TIMEOUT is timeout; no worker is started.
func opsOn(t *testing.T, sb, epayURL string, timeout time.Duration) *opsEnv {
	t.Helper()
	e := newEnv(t)
	cfg := e.withSandbox(epayURL, func(c *Config) {
		c.StatusKey = opsStatusKey
		c.ReadKeys, _ = ParseReadKeys("tests:pii:" + testReadKey + ",shop:operate:" + testOperateKey)
		c.EPay.Timeout = timeout
	})
	client, err := epayapi.New(epayConfig(t, sb), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &opsEnv{env: e, sb: sb, client: client, cfg: cfg}
}

// ePay answers a refund after our call to it timed out (EPAY_TIMEOUT 1 s, ePay 1.5 s):
// the answer is 503 "not known yet", never 422 "not made" although ePay's status shows
// no refund at that moment. Sent again with its key once ePay made it, it is recorded
// succeeded: ePay and the invoice agree.
func TestARefundWhoseCallTimedOutIsNeverConcludedNotMadeWhileEPayMayStillMakeIt(t *testing.T) {
	sb := startSandbox(t)
	front := slowEPay(t, sb, 1500*time.Millisecond)
	o := opsOn(t, sb, front, time.Second)
	o.w = o.start(o.cfg)
	const id = "400000901"
	o.paid(t, id, "100")

	first := post(t, o.w.url, id, "refund", "refund-1", `{"amount":40}`)
	if first.status != http.StatusServiceUnavailable {
		t.Fatalf("a refund whose call timed out: %+v, want 503 (its outcome not known yet), never 422", first)
	}
	// ePay makes it, though nobody waits for its answer any more
	waitFor(t, 10*time.Second, "ePay's refund", func() bool { return o.epayTx(t, id).Refunded() == 4000 })
	again := post(t, o.w.url, id, "refund", "refund-1", `{"amount":40}`)
	if again.status != http.StatusOK || again.body.Operation.State != invoice.OpSucceeded || !again.body.Operation.Recovered {
		t.Fatalf("the same refund again: %+v, want succeeded, read from ePay's status", again)
	}
	if r := o.epayTx(t, id).Refunded(); r != 4000 || again.body.Invoice.Refunded != 4000 {
		t.Fatalf("ePay refunded %s, the invoice %s: want 40 both", r, again.body.Invoice.Refunded)
	}
}

// The shard moved while its old owner waits for ePay's answer to a refund it started
// (played here by publishing its steps, signed as a worker does). The merchant's next
// refund reaches the new owner: it waits (503) instead of concluding the pending one
// not made; once the old owner's answer is recorded, the next one goes through, and ePay
// and the invoice agree.
func TestANewOwnerDoesNotConcludeARefundTheOldOwnerIsStillMaking(t *testing.T) {
	sb := startSandbox(t)
	o := opsOn(t, sb, sb, 5*time.Second)
	o.w = o.start(o.cfg)
	const id = "400000902"
	tx := o.paid(t, id, "100")

	o.publishStep(t, id, invoice.OperationStep{ID: "refund-a", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 4000, At: time.Now().UTC()}, opsStatusKey)
	waitFor(t, 10*time.Second, "refund-a pending", func() bool {
		_, inv := get(t, o.w.url, id)
		return len(inv.Operations) == 1 && inv.Operations[0].State == invoice.OpPending
	})
	if got := post(t, o.w.url, id, "refund", "refund-b", `{"amount":40}`); got.status != http.StatusServiceUnavailable {
		t.Fatalf("a refund on the new owner while the old one's is under way: %+v, want 503", got)
	}
	// ePay answers the old owner: made; its done step is recorded
	amt := epay.Amount(4000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.client.Operate(ctx, epayapi.OperationRequest{Op: epayapi.OpRefund, TransactionID: tx, Amount: &amt, ExternalID: "refund-a"}); err != nil {
		t.Fatal(err)
	}
	o.publishStep(t, id, invoice.OperationStep{ID: "refund-a", Type: invoice.OpRefund, Phase: invoice.PhaseDone, Amount: 4000,
		Outcome: invoice.OpSucceeded, At: time.Now().UTC()}, opsStatusKey)
	var got opResult
	waitFor(t, 10*time.Second, "refund-b made once refund-a is recorded", func() bool {
		got = post(t, o.w.url, id, "refund", "refund-b", `{"amount":40}`)
		return got.status != http.StatusServiceUnavailable
	})
	if got.status != http.StatusOK || got.body.Invoice.Refunded != 8000 {
		t.Fatalf("refund-b: %+v, want made, 80 refunded in all", got)
	}
	if r := o.epayTx(t, id).Refunded(); r != 8000 {
		t.Fatalf("ePay refunded %s, want 80: the invoice and ePay must agree", r)
	}
}

// An operation forwarded to the shard's owner while ePay takes 6 s to answer: the
// forward waits for it (a client-wide 5 s once cut it, abandoning the owner's call to
// ePay half way), and the answer is ePay's.
func TestAForwardedOperationWaitsForEPaysAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("ePay answers in 6 s")
	}
	sb := startSandbox(t)
	front := slowEPay(t, sb, 6*time.Second)
	o := opsOn(t, sb, front, 10*time.Second)
	notOwner, id := o.twoWorkers(t, 400000911)
	o.paid(t, id, "100")

	got := post(t, notOwner.url, id, "refund", "refund-1", `{"amount":40}`)
	if got.status != http.StatusOK || got.body.Operation.State != invoice.OpSucceeded || got.body.Invoice.Refunded != 4000 {
		t.Fatalf("a forwarded refund ePay answers in 6 s: %+v, want made", got)
	}
	if r := o.epayTx(t, id).Refunded(); r != 4000 {
		t.Fatalf("ePay refunded %s, want 40", r)
	}
}
