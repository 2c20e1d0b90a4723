package worker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// A buyer who learned their invoice's secret_hash may send verified callbacks for it,
// each with a new transaction id. Unbounded, some 2,300 of them grew the invoice's
// changelog record past NATS's message size: its write was refused for ever, and the
// shard stopped there, an honest invoice on it never created. Past
// invoice.MaxMessagesForCallbacks the flood is acked without being applied (outcome
// over_limit), not sent to the DLQ (which it would fill), and the shard goes on; the flood
// raises a bounded number of double-payment reviews.
func TestAFloodOfVerifiedCallbacksForOneInvoiceDoesNotStopItsShard(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	const victim = "300000071"
	honest := sameShard(t, victim, "300000072")
	e.publishCreated(createdFor(victim, 10000))
	e.publish(callbackMsg(t, successCallback(victim, "tx-real", 10000), true, ""))
	waitState(t, w.url, victim, invoice.StatePaid)
	const over = 3
	for i := 2; i < invoice.MaxMessagesForCallbacks+over; i++ {
		e.publish(callbackMsg(t, successCallback(victim, fmt.Sprintf("%064d", i), 10000), true, ""))
	}
	e.publishCreated(createdFor(honest, 10000))
	e.publish(callbackMsg(t, successCallback(honest, "tx-honest", 10000), true, ""))
	waitState(t, w.url, honest, invoice.StatePaid)
	waitFor(t, 60*time.Second, "the flood past the bound counted", func() bool {
		return metricValue(t, w.url, `epayflow_worker_messages_total{kind="postlink",outcome="over_limit"}`) == over
	})
	if v := metricValue(t, w.url, `epayflow_worker_messages_total{kind="postlink",outcome="poisoned"}`); v != 0 {
		t.Fatalf("%v callbacks poisoned (to the DLQ), want none", v)
	}
	_, got := get(t, w.url, victim)
	if got.State != invoice.StatePaid || got.TransactionID != "tx-real" || got.Version != invoice.MaxMessagesForCallbacks {
		t.Fatalf("the victim: %s with %s at version %d, want paid with tx-real at version %d", got.State, got.TransactionID, got.Version, invoice.MaxMessagesForCallbacks)
	}
	reviews := 0
	for _, typ := range eventTypes(e, victim) {
		if typ == string(invoice.EventReview) {
			reviews++
		}
	}
	if reviews != 16 {
		t.Fatalf("%d review events for the flood, want 16 (one for each transaction kept)", reviews)
	}
}

// sameShard is the first invoice id from start up whose shard is id's.
func sameShard(t *testing.T, id, start string) string {
	t.Helper()
	var n int
	fmt.Sscan(start, &n)
	for range 1000 {
		cand := fmt.Sprint(n)
		if inbox.Shard(cand, inbox.DefaultShards) == inbox.Shard(id, inbox.DefaultShards) && cand != id {
			return cand
		}
		n++
	}
	t.Fatal("no invoice id on the same shard")
	return strings.Repeat("0", 9)
}
