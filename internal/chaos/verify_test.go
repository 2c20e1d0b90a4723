package chaos

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

// perfectEvidence is what a flawless stack leaves behind for a few invoices: built
// from the oracle, message by message.
func perfectEvidence() evidence {
	cb := func(id, tx string, kind msgKind, amount int) inboxMsg {
		code := "ok"
		if kind == kindFailure {
			code = "error"
		}
		return inboxMsg{ID: "cb:" + id + ":" + tx + ":" + code, InvoiceID: id, Kind: kind, TxID: tx,
			Amount: epay.Amount(amount), Currency: "KZT", Terminal: "term", Verified: true, ReasonCode: map[bool]int{true: 484}[kind == kindFailure]}
	}
	status := func(id, tx string, amount int) inboxMsg { // the worker's checker: ePay says paid
		return inboxMsg{ID: "st:" + id + ":1:100:CHARGE:" + tx, InvoiceID: id, Kind: kindStatus, Check: 1, ResultCode: "100",
			StatusName: "CHARGE", TxID: tx, Amount: epay.Amount(amount), Currency: "KZT", Terminal: "term"}
	}
	created := func(id string, amount int) inboxMsg {
		return inboxMsg{ID: id, InvoiceID: id, Kind: kindCreated, Amount: epay.Amount(amount), Currency: "KZT", Terminal: "term"}
	}
	ev := evidence{
		plans: []plan{{ID: "900000001", Scenario: scPaid}, {ID: "900000002", Scenario: scFailThenPaid},
			{ID: "900000003", Scenario: scMismatch, CreatedLate: true}},
		inbox: []inboxMsg{
			created("900000001", 100), cb("900000001", "a", kindSuccess, 100), status("900000001", "a", 100),
			created("900000002", 200), cb("900000002", "b", kindFailure, 200), cb("900000002", "c", kindSuccess, 200),
			status("900000002", "c", 200),
			cb("900000003", "d", kindSuccess, 301), created("900000003", 300),
		},
		created: map[string]bool{"900000001": true, "900000002": true, "900000003": true},
		api:     map[string]apiInvoice{},
		bolt:    boltView{Invoices: map[string]*boltInvoice{}},
	}
	for i := range ev.inbox {
		ev.inbox[i].Seq = uint64(i + 1)
	}
	_, per := indexInbox(ev.inbox)
	for _, p := range ev.plans {
		m, inv := newModel(p.ID, true), &boltInvoice{}
		for _, msg := range per[p.ID] {
			before := len(m.events)
			m.apply(msg)
			h := boltHistory{MessageID: msg.ID, StateAfter: m.state}
			for _, e := range m.events[before:] {
				h.Events = append(h.Events, e.ID)
				ev.events = append(ev.events, streamEvent{ID: e.ID, MsgID: e.ID, Type: e.Type, InvoiceID: p.ID})
			}
			inv.History = append(inv.History, h)
			if msg.Kind == kindSuccess || msg.Kind == kindFailure {
				ev.posts = append(ev.posts, post{MsgID: msg.ID, Invoice: p.ID, Status: http.StatusOK, Attempts: 1})
			}
		}
		inv.State, inv.Version = m.state, m.version
		ev.bolt.Invoices[p.ID] = inv
		ev.api[p.ID] = apiFromBolt(inv)
	}
	ev.bolt.Seen = len(ev.inbox)
	return ev
}

func apiFromBolt(inv *boltInvoice) apiInvoice {
	a := apiInvoice{Status: http.StatusOK, State: inv.State, Version: inv.Version}
	for _, h := range inv.History {
		a.History = append(a.History, struct {
			MessageID string   `json:"messageId"`
			Events    []string `json:"events"`
		}{h.MessageID, h.Events})
	}
	return a
}

// Every way the stack could break the promise is caught: the checker is itself tested.
func TestVerifyCatchesLossesDoublesAndWrongStates(t *testing.T) {
	var ok Summary
	verify(perfectEvidence(), &ok)
	if !ok.OK() || ok.Acked200 != 4 || ok.Events != 4 {
		t.Fatalf("a flawless run: %s %s %v", ok.Line(), ok.Details(), ok.Problems)
	}
	tests := map[string]struct {
		break_ func(*evidence)
		want   func(Summary) bool
		says   string
	}{
		"200 but not on the inbox": {func(e *evidence) {
			e.posts = append(e.posts, post{MsgID: "cb:900000001:zz:ok", Invoice: "900000001", Status: 200, Attempts: 1})
		}, func(s Summary) bool { return s.Lost == 1 }, "not on EPAY_INBOX"},
		"on the inbox, never applied": {func(e *evidence) {
			inv := e.bolt.Invoices["900000002"]
			inv.History = inv.History[:3]
		}, func(s Summary) bool { return s.Lost == 1 }, "never applied"},
		"applied twice": {func(e *evidence) {
			inv := e.bolt.Invoices["900000001"]
			inv.History = append(inv.History, boltHistory{MessageID: inv.History[1].MessageID})
		}, func(s Summary) bool { return s.Doubled == 1 }, "applied 2 times"},
		"event published twice": {func(e *evidence) {
			e.events = append(e.events, e.events[0])
		}, func(s Summary) bool { return s.Doubled == 1 }, "published twice"},
		"event missing": {func(e *evidence) {
			e.events = slices.Delete(e.events, 1, 2)
		}, func(s Summary) bool { return !s.OK() }, "events published"},
		"wrong state": {func(e *evidence) {
			e.bolt.Invoices["900000003"].State = "paid"
		}, func(s Summary) bool { return s.WrongState == 1 }, "worker has paid"},
		"read API disagrees": {func(e *evidence) {
			e.api["900000002"] = apiInvoice{Status: 200, State: "failed"}
		}, func(s Summary) bool { return !s.OK() }, "read API says"},
		"forged callback accepted": {func(e *evidence) {
			e.plans[0].Scenario = scForged
		}, func(s Summary) bool { return !s.OK() }, "forged callback"},
		"valid callback never answered 200": {func(e *evidence) {
			e.posts[0].Status = 503
		}, func(s Summary) bool { return s.GaveUp == 1 && !s.OK() }, "no 200 within the deadline"},
		"outbox not empty": {func(e *evidence) { e.bolt.Outbox = 1 }, func(s Summary) bool { return !s.OK() }, "outbox"},
		"event only in a removed worker's outbox": {func(e *evidence) { e.removedOutbox = []string{"900000001-9"} },
			func(s Summary) bool { return !s.OK() }, "scaled away"},
		"invoice.created acked, not stored": {func(e *evidence) {
			e.created["900000009"] = true
		}, func(s Summary) bool { return s.Lost == 1 }, "PubAcked but not"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ev := perfectEvidence()
			tt.break_(&ev)
			var s Summary
			verify(ev, &s)
			if !tt.want(s) || s.OK() || !strings.Contains(strings.Join(s.Problems, "\n"), tt.says) {
				t.Fatalf("%s\n%s\nproblems: %v", s.Line(), s.Details(), s.Problems)
			}
		})
	}
}

// An entry left in the outbox of a worker scaled away whose event the next owner
// published is not a problem, and it is counted.
func TestVerifyAcceptsARemovedWorkersPublishedOutbox(t *testing.T) {
	ev := perfectEvidence()
	ev.removedOutbox = []string{ev.events[0].ID}
	var s Summary
	verify(ev, &s)
	if !s.OK() || s.StaleOutbox != 1 {
		t.Fatalf("ok=%v stale=%d problems %v", s.OK(), s.StaleOutbox, s.Problems)
	}
}

// A service built with -race reports a race in its log and goes on: the run must count
// it, naming the log.
func TestDataRacesInTheLogsAreProblems(t *testing.T) {
	dir := t.TempDir()
	race := "==================\nWARNING: DATA RACE\nWrite at 0x00c000 by goroutine 7:\n==================\n"
	for name, body := range map[string]string{"worker.log": "started\n" + race + race, "ingest.log": "started\nstopped\n", "notes.txt": race} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := dataRaces(dir)
	if len(got) != 1 || !strings.Contains(got[0], "2 data races") || !strings.Contains(got[0], "worker.log") {
		t.Fatalf("dataRaces = %q, want the worker's log with 2 races only", got)
	}
}
