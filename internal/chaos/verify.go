package chaos

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is the outcome of a chaos run.
type Summary struct {
	Invoices int
	Sent     int // callback POSTs (each with its retries)
	Acked200 int
	Rejected int // answered 4xx (the forged ones)
	Retries  int // attempts beyond the first, callbacks and invoice.created
	GaveUp   int // valid callbacks that got no 200 within the deadline
	Lost     int // answered 200 (or PubAcked) but not stored, or stored but never applied
	Doubled  int // applied twice, or an event id published twice
	// Kills counts every kill: the worker's and the ingest's SIGKILLs and NATS's.
	Kills, WorkerKills, IngestKills, NATSKills int
	WorkerFilesLost                            int // worker kills that also deleted its bbolt file
	// HeldAtNATSKill is the workers' outbox backlog when NATS was killed (one server):
	// events written, not yet PubAcked, that must reach PAYMENT_EVENTS once all the same.
	HeldAtNATSKill                int
	WorkersJoined, WorkersRemoved int // workers that joined, and were scaled away, during the load
	Events                        int // on PAYMENT_EVENTS
	// Reordered counts invoices whose messages the worker applied in another order than
	// the stream's. Each is a problem: a worker starting on a shard takes over what a
	// killed one left unacked, in stream order, before anything newer (jspubsub's
	// Takeover). Their events are still checked against the order applied.
	Reordered        int
	StoredWithout200 int // on the inbox although the sender never saw 200 (gave up)
	WrongState       int
	// DoublePayments counts the double-payment invoices whose two successes were both
	// applied; DoublesFlagged those of them with a review event. With confirmation on the
	// state machine raises it only when the second success comes after the status answer
	// that made the invoice paid, and that answer named the first transaction.
	DoublePayments, DoublesFlagged int
	// Of the double payments not flagged: how many the status answer that made them paid
	// named the second transaction (MissedSecondNamed), how many had the second success
	// applied while the first one's claim still waited (MissedWhileClaim).
	MissedSecondNamed, MissedWhileClaim int
	StatusAnswers                       int // status messages on EPAY_INBOX
	LoadTime                            time.Duration
	DrainTime                           time.Duration
	Problems                            []string // the first few, then a count
	problemCount                        int
	all                                 []string // every problem, for AllProblems
	// Failover holds, by what was killed ("worker", "nats"), the time from each kill to
	// the next change a worker applied (read live from EPAY_STATE).
	Failover map[string][]time.Duration
	// StaleOutbox counts the entries left in the outboxes of workers scaled away, every
	// one of them already on PAYMENT_EVENTS.
	StaleOutbox int
	// Webhooks is the verdict on each webhook endpoint (webhooks.go); WebhookKills the
	// SIGKILLs of the webhooks service.
	Webhooks     []EndpointDelivery
	WebhookKills int
}

// Line is the one-line summary.
func (s Summary) Line() string {
	return fmt.Sprintf("chaos: sent=%d acked_200=%d rejected=%d lost=%d doubled=%d kills=%d",
		s.Sent, s.Acked200, s.Rejected, s.Lost, s.Doubled, s.Kills)
}

// Failovers is a third line: how long after each kill the worker applied its next
// message (the worker's own kills, and NATS's), from the history in its store.
func (s Summary) Failovers() string {
	out := "chaos: failover (a kill to the next change applied to its shards):"
	for _, k := range []string{"worker", "nats"} {
		d := slices.Clone(s.Failover[k])
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		out += fmt.Sprintf(" %s n=%d p50=%s max=%s;", k, len(d), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	return out
}

// Details is a second line with the rest.
func (s Summary) Details() string {
	return fmt.Sprintf("chaos: invoices=%d events=%d retries=%d gave_up=%d wrong_state=%d reordered=%d stored_without_200=%d kills: worker=%d (files lost %d) ingest=%d nats=%d (outbox held %d) workers joined=%d removed=%d (outbox entries left %d, all published) load=%s drain=%s problems=%d",
		s.Invoices, s.Events, s.Retries, s.GaveUp, s.WrongState, s.Reordered, s.StoredWithout200,
		s.WorkerKills, s.WorkerFilesLost, s.IngestKills, s.NATSKills, s.HeldAtNATSKill, s.WorkersJoined, s.WorkersRemoved, s.StaleOutbox, s.LoadTime.Round(time.Second), s.DrainTime.Round(time.Second), s.problemCount)
}

// OK is true when nothing was lost, doubled or wrong.
func (s Summary) OK() bool {
	return s.Lost == 0 && s.Doubled == 0 && s.WrongState == 0 && s.problemCount == 0
}

func (s *Summary) problem(format string, args ...any) {
	s.problemCount++
	p := fmt.Sprintf(format, args...)
	if len(s.Problems) < 40 {
		s.Problems = append(s.Problems, p)
	}
	s.all = append(s.all, p)
}

// AllProblems is every problem found, not only the first few.
func (s Summary) AllProblems() []string { return s.all }

// evidence is everything gathered after the run.
type evidence struct {
	plans   []plan
	posts   []post
	created map[string]bool // invoice.created that got a PubAck
	inbox   []inboxMsg      // EPAY_INBOX in stream order
	events  []streamEvent   // PAYMENT_EVENTS in stream order
	dlq     int
	api     map[string]apiInvoice
	bolt    boltView
	files   []boltView // every worker file left
	// removedOutbox are the event ids left in the outboxes of workers scaled away: a
	// worker stopped while NATS was out of its reach keeps them, and the shard's next
	// owner published them from the record it adopted.
	removedOutbox []string
	state         *boltView // EPAY_STATE, checked against bolt when bolt is one worker's file
}

// verify checks the evidence and fills in s.
func verify(ev evidence, s *Summary) {
	s.Invoices, s.Events = len(ev.plans), len(ev.events)
	inbox, perInvoice := indexInbox(ev.inbox)
	for _, m := range inbox {
		if m.Kind == kindStatus {
			s.StatusAnswers++
		}
	}
	checkPosts(ev, inbox, s)
	eventsOf := map[string][]streamEvent{}
	seenEvent := map[string]bool{}
	for _, e := range ev.events {
		if seenEvent[e.ID] {
			s.Doubled++
			s.problem("event %s published twice", e.ID)
		}
		seenEvent[e.ID] = true
		if e.MsgID != e.ID {
			s.problem("event %s has Nats-Msg-Id %q", e.ID, e.MsgID)
		}
		eventsOf[e.InvoiceID] = append(eventsOf[e.InvoiceID], e)
	}
	known := map[string]bool{}
	for _, p := range ev.plans {
		known[p.ID] = true
		checkInvoice(p, perInvoice[p.ID], inbox, eventsOf[p.ID], ev, s)
	}
	for id := range eventsOf {
		if !known[id] {
			s.problem("events for invoice %s, which the load never made", id)
		}
	}
	if ev.dlq != 0 {
		s.problem("%d messages on EPAY_DLQ", ev.dlq)
	}
	if ev.state != nil {
		compareState(ev.bolt, *ev.state, s)
	}
	if ev.bolt.Outbox != 0 {
		s.problem("%d events still in the worker's outbox", ev.bolt.Outbox)
	}
	published := map[string]bool{}
	for _, e := range ev.events {
		published[e.ID] = true
	}
	for _, id := range ev.removedOutbox {
		if !published[id] {
			s.problem("event %s is only in the outbox of a worker scaled away", id)
		}
	}
	s.StaleOutbox = len(ev.removedOutbox)
	if ev.bolt.Seen != len(inbox) {
		s.problem("the worker has seen %d message ids, the inbox holds %d distinct ones", ev.bolt.Seen, len(inbox))
	}
}

// indexInbox returns the first copy of every message id, and each invoice's distinct
// messages in stream order.
func indexInbox(msgs []inboxMsg) (map[string]inboxMsg, map[string][]inboxMsg) {
	byID := map[string]inboxMsg{}
	per := map[string][]inboxMsg{}
	for _, m := range msgs {
		if _, dup := byID[m.ID]; dup {
			continue // a copy past the duplicate window: the worker dedupes it
		}
		byID[m.ID] = m
		per[m.InvoiceID] = append(per[m.InvoiceID], m)
	}
	return byID, per
}

// checkPosts: every callback answered 200 is on the inbox, nothing refused is, and every
// invoice.created that got its PubAck is there too.
func checkPosts(ev evidence, inbox map[string]inboxMsg, s *Summary) {
	forged := map[string]bool{}
	for _, p := range ev.plans {
		forged[p.ID] = p.Scenario == scForged
	}
	answered := map[string]bool{}
	for _, p := range ev.posts {
		s.Sent++
		s.Retries += p.Attempts - 1
		_, stored := inbox[p.MsgID]
		switch {
		case p.Status == http.StatusOK:
			s.Acked200++
			answered[p.MsgID] = true
			if !stored {
				s.Lost++
				s.problem("callback %s answered 200 but not on EPAY_INBOX", p.MsgID)
			}
			if forged[p.Invoice] {
				s.problem("forged callback %s answered 200", p.MsgID)
			}
		case p.Status >= 400 && p.Status < 500:
			s.Rejected++
			if !forged[p.Invoice] {
				s.problem("valid callback %s answered %d", p.MsgID, p.Status)
			}
			if stored {
				s.problem("refused callback %s is on EPAY_INBOX", p.MsgID)
			}
		default:
			s.GaveUp++
			s.problem("callback %s got no 200 within the deadline (last status %d after %d attempts)", p.MsgID, p.Status, p.Attempts)
		}
	}
	for id, m := range inbox {
		if (m.Kind == kindSuccess || m.Kind == kindFailure) && !answered[id] {
			s.StoredWithout200++
		}
	}
	for id := range ev.created {
		if _, ok := inbox[id]; !ok {
			s.Lost++
			s.problem("invoice.created %s PubAcked but not on EPAY_INBOX", id)
		}
	}
}

// checkInvoice compares one invoice in the bbolt file and the read API with the oracle,
// and its events with the transitions the oracle expects.
func checkInvoice(p plan, stream []inboxMsg, inbox map[string]inboxMsg, events []streamEvent, ev evidence, s *Summary) {
	oracle := fold(p.ID, true, stream)
	if want := finalState[p.Scenario]; oracle.state != want && !(want == "created" && oracle.state == "") {
		s.problem("invoice %s (%s): the oracle computes %q from the inbox, the scenario ends %q", p.ID, scenarioNames[p.Scenario], oracle.state, want)
	}
	inv := ev.bolt.Invoices[p.ID]
	if inv == nil {
		if len(stream) > 0 {
			s.Lost += len(stream)
			s.WrongState++
			s.problem("invoice %s (%s): not in the worker's file, %d messages on the inbox", p.ID, scenarioNames[p.Scenario], len(stream))
		}
		return
	}
	// every message on the inbox applied exactly once, and nothing else
	count := map[string]int{}
	var applied []inboxMsg
	for _, id := range inv.appliedIDs() {
		count[id]++
		m, ok := inbox[id]
		if !ok {
			s.problem("invoice %s: applied %s, which is not on the inbox", p.ID, id)
			continue
		}
		if count[id] == 1 {
			applied = append(applied, m)
		}
	}
	for id, n := range count {
		if n > 1 {
			s.Doubled += n - 1
			s.problem("invoice %s: %s applied %d times", p.ID, id, n)
		}
	}
	for _, m := range stream {
		if count[m.ID] == 0 {
			s.Lost++
			s.problem("invoice %s: %s is on the inbox (seq %d) but was never applied", p.ID, m.ID, m.Seq)
		}
	}
	// the state: the oracle over the stream order; the events: over the order applied
	want := oracle
	if !sameOrder(applied, stream) {
		s.Reordered++
		s.problem("invoice %s: messages applied in another order than the stream's: applied %s, stream %s (restored from the changelog: %t)",
			p.ID, seqList(applied), seqList(stream), inv.restored())
		want = fold(p.ID, true, applied)
		if want.state != oracle.state {
			s.problem("invoice %s: applied in another order than the stream's, which changed its state to %s (stream order: %s)", p.ID, want.state, oracle.state)
		}
	}
	if inv.State != oracle.state || inv.Version != want.version {
		s.WrongState++
		s.problem("invoice %s (%s): worker has %s v%d, oracle %s v%d", p.ID, scenarioNames[p.Scenario], inv.State, inv.Version, oracle.state, want.version)
	}
	if a := ev.api[p.ID]; a.Status != http.StatusOK || a.State != inv.State || !inv.fromRecord && !sameHistory(a, inv) {
		s.problem("invoice %s: read API says %d %s with %d history entries, the file %s with %d", p.ID, a.Status, a.State, len(a.History), inv.State, len(inv.History))
	}
	checkEvents(p.ID, want.events, events, inv, s)
	if p.Scenario == scDoublePayment && len(stream) > 0 {
		s.DoublePayments++
		if slices.ContainsFunc(events, func(e streamEvent) bool { return e.Type == "review" }) {
			s.DoublesFlagged++
		} else {
			classifyMissedDouble(p.ID, applied, s)
		}
	}
}

// checkEvents: the events published are exactly those of the transitions, once each.
func checkEvents(id string, want []event, got []streamEvent, inv *boltInvoice, s *Summary) {
	var gotEv, recorded []event
	for _, e := range got {
		gotEv = append(gotEv, event{ID: e.ID, Type: e.Type})
	}
	for _, h := range inv.History {
		for _, e := range h.Events {
			recorded = append(recorded, event{ID: e})
		}
	}
	if !slices.Equal(gotEv, want) {
		s.problem("invoice %s: events published %v, transitions %v", id, gotEv, want)
	}
	if inv.restored() {
		return // the history starts at the restore: the events before it are checked on the stream only
	}
	if len(recorded) != len(want) {
		s.problem("invoice %s: history records %d event ids, transitions %d", id, len(recorded), len(want))
		return
	}
	for i := range want {
		if recorded[i].ID != want[i].ID {
			s.problem("invoice %s: history records event %s, transition %s", id, recorded[i].ID, want[i].ID)
		}
	}
}

// classifyMissedDouble says why a double payment raised no review: the status answer
// that made the invoice paid named the second transaction, or the second success came
// while the first one's claim waited (and was kept in history only).
func classifyMissedDouble(id string, applied []inboxMsg, s *Summary) {
	second := "chaos-" + id + "-1-s"
	var secondSeen bool
	for _, m := range applied {
		switch {
		case m.Kind == kindSuccess && m.TxID == second:
			secondSeen = true
		case m.Kind == kindStatus && m.ResultCode == "100":
			if m.TxID == second {
				s.MissedSecondNamed++
			} else if secondSeen {
				s.MissedWhileClaim++
			}
			return
		}
	}
}

// seqList names msgs by id and stream sequence, in their order: "[id@seq ...]".
func seqList(msgs []inboxMsg) string {
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		parts[i] = m.ID + "@" + strconv.FormatUint(m.Seq, 10)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func sameOrder(a, b []inboxMsg) bool {
	return slices.EqualFunc(a, b, func(x, y inboxMsg) bool { return x.ID == y.ID })
}

func sameHistory(a apiInvoice, inv *boltInvoice) bool {
	return slices.EqualFunc(a.History, inv.History, func(x struct {
		MessageID string   `json:"messageId"`
		Events    []string `json:"events"`
	}, y boltHistory) bool {
		return x.MessageID == y.MessageID && slices.Equal(x.Events, y.Events)
	})
}
