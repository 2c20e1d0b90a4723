package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/dlq"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

func (e *env) dlqEntries() []dlq.Entry {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	entries, err := dlq.New(e.js).List(ctx, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return entries
}

func dlqRun(t *testing.T, e *env, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	getenv := func(k string) string {
		if k == "NATS_URL" {
			return e.ns.URL()
		}
		return ""
	}
	if err := dlq.Run(ctx, args, getenv, &out); err != nil {
		t.Fatalf("worker dlq %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestPoisonMessagesGoToTheDLQWithTheirReason(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	good := callbackMsg(t, sample(t, "success.json"), true, "")
	tests := []struct {
		name, reason string
		msg          *nats.Msg
	}{
		{"not json", "callback body is not a JSON object", &nats.Msg{Subject: good.Subject, Header: good.Header, Data: []byte("<html>")}},
		{"bad invoice id", "invalid invoiceId", &nats.Msg{Subject: good.Subject, Header: good.Header, Data: []byte(`{"id":"t1","invoiceId":"12ab","code":"ok"}`)}},
		{"bad invoice.created", "invoice.created is not valid JSON", signedCreated(&nats.Msg{Subject: inbox.Subject(0, inbox.KindInvoice), Data: []byte("{")}, "0")},
		{"wrong shard", "belongs to shard", &nats.Msg{Subject: inbox.Subject((inbox.Shard("191111111", 8)+1)%8, inbox.KindPostlink), Header: good.Header, Data: good.Data}},
	}
	for i, tc := range tests {
		tc.msg.Header = cloneHeader(tc.msg.Header)
		tc.msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("poison-%d", i))
		e.publish(tc.msg)
	}
	waitFor(t, 10*time.Second, "4 DLQ entries", func() bool { return len(e.dlqEntries()) == len(tests) })
	entries := e.dlqEntries()
	for _, tc := range tests {
		found := false
		for _, d := range entries {
			if strings.Contains(d.Reason, tc.reason) {
				found = true
				if d.Subject == "" || !strings.HasPrefix(d.MsgID, "poison-") || d.Header.Get(nats.MsgIdHdr) != "dlq:"+d.Header.Get(dlq.HeaderStreamSeq) {
					t.Errorf("%s: entry %+v", tc.name, d)
				}
			}
		}
		if !found {
			t.Errorf("%s: no DLQ entry says %q; entries %+v", tc.name, tc.reason, entries)
		}
	}
	if n := e.eventCount(); n != 0 {
		t.Fatalf("%d events from poison messages", n)
	}
	list := dlqRun(t, e, "list")
	if !strings.Contains(list, "SEQ") || strings.Count(list, "epay.inbox.") != len(tests) {
		t.Errorf("dlq list:\n%s", list)
	}
	var html dlq.Entry
	for _, d := range entries {
		if strings.Contains(d.Reason, "not a JSON object") {
			html = d
		}
	}
	show := dlqRun(t, e, "show", fmt.Sprint(html.Seq))
	if !strings.Contains(show, "reason:") || !strings.Contains(show, "<html>") || !strings.Contains(show, inbox.HeaderReceipt) {
		t.Errorf("dlq show:\n%s", show)
	}
}

// A signed invoice.created poisoned for a cause the operator can fix (here the worker's
// EPAY_SECRET_KEYS lacked the key the initiator signs with: a rotation done in the wrong
// order) is applied once the setting is fixed and the entry replayed: the replay keeps
// the signature.
func TestDLQReplayAppliesAMessageOnceTheCauseIsFixed(t *testing.T) {
	e := newEnv(t)
	bad := e.config()
	var err error
	if bad.Keys, err = epay.ParseKeyring("B:a-key-the-initiator-does-not-use"); err != nil {
		t.Fatal(err)
	}
	w := e.start(bad)
	id := "300000001"
	e.publishCreated(createdFor(id, 10000))
	waitFor(t, 10*time.Second, "the DLQ entry", func() bool { return len(e.dlqEntries()) == 1 })
	entry := e.dlqEntries()[0]
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	w = e.start(e.config()) // fixed: the initiator's key

	out := dlqRun(t, e, "replay", fmt.Sprint(entry.Seq))
	if !strings.Contains(out, inbox.CreatedNatsMsgID(testKeys, id)+":replay:") {
		t.Errorf("replay said %q", out)
	}
	waitState(t, w.url, id, invoice.StateCreated)
	if n := len(e.dlqEntries()); n != 0 {
		t.Fatalf("%d DLQ entries after replay", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := dlq.New(e.js).Show(ctx, entry.Seq); !errors.Is(err, dlq.ErrNoEntry) {
		t.Fatalf("show after replay: %v", err)
	}
}

// A worker started with another EPAY_SHARDS than the inbox records would consume
// subjects cut otherwise (it used to dead-letter every message of an invoice it read on
// the wrong shard) and restore shards without the invoices recorded under the other
// cut: it is refused, never ready, and consumes nothing. A message published meanwhile
// is applied once a worker with the recorded count runs, and nothing is dead-lettered.
func TestAWorkerWithAnotherShardCountThanTheInboxsConsumesNothing(t *testing.T) {
	e := newEnv(t)
	good := e.config()
	if err := e.start(good).stop(t); err != nil { // records its count on EPAY_INBOX
		t.Fatal(err)
	}
	id := invoiceOnDifferentShard(t, good.Shards, 6)
	bad := e.config()
	bad.Shards, bad.OwnShards = 6, []int{0, 1, 2, 3, 4, 5}
	w := e.startListening(bad)
	e.publishCreated(createdFor(id, 10000))
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(w.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("a worker with 6 shards on an inbox of 16 is ready")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	consumers := st.ListConsumers(ctx)
	for c := range consumers.Info() {
		if c.Delivered.Consumer != 0 {
			t.Errorf("consumer %s delivered %d messages while only the refused worker ran", c.Name, c.Delivered.Consumer)
		}
	}
	if err := consumers.Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dlqEntries()); n != 0 {
		t.Fatalf("%d DLQ entries from a refused worker", n)
	}
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	w = e.start(good)
	waitState(t, w.url, id, invoice.StateCreated)
	if n := len(e.dlqEntries()); n != 0 {
		t.Fatalf("%d DLQ entries", n)
	}
}

func TestDLQReplayAllRepublishesEveryEntryWithItsHeaders(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	good := callbackMsg(t, sample(t, "success.json"), true, "")
	for i := range 3 {
		h := cloneHeader(good.Header)
		h.Set(nats.MsgIdHdr, fmt.Sprintf("junk-%d", i))
		e.publish(&nats.Msg{Subject: good.Subject, Header: h, Data: []byte("junk")})
	}
	waitFor(t, 10*time.Second, "3 DLQ entries", func() bool { return len(e.dlqEntries()) == 3 })
	first := e.dlqEntries()[0]
	out := dlqRun(t, e, "replay", "-all")
	if !strings.Contains(out, "replayed 3 message(s)") {
		t.Fatalf("replay -all said %q", out)
	}
	// the worker poisons them again: three new entries, with the original headers kept
	waitFor(t, 10*time.Second, "3 new DLQ entries", func() bool {
		entries := e.dlqEntries()
		return len(entries) == 3 && entries[0].Seq > first.Seq+2
	})
	again := e.dlqEntries()[0]
	if again.Header.Get(inbox.HeaderReceipt) == "" || again.Header.Get(inbox.HeaderReceipt) != good.Header.Get(inbox.HeaderReceipt) ||
		!strings.HasPrefix(again.MsgID, "junk-") || !strings.Contains(again.MsgID, ":replay:") || again.Subject != good.Subject {
		t.Fatalf("replayed entry %+v", again)
	}
}

func TestSecondWorkerOnTheSameFileFailsWithErrLocked(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	cfg := e.config()
	cfg.LockTimeout = 200 * time.Millisecond
	err := Run(context.Background(), cfg, e.log)
	if !errors.Is(err, bolt.ErrLocked) || !strings.Contains(err.Error(), "is another worker running?") {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
}

func invoiceOnDifferentShard(t *testing.T, right, wrong int) string {
	for i := range 10000 {
		id := fmt.Sprintf("%09d", 300000000+i)
		if s := inbox.Shard(id, right); s < wrong && inbox.Shard(id, wrong) != s {
			return id
		}
	}
	t.Fatal("no such invoice id")
	return ""
}

func cloneHeader(h nats.Header) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// A DLQ entry planted by someone who can publish to EPAY_DLQ, naming a payment event
// subject or another shard's inbox, is refused by replay with a clear error and left in
// the DLQ: an operator's replay never becomes a fake payments.paid.
func TestDLQReplayRefusesEntriesNamingAnythingButTheirOwnInbox(t *testing.T) {
	e := newEnv(t)
	e.start(e.config()) // creates the streams
	plant := func(dlqShard int, subject string) uint64 {
		h := nats.Header{}
		h.Set(dlq.HeaderSubject, subject)
		h.Set(dlq.HeaderMsgID, "planted-"+subject)
		h.Set(dlq.HeaderReason, "planted")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ack, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: natsbus.DLQSubject(dlqShard), Header: h,
			Data: []byte(`{"specversion":"1.0","type":"kz.epay.payment.paid","subject":"191111111"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	cases := map[uint64]string{
		plant(0, "payments.paid"):          "not an inbox subject",
		plant(0, "epay.inbox.3.postlink"):  "not the shard",
		plant(1, "epay.inbox.1.payments"):  "not an inbox subject",
		plant(2, "epay.inbox.02.postlink"): "not an inbox subject", // inbox.ParseSubject takes only canonical shards
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := dlq.New(e.js)
	for seq, why := range cases {
		_, err := d.Replay(ctx, seq)
		if !errors.Is(err, dlq.ErrReplayRefused) || !strings.Contains(err.Error(), why) {
			t.Errorf("replay %d: %v, want dlq.ErrReplayRefused saying %q", seq, err, why)
		}
	}
	n, err := d.ReplayAll(ctx)
	if n != 0 || !errors.Is(err, dlq.ErrReplayRefused) {
		t.Errorf("replay --all: %d replayed, %v; want 0 and the refusals", n, err)
	}
	if got := len(e.dlqEntries()); got != len(cases) {
		t.Errorf("%d DLQ entries left, want all %d", got, len(cases))
	}
	if n := e.eventCount(); n != 0 {
		t.Fatalf("%d messages on PAYMENT_EVENTS after the replays, want none", n)
	}
}
