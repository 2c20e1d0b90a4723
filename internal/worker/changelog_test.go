package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// eventIDs is the ids of the events on PAYMENT_EVENTS; it fails on an id seen twice.
func eventIDs(t *testing.T, e *env) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, ev := range e.events() {
		if ids[ev.ID] {
			t.Fatalf("event %s published twice", ev.ID)
		}
		ids[ev.ID] = true
	}
	return ids
}

// A worker's file is lost for good (its disk, its node): the worker that takes its
// shards with an empty file finds every invoice in the state it had, applies what comes
// next on top (a duplicate stays a duplicate, a failed invoice paid later is paid), and
// publishes no event twice — though the inbox's consumer is past every message applied.
func TestAWorkerWhoseFileIsLostRestoresItsShardsFromTheChangelog(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	w := e.start(cfg)
	sc := newScenario(t, 200)
	publishConcurrently(t, e, sc.msgs, 7)
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, cfg.Shards) })
	checkOneEventPerStateChange(t, e, w.url, sc)
	before := eventIDs(t, e)
	versions := map[string]int64{}
	for id := range sc.final {
		_, body := get(t, w.url, id)
		versions[id] = body.Version
	}
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfg.DB); err != nil {
		t.Fatal(err)
	}

	w = e.start(cfg)
	if got := metricValue(t, w.url, "epayflow_worker_restored_records_total"); got != float64(len(sc.final)) {
		t.Errorf("restored records = %v, want %d (one per invoice)", got, len(sc.final))
	}
	want := maps.Clone(before)
	var next []*nats.Msg
	for _, id := range slices.Sorted(maps.Keys(sc.final)) {
		code, body := get(t, w.url, id)
		if code != http.StatusOK || body.State != sc.final[id] || body.Version != versions[id] {
			t.Fatalf("invoice %s after the file was lost: %d %s v%d, want %s v%d", id, code, body.State, body.Version, sc.final[id], versions[id])
		}
		if h := body.History[len(body.History)-1]; h.Kind != bolt.KindRestored {
			t.Fatalf("invoice %s: last history entry %+v, want one saying it was restored", id, h)
		}
		// every message again, under other ids: duplicates the restored Applied ids catch
		for _, m := range sc.msgs {
			if m.Header.Get(inbox.HeaderInvoiceID) == id {
				dup := &nats.Msg{Subject: m.Subject, Header: nats.Header{}, Data: m.Data}
				maps.Copy(dup.Header, m.Header)
				dup.Header.Set(nats.MsgIdHdr, m.Header.Get(nats.MsgIdHdr)+":after-restore")
				next = append(next, dup)
			}
		}
		if sc.final[id] == invoice.StateFailed { // the customer pays at last
			next = append(next, callbackFor(t, id, "tx-late-"+id, "ok", "100"))
			sc.final[id] = invoice.StatePaid
			want[fmt.Sprintf("%s-%d", id, versions[id]+1)] = true
		}
	}
	for _, m := range next {
		e.publish(m)
	}
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, cfg.Shards) })
	for id, final := range sc.final {
		if code, body := get(t, w.url, id); code != http.StatusOK || body.State != final {
			t.Fatalf("invoice %s: %d %s, want %s", id, code, body.State, final)
		}
	}
	waitFor(t, 20*time.Second, "the new events published", func() bool { return e.eventCount() >= uint64(len(want)) })
	if got := eventIDs(t, e); !maps.Equal(got, want) {
		t.Fatalf("%d events after the restore, want %d: the old ones once and one paid per failed invoice", len(got), len(want))
	}
}

// testChangelog is e's changelog as the workers of a test write it: signed with their
// status key (testStatusKey).
func testChangelog(t testing.TB, e *env) *changelog {
	t.Helper()
	return &changelog{js: e.js, shards: inbox.DefaultShards, signer: testSigner(t)}
}

// testSigner signs with the tests' status key.
func testSigner(t testing.TB) inbox.StatusSigner {
	t.Helper()
	signer, err := inbox.NewStatusSigner([]byte(testStatusKey))
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// testApplier is the worker's handler on its own store, on the changelog of e.
func testApplier(t *testing.T, e *env, name string) *applier {
	t.Helper()
	store, err := bolt.Open(t.TempDir()+"/"+name, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &applier{store: store, dec: decoder{inbox: inbox.Decoder{Shards: inbox.DefaultShards, Keys: e.config().Keys}},
		metrics: NewMetrics(prometheus.NewRegistry()), log: e.log, now: func() time.Time { return time.Now().UTC() },
		eventsWait: time.Second, dupWindow: time.Minute, changes: testChangelog(t, e)}
}

// asDelivered is msg as the subscriber hands it to the handler.
func asDelivered(msg *nats.Msg) *message.Message {
	m := message.NewMessage(msg.Header.Get(nats.MsgIdHdr), msg.Data)
	for k, v := range msg.Header {
		m.Metadata.Set(k, v[0])
	}
	m.Metadata.Set(jspubsub.MetadataSubject, msg.Subject)
	m.Metadata.Set(jspubsub.MetadataMsgID, msg.Header.Get(nats.MsgIdHdr))
	return m
}

// Two workers believe they own a shard (one was paused past its lease): the one whose
// copy of an invoice is stale cannot extend the invoice's state. Its write is refused,
// nothing of the refused change is committed or queued, it adopts the newer record and
// the message is applied on top of it: one history, every message in it once.
func TestAStaleOwnerCannotWriteOverAnInvoiceAnotherWorkerChanged(t *testing.T) {
	e, ctx := withState(t, 10*time.Second)
	a, b := testApplier(t, e, "a.db"), testApplier(t, e, "b.db")
	const id = "812345678"
	created, failure, success := createdMsg(createdFor(id, 10000)), callbackFor(t, id, "tx-1", "error", "100"), callbackFor(t, id, "tx-2", "ok", "100")
	must := func(ap *applier, m *nats.Msg) {
		t.Helper()
		if err := ap.handle(asDelivered(m)); err != nil {
			t.Fatalf("handle %s: %v", m.Header.Get(nats.MsgIdHdr), err)
		}
	}
	must(a, created)
	// b never saw a's change: its write of the same message is refused, then a duplicate
	if err := b.handle(asDelivered(created)); !errors.Is(err, errFenced) {
		t.Fatalf("b's first write: %v, want it fenced", err)
	}
	must(b, created)
	must(a, failure) // a moves on; b's copy is stale (created)
	if err := b.handle(asDelivered(success)); !errors.Is(err, errFenced) {
		t.Fatalf("b's write on a stale copy: %v, want it fenced", err)
	}
	if out, err := b.store.Outbox(10); err != nil || len(out) != 0 {
		t.Fatalf("b queued %d events of a refused change (%v)", len(out), err)
	}
	must(b, success) // on top of a's failed: paid, version 3

	rec, ok, err := b.changes.last(ctx, id)
	if err != nil || !ok {
		t.Fatalf("last record: %v %v", ok, err)
	}
	wantApplied := []string{inbox.CreatedMsgID(id), failure.Header.Get(nats.MsgIdHdr), success.Header.Get(nats.MsgIdHdr)}
	if got := rec.Record.Invoice; got.State != invoice.StatePaid || got.Version != 3 || !slices.Equal(got.Applied, wantApplied) {
		t.Fatalf("record %s v%d applied %v, want paid v3 applied %v", got.State, got.Version, got.Applied, wantApplied)
	}
	out, err := b.store.Outbox(10)
	if err != nil || len(out) != 1 || out[0].Event.ID != id+"-3" || out[0].Event.Type != invoice.EventPaid {
		t.Fatalf("b's outbox %+v (%v), want the one paid event %s-3", out, err, id)
	}
	if inv, _, err := b.store.Get(id); err != nil || inv.Version != 3 || inv.State != invoice.StatePaid {
		t.Fatalf("b's copy %s v%d (%v), want paid v3", inv.State, inv.Version, err)
	}
	if got := testutil.ToFloat64(b.metrics.Fenced); got != 2 {
		t.Errorf("fenced writes = %v, want 2", got)
	}
}

// Only the workers' records become an invoice's state. A holder of the worker's NATS
// password alone (no WORKER_STATUS_KEY) publishes to the invoice's EPAY_STATE subject a
// copy of its record with the amount cut to 1.00, unsigned, then signed with another key;
// then replays the invoice's genuine first record after a later one. The owner's next
// write is fenced each time, and a genuine 1.00 payment never makes the 100.00 invoice
// paid: the forged records are refused (and counted), the replayed one does not roll the
// state back. A restore onto an empty store skips the forgeries too.
func TestARecordNotTheWorkersIsNeverAnInvoicesState(t *testing.T) {
	e, ctx := withState(t, 20*time.Second)
	a := testApplier(t, e, "a.db")
	a.changes.refused = func(string, uint64, error) { a.metrics.StateRefused.Inc() }
	const id = "812345679"
	if err := a.handle(asDelivered(createdMsg(createdFor(id, 10000)))); err != nil {
		t.Fatal(err)
	}
	genuine, err := a.changes.lastMsg(ctx, a.changes.subject(id))
	if err != nil || genuine == nil {
		t.Fatalf("the invoice's record: %v", err)
	}
	forged := bytes.Replace(genuine.Data, []byte(`"amount":100,`), []byte(`"amount":1,`), 1)
	if bytes.Equal(forged, genuine.Data) {
		t.Fatalf("the record %s has no amount to change", genuine.Data)
	}
	other, _ := inbox.NewStatusSigner([]byte("not-the-workers-status-key"))
	cheap := callbackFor(t, id, "tx-cheap", "ok", "1")
	for i, sig := range []string{"", other.SignState(genuine.Subject, forged)} {
		msg := &nats.Msg{Subject: genuine.Subject, Header: nats.Header{}, Data: forged}
		if sig != "" {
			msg.Header.Set(inbox.HeaderStateSignature, sig)
		}
		if _, err := e.js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if err := a.handle(asDelivered(cheap)); err == nil || !errors.Is(err, errRecordRefused) {
			t.Fatalf("forgery %d: the 1.00 payment's handling: %v, want the forged record refused", i, err)
		}
		if inv, _, err := a.store.Get(id); err != nil || inv.State != invoice.StateCreated || inv.Amount != 10000 {
			t.Fatalf("forgery %d: the invoice is %s at %v (%v), want created at 100.00", i, inv.State, inv.Amount, err)
		}
		if got := testutil.ToFloat64(a.metrics.StateRefused); got != float64(i+1) {
			t.Errorf("forgery %d: refused records = %v, want %d", i, got, i+1)
		}
	}
	if out, err := a.store.Outbox(10); err != nil || len(out) != 0 {
		t.Fatalf("outbox %+v (%v), want no event", out, err)
	}

	// a fresh store restoring the shard skips the forgery: nothing is taken
	fresh := testApplier(t, e, "fresh.db")
	fresh.changes.refused = a.changes.refused
	restored, read, err := fresh.changes.restore(ctx, fresh.store, inbox.Shard(id, inbox.DefaultShards), func() time.Time { return time.Now().UTC() })
	if err != nil || restored != 0 || read == 0 {
		t.Fatalf("restore: restored %d of %d read (%v), want the forgery read and skipped", restored, read, err)
	}
	if _, _, err := fresh.store.Get(id); !errors.Is(err, bolt.ErrNotFound) {
		t.Fatalf("the fresh store holds the invoice (%v) from a forged record", err)
	}

	// the read API's list never shows the forged state either
	l := &lister{js: e.js, scan: listScan, log: e.log, records: fresh.changes}
	page, err := l.page(ctx, listQuery{limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range page.Invoices {
		if v.InvoiceID == id {
			t.Fatalf("the list shows invoice %s at %v from a forged record", id, v.Amount)
		}
	}

	// the genuine record again (its own signature): the workers' records carry on on
	// top of it, and the invoice keeps its state
	replay := &nats.Msg{Subject: genuine.Subject, Header: nats.Header{}, Data: genuine.Data}
	replay.Header.Set(inbox.HeaderStateSignature, genuine.Header.Get(inbox.HeaderStateSignature))
	if _, err := e.js.PublishMsg(ctx, replay); err != nil {
		t.Fatal(err)
	}
	failure := callbackFor(t, id, "tx-1", "error", "100")
	for i := 0; i < 3; i++ { // fenced once on the replay, then written on top of it
		if err = a.handle(asDelivered(failure)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if inv, _, err := a.store.Get(id); err != nil || inv.State != invoice.StateFailed || inv.Version != 2 {
		t.Fatalf("after the replay: %s v%d (%v), want failed v2", inv.State, inv.Version, err)
	}
	// and the subject's last record is the workers' again: the invoice is not fenced for good
	if rec, ok, err := a.changes.last(ctx, id); err != nil || !ok || rec.Record.Invoice.State != invoice.StateFailed {
		t.Fatalf("the invoice's last record: %+v %v %v, want the workers' failed", rec.Record.Invoice.State, ok, err)
	}
}

// A forged record on an invoice's subject evicts the genuine one (one record a subject),
// and EPAY_STATE made anew after a disaster has none: in both the owner's next change
// goes on top of what is there (its copy is the state of record), instead of being
// fenced for ever, which no replay could have undone.
func TestAnInvoiceIsNotFencedForGoodByAForgeryOrALostRecord(t *testing.T) {
	e, ctx := withState(t, 20*time.Second)
	a := testApplier(t, e, "a.db")
	const id = "812345685"
	must := func(m *nats.Msg) {
		t.Helper()
		var err error
		for range 3 { // fenced once at most, then written on top
			if err = a.handle(asDelivered(m)); err == nil {
				return
			}
		}
		t.Fatalf("handle %s: %v", m.Header.Get(nats.MsgIdHdr), err)
	}
	must(createdMsg(createdFor(id, 10000)))
	if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: a.changes.subject(id), Data: []byte(`{"invoice":{"invoiceId":"` + id + `","state":"paid"}}`)}); err != nil {
		t.Fatal(err)
	}
	must(callbackFor(t, id, "tx-1", "error", "100"))
	if inv, _, err := a.store.Get(id); err != nil || inv.State != invoice.StateFailed {
		t.Fatalf("after a forged record: %s (%v), want failed", inv.State, err)
	}
	deleteStream(t, e, natsbus.StreamState)
	recreateStream(t, e, natsbus.StreamState)
	must(callbackFor(t, id, "tx-2", "ok", "100"))
	if inv, _, err := a.store.Get(id); err != nil || inv.State != invoice.StatePaid {
		t.Fatalf("after EPAY_STATE made anew: %s (%v), want paid", inv.State, err)
	}
	if rec, ok, err := a.changes.last(ctx, id); err != nil || !ok || rec.Record.Invoice.State != invoice.StatePaid {
		t.Fatalf("the invoice's last record: %v %v, want the workers' paid", ok, err)
	}
}

// A message is acked only once its events are out: with PAYMENT_EVENTS gone, the
// change is made but the message stays unacked; the worker's file is then lost, and the
// worker that takes over publishes the change's events from the changelog's record.
func TestEventsOfAChangeSurviveTheLossOfTheFileBeforeTheyWereOut(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	w := e.start(cfg)
	const id = "823456789"
	e.publish(createdMsg(createdFor(id, 10000)))
	waitState(t, w.url, id, invoice.StateCreated)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.js.DeleteStream(ctx, natsbus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	e.publish(callbackFor(t, id, "tx-1", "ok", "100"))
	waitState(t, w.url, id, invoice.StatePaid)
	shard := inbox.Shard(id, cfg.Shards)
	if consumerDone(t, e, shard) {
		t.Fatal("the callback was acked before its event was published")
	}
	w.cancel() // stop without waiting for the handler's retries; the message stays unacked
	select {
	case <-w.done:
		close(w.done) // for the cleanup's stop
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not stop within 60s")
	}
	if err := os.Remove(cfg.DB); err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(ctx, e.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	w = e.start(cfg)
	waitFor(t, 30*time.Second, "the shard consumed", func() bool { return consumerDone(t, e, shard) })
	waitFor(t, 20*time.Second, "the paid event published", func() bool { return e.eventCount() >= 1 })
	if got := eventIDs(t, e); !maps.Equal(got, map[string]bool{id + "-2": true}) {
		t.Fatalf("events %v, want the one paid event %s-2", got, id)
	}
	if got := metricValue(t, w.url, "epayflow_worker_events_requeued_total"); got != 1 {
		t.Errorf("requeued events = %v, want 1", got)
	}
}

// A change's events still in the outbox when the next change of its invoice is made
// (here the worker has no relay at all) are carried by the next change's record too: the
// worker that takes over a lost file publishes both changes' events, each once, though
// only the latest record is left.
func TestEventsOfAnEarlierChangeSurviveTheLossOfTheFileAfterALaterChange(t *testing.T) {
	e, _ := withState(t, 10*time.Second)
	cfg := e.config()
	old := testApplier(t, e, "old.db") // no relay: every event stays in its outbox
	const id = "845678901"
	msgs := []*nats.Msg{createdMsg(createdFor(id, 10000)), callbackFor(t, id, "tx-1", "error", "100"), callbackFor(t, id, "tx-2", "ok", "100")}
	for _, m := range msgs {
		e.publish(m) // in the inbox, never acked: the next owner gets them again
		if err := old.handle(asDelivered(m)); err != nil {
			t.Fatalf("handle %s: %v", m.Header.Get(nats.MsgIdHdr), err)
		}
	}
	if out, err := old.store.Outbox(10); err != nil || len(out) != 2 {
		t.Fatalf("the old owner's outbox holds %d events (%v), want the failed and the paid one", len(out), err)
	}
	old.store.Close() // its file is lost with its outbox

	w := e.start(cfg) // an empty file: the shard is restored from the last record alone
	shard := inbox.Shard(id, cfg.Shards)
	waitFor(t, 30*time.Second, "the shard consumed", func() bool { return consumerDone(t, e, shard) })
	want := map[string]bool{id + "-2": true, id + "-3": true}
	waitFor(t, 20*time.Second, "both changes' events published", func() bool { return e.eventCount() >= uint64(len(want)) })
	if got := eventIDs(t, e); !maps.Equal(got, want) {
		t.Fatalf("events %v, want the failed and the paid events %v, each once", got, want)
	}
	if got := e.eventsOf(id); got[0].Type != events.TypePrefix+"failed" || got[1].Type != events.TypePrefix+"paid" {
		t.Errorf("events %s then %s, want failed then paid", got[0].Type, got[1].Type)
	}
	if got := metricValue(t, w.url, "epayflow_worker_events_requeued_total"); got != 2 {
		t.Errorf("requeued events = %v, want 2 (the last record's, the earlier change's included)", got)
	}
}

// A file from before the changelog: the worker records each of its invoices at start,
// so that losing the file afterwards loses none of them.
func TestAFileFromBeforeTheChangelogIsRecordedAtStart(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	store, err := bolt.Open(cfg.DB, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []invoice.Message
	for i := range 1500 { // more than one window of writes in flight
		msgs = append(msgs, invoice.CreatedMessage(fmt.Sprintf("created-%d", i), createdFor(fmt.Sprintf("%09d", 300000000+i), 10000), time.Now()))
	}
	if _, _, err := store.ApplyAll(msgs, time.Now()); err != nil {
		t.Fatal(err)
	}
	store.Close()
	w := e.start(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, natsbus.StreamState)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.State.Msgs != uint64(len(msgs)) {
		t.Fatalf("EPAY_STATE holds %v records (%v), want %d", info.State.Msgs, err, len(msgs))
	}
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfg.DB); err != nil {
		t.Fatal(err)
	}
	w = e.start(cfg)
	for _, m := range []invoice.Message{msgs[0], msgs[len(msgs)-1]} {
		if code, body := get(t, w.url, m.InvoiceID); code != http.StatusOK || body.State != invoice.StateCreated {
			t.Fatalf("invoice %s after the file was lost: %d %s, want created", m.InvoiceID, code, body.State)
		}
	}
}

// The inbox keeps messages for its MaxAge only (30 days in production): an invoice paid
// longer ago than that is still restored, because its state is in the changelog, which
// has no age limit. Here the inbox keeps messages 3 s; they are gone when the file is.
func TestAnInvoiceOlderThanTheInboxRetentionIsRestored(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Streams.MaxAge, cfg.Streams.DuplicateWindow = 3*time.Second, time.Second
	w := e.start(cfg)
	const id = "834567890"
	e.publish(createdMsg(createdFor(id, 10000)))
	e.publish(callbackFor(t, id, "tx-1", "ok", "100"))
	waitState(t, w.url, id, invoice.StatePaid)
	waitFor(t, 20*time.Second, "the inbox emptied by its retention", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := e.js.Stream(ctx, natsbus.StreamInbox)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfg.DB); err != nil {
		t.Fatal(err)
	}
	w = e.start(cfg)
	if code, body := get(t, w.url, id); code != http.StatusOK || body.State != invoice.StatePaid || body.TransactionID != "tx-1" {
		t.Fatalf("invoice paid before the inbox forgot it: %d %s %q after the file was lost, want paid tx-1", code, body.State, body.TransactionID)
	}
	// and what comes next applies on top: a second success of another transaction is a double payment
	e.publish(callbackFor(t, id, "tx-2", "ok", "100"))
	waitFor(t, 10*time.Second, "the double payment flagged", func() bool {
		_, body := get(t, w.url, id)
		return body.DoublePayment
	})
}

// A restore reads the shard's last record first: a shard with nothing written since the
// store's mark (every shard at a restart, every shard of a new cluster) costs one read
// and no consumer; a shard with a record after the mark is still read through one.
func TestARestoreWithNothingNewMakesNoConsumer(t *testing.T) {
	e, ctx := withState(t, 20*time.Second)
	// every consumer made on EPAY_STATE is a request on this subject
	consumersMade := e.requests("$JS.API.CONSUMER.CREATE." + natsbus.StreamState + ".>")
	a := testApplier(t, e, "a.db")
	const id = "812345679"
	shard := inbox.Shard(id, inbox.DefaultShards)
	for _, m := range []*nats.Msg{createdMsg(createdFor(id, 10000)), callbackFor(t, id, "tx-1", "ok", "100")} {
		if err := a.handle(asDelivered(m)); err != nil {
			t.Fatal(err)
		}
	}
	restorer := testApplier(t, e, "restorer.db")
	restore := func(shard int, wantRead int, wantConsumers int) {
		t.Helper()
		before := consumersMade()
		_, read, err := restorer.changes.restore(ctx, restorer.store, shard, time.Now)
		if err != nil || read != wantRead {
			t.Fatalf("restore of shard %d read %d records (%v), want %d", shard, read, err, wantRead)
		}
		if got := consumersMade() - before; got != wantConsumers {
			t.Fatalf("restore of shard %d made %d consumers, want %d", shard, got, wantConsumers)
		}
	}
	restore(shard, 1, 1)                         // a new file: the invoice's one record
	restore(shard, 0, 0)                         // again: nothing since the mark
	restore((shard+1)%inbox.DefaultShards, 0, 0) // a shard without records
	if inv, _, err := restorer.store.Get(id); err != nil || inv.State != invoice.StatePaid {
		t.Fatalf("restored invoice %s (%v), want paid", inv.State, err)
	}
	if err := a.handle(asDelivered(callbackFor(t, id, "tx-2", "ok", "100"))); err != nil { // a second payment: a new record
		t.Fatal(err)
	}
	restore(shard, 1, 1) // the record after the mark only
}

// requests counts the requests made on subject (a JetStream API's) from now on: each
// call returns how many so far.
func (e *env) requests(subject string) func() int {
	e.t.Helper()
	sub, err := e.nc.SubscribeSync(subject)
	if err != nil {
		e.t.Fatal(err)
	}
	return func() int {
		e.t.Helper()
		if err := e.nc.Flush(); err != nil {
			e.t.Fatal(err)
		}
		n, _, err := sub.Pending()
		if err != nil {
			e.t.Fatal(err)
		}
		return n
	}
}

// A worker dies between a change's record and its commit: the change's events are in the
// record only, in no outbox, and were never published. Its message comes again past
// PAYMENT_EVENTS' duplicate window (the worker was down 16 minutes): the record is
// adopted and the message is a duplicate of it; its events are published from the record
// all the same (at least once; a subscriber dedupes by id). Before, they were dropped as
// too old, and the paid event was never published (a money review's finding).
func TestEventsOfAnAdoptedChangeArePublishedEvenPastTheDuplicateWindow(t *testing.T) {
	e, ctx := withState(t, 10*time.Second)
	a := testApplier(t, e, "a.db")
	const id = "812345999"
	success := callbackFor(t, id, "tx-1", "ok", "100")
	if err := a.handle(asDelivered(createdMsg(createdFor(id, 10000)))); err != nil {
		t.Fatal(err)
	}
	// the success prepared and recorded; the worker dies before its commit
	dec, err := a.dec.decode(asDelivered(success))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.store.Prepare(dec.Message, a.now())
	if err != nil || len(ch.Result.Events) != 1 {
		t.Fatalf("prepare: %v %+v", err, ch.Result.Events)
	}
	if _, err := a.changes.write(ctx, ch); err != nil {
		t.Fatal(err)
	}
	// 16 minutes later the shard is restored (the record adopted) and the message comes again
	later := time.Now().UTC().Add(16 * time.Minute)
	a.now, a.dupWindow = func() time.Time { return later }, 15*time.Minute
	rec, ok, err := a.changes.last(ctx, id)
	if err != nil || !ok {
		t.Fatalf("the record: %v %v", ok, err)
	}
	if _, err := a.store.Adopt([]bolt.Adopted{rec}, later); err != nil {
		t.Fatal(err)
	}
	if err := a.handle(asDelivered(success)); err != nil {
		t.Fatal(err)
	}
	out, err := a.store.Outbox(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Event.ID != id+"-2" || out[0].Event.Type != invoice.EventPaid {
		t.Fatalf("outbox %+v, want the paid event %s-2, to be published", out, id)
	}
}
