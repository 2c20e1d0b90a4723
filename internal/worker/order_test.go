package worker

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
)

// orderScenario makes n invoices that each get a failure callback and then its retry's
// success, back to back in their shard's stream: invoice.created first, except for every
// third invoice, whose invoice.created comes after both callbacks.
func orderScenario(t testing.TB, n int) (ids []string, msgs []*nats.Msg) {
	for i := range n {
		id := fmt.Sprintf("%09d", 800000000+i)
		cb := func(tx, code string) *nats.Msg {
			raw := fmt.Sprintf(`{"id":"%s","invoiceId":"%s","code":"%s","amount":100,"currency":"KZT","terminal":"%s","reasonCode":%d,"cardMask":"440043...2222"}`,
				tx, id, code, sampleTerminal, map[string]int{"ok": 0, "error": 484}[code])
			return callbackMsg(t, []byte(raw), true, "")
		}
		created := createdMsg(createdFor(id, 10000))
		failure, success := cb("tx-a-"+id, "error"), cb("tx-b-"+id, "ok")
		if i%3 == 2 {
			msgs = append(msgs, failure, success, created)
		} else {
			msgs = append(msgs, created, failure, success)
		}
		ids = append(ids, id)
	}
	return ids, msgs
}

// The stream says failed, then paid: one event per state change in that order, whatever
// the worker's concurrency. Applied the other way round, the failure would be history
// only and the invoice would have a paid event and no failed one.
func TestMessagesOfOneInvoiceApplyInStreamOrder(t *testing.T) {
	e := newEnv(t)
	cfg := e.config() // default -max-in-flight: many messages of a shard in flight at once
	ids, msgs := orderScenario(t, 300)
	for _, m := range msgs { // one publisher: each invoice's messages are adjacent in its shard
		e.publish(m)
	}
	w := e.start(cfg)
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, cfg.Shards) })
	waitFor(t, 20*time.Second, "outbox relayed", func() bool { return metricValue(t, w.url, "epayflow_worker_outbox_backlog") == 0 })

	for _, id := range ids {
		if code, body := get(t, w.url, id); code != 200 || body.State != invoice.StatePaid {
			t.Fatalf("invoice %s: %d %s, want paid", id, code, body.State)
		}
	}
	byInvoice := map[string][]events.CloudEvent{}
	for _, ev := range e.events() {
		byInvoice[ev.Subject] = append(byInvoice[ev.Subject], ev)
	}
	bad := 0
	for _, id := range ids {
		evs := byInvoice[id]
		if len(evs) == 2 && evs[0].Type == events.TypePrefix+"failed" && evs[1].Type == events.TypePrefix+"paid" &&
			eventVersion(t, evs[0].ID) < eventVersion(t, evs[1].ID) {
			continue
		}
		if bad++; bad <= 5 {
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Type+" "+ev.ID)
			}
			t.Errorf("invoice %s: events %v, want a failed then a paid event", id, got)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d invoices have events out of stream order", bad, len(ids))
	}
	if n := len(byInvoice); n != len(ids) {
		t.Fatalf("events for %d invoices, want %d", n, len(ids))
	}
}

// eventVersion is the invoice version an event id ("<invoiceId>-<version>") carries.
func eventVersion(t testing.TB, id string) int {
	t.Helper()
	v, err := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
	if err != nil {
		t.Fatalf("event id %q: %v", id, err)
	}
	return v
}
