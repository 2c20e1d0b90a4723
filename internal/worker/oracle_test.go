package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// tinyModel is the events the tests' invoices must make, read from docs/DESIGN.md's
// state machine for what the scenarios send (invoice.created and verified callbacks,
// without confirmation), not from internal/invoice and never from the worker: an
// invoice's version counts every message applied once, an event's id is
// <invoiceId>-<version>. internal/chaos's oracle is the full model; this is its part the
// worker's in-process tests need.
type tinyModel struct {
	state   string // "", unmatched, created, paid, failed, review
	version int
	amount  epay.Amount
	paidTx  string
	seen    map[string]bool
	pending []*epay.Callback
	events  map[string]string // event id -> type (paid, failed, review)
}

func (m *tinyModel) created(c invoice.Created, id string) {
	if m.seen[c.InvoiceID] {
		return
	}
	m.seen[c.InvoiceID] = true
	m.version++
	if m.state != "" && m.state != "unmatched" {
		return
	}
	m.state, m.amount = "created", c.Amount
	pending := m.pending
	m.pending = nil
	for _, cb := range pending {
		m.version++
		m.pay(cb, id)
	}
}

func (m *tinyModel) callback(cb *epay.Callback, verified bool, id string) {
	key := fmt.Sprintf("cb:%s:%s:%v", cb.ID, cb.Code, verified)
	if m.seen[key] {
		return
	}
	m.seen[key] = true
	m.version++
	switch {
	case !verified: // history only: nobody can check it
	case m.state == "" || m.state == "unmatched":
		m.state = "unmatched"
		m.pending = append(m.pending, cb)
	default:
		m.pay(cb, id)
	}
}

func (m *tinyModel) pay(cb *epay.Callback, id string) {
	emit := func(typ string) { m.events[fmt.Sprintf("%s-%d", id, m.version)] = typ }
	if !cb.Succeeded() {
		if m.state == "created" && epay.ReasonFinality(cb.ReasonCode) != epay.NotFinal {
			m.state = "failed"
			emit("failed")
		}
		return
	}
	switch {
	case m.state == "paid":
		if cb.ID != m.paidTx {
			emit("review") // a double payment; not in the scenarios
		}
	case cb.Amount == m.amount:
		m.state, m.paidTx = "paid", cb.ID
		emit("paid")
	case m.state != "review":
		m.state = "review"
		emit("review")
	}
}

// expectedEvents reads EPAY_INBOX in stream order (the order the worker applies each
// invoice's messages in) and returns every event the tiny model says must be published:
// event id -> type.
func expectedEvents(t *testing.T, e *env) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	models := map[string]*tinyModel{}
	model := func(id string) *tinyModel {
		if models[id] == nil {
			models[id] = &tinyModel{seen: map[string]bool{}, events: want}
		}
		return models[id]
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("inbox message %d: %v", seq, err)
		}
		switch {
		case strings.HasSuffix(raw.Subject, "."+inbox.KindInvoice):
			var c invoice.Created
			if err := json.Unmarshal(raw.Data, &c); err != nil {
				t.Fatalf("inbox message %d: %v", seq, err)
			}
			model(c.InvoiceID).created(c, c.InvoiceID)
		case strings.HasSuffix(raw.Subject, "."+inbox.KindPostlink):
			cb, err := epay.DecodeCallback(raw.Data)
			if err != nil {
				t.Fatalf("inbox message %d: %v", seq, err)
			}
			r, _ := inbox.ReceiptOf(raw.Header)
			model(cb.InvoiceID).callback(cb, r.Verified, cb.InvoiceID)
		default:
			t.Fatalf("inbox message %d on %s: not in the model", seq, raw.Subject)
		}
	}
	return want
}

// checkEventsAgainstModel compares PAYMENT_EVENTS with the model of the inbox: every
// event the model expects is there exactly once with its type, and nothing else is.
// The caller has waited until the inbox consumers are done; this waits (bounded) until
// the worker at base has published its whole outbox, then checks the exact set: a
// missing event, a later duplicate or an extra event fails.
func checkEventsAgainstModel(t *testing.T, e *env, base string, want map[string]string) {
	t.Helper()
	waitFor(t, 20*time.Second, "the outbox published", func() bool { return metricValue(t, base, "epayflow_worker_outbox_backlog") == 0 })
	seen := map[string]bool{}
	for _, ev := range e.events() {
		typ, ok := want[ev.ID]
		switch {
		case seen[ev.ID]:
			t.Fatalf("event %s published twice", ev.ID)
		case !ok:
			t.Fatalf("event %s (%s) published, the model expects no such event", ev.ID, ev.Type)
		case ev.Type != "kz.epay.payment."+typ:
			t.Fatalf("event %s is %s, the model expects %s", ev.ID, ev.Type, typ)
		}
		seen[ev.ID] = true
	}
	for id, typ := range want {
		if !seen[id] {
			t.Errorf("event %s (%s) never published", id, typ)
		}
	}
}
