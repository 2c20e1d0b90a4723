package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
)

// elastic is a worker of the assignment (WORKER_SHARDS=auto) with its own file and an
// advertised read API, so that a read through any worker finds the owner.
type elastic struct {
	id  string // its store's id: its member key
	cfg Config
	*running
}

func (e *env) startElastic(name string, abandon bool) *elastic {
	e.t.Helper()
	db := filepath.Join(e.t.TempDir(), name+".db")
	st, err := bolt.Open(db, bolt.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	id := st.ID()
	st.Close()
	port, err := proctest.FreePort()
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.config()
	cfg.DB, cfg.OwnShards = db, nil
	cfg.Addr = "127.0.0.1:" + strconv.Itoa(port)
	cfg.AdvertiseURL = "http://" + cfg.Addr
	cfg.ShardLease = 6 * time.Second // a step every 2 s
	cfg.abandonOnStop = abandon
	return &elastic{id: id, cfg: cfg, running: e.start(cfg)}
}

// leaseOwners reads who holds each shard's lease ("" for none).
func (e *env) leaseOwners(shards int) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := e.js.KeyValue(ctx, natsbus.ShardOwnersBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, shards)
	for s := range shards {
		ent, err := kv.Get(ctx, shardKey(s))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		var o leaseOwner
		if err := json.Unmarshal(ent.Value(), &o); err != nil {
			e.t.Fatal(err)
		}
		out[s] = o.Owner
	}
	return out
}

// waitAssigned waits until the shards are held as the assignment of ws says, each
// worker consuming exactly its own (its epayflow_worker_shards_owned).
func (e *env) waitAssigned(timeout time.Duration, ws ...*elastic) {
	e.t.Helper()
	shards := ws[0].cfg.Shards
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.id)
	}
	want := assign(shards, ids)
	var got []string
	waitFor(e.t, timeout, fmt.Sprintf("the shards held as assigned to %d workers", len(ws)), func() bool {
		if got = e.leaseOwners(shards); !slices.Equal(got, want) {
			return false
		}
		for _, w := range ws {
			if metricValue(e.t, w.url, "epayflow_worker_shards_owned") != float64(len(shardsOf(want, w.id))) {
				return false
			}
		}
		return true
	})
}

func moved(t testing.TB, w *elastic, direction string) float64 {
	t.Helper()
	return metricValue(t, w.url, `epayflow_worker_shard_moves_total{direction="`+direction+`"}`)
}

// merge is the scenarios' invoices together.
func merge(scs ...scenario) scenario {
	out := scenario{final: map[string]invoice.State{}}
	for _, sc := range scs {
		out.msgs = append(out.msgs, sc.msgs...)
		maps.Copy(out.final, sc.final)
	}
	return out
}

// Two workers split the shards; a third joins while callbacks flow and takes its
// share; one leaves cleanly while they flow and its shards go to the other two at once.
// Every invoice ends in its state and every state change is published once.
func TestWorkersShareTheShardsAsTheyJoinAndLeave(t *testing.T) {
	e := newEnv(t)
	a, b := e.startElastic("a", false), e.startElastic("b", false)
	e.waitAssigned(30*time.Second, a, b)
	if n := metricValue(t, a.url, "epayflow_worker_shards_owned"); n != float64(a.cfg.Shards/2) {
		t.Fatalf("two workers on %d shards: the first owns %v", a.cfg.Shards, n)
	}

	join := newScenarioFrom(t, 710000000, 200)
	published := make(chan struct{})
	go func() { defer close(published); publishConcurrently(t, e, join.msgs, 3) }()
	waitFor(t, 30*time.Second, "some events before the join", func() bool { return e.eventCount() >= 10 })
	c := e.startElastic("c", false)
	e.waitAssigned(60*time.Second, a, b, c)
	<-published
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, a.cfg.Shards) })
	gained := moved(t, c, "gained")
	if gained != float64(len(shardsOf(e.leaseOwners(a.cfg.Shards), c.id))) || moved(t, a, "lost")+moved(t, b, "lost") < gained {
		t.Errorf("the joiner gained %v shards; the others lost %v and %v", gained, moved(t, a, "lost"), moved(t, b, "lost"))
	}

	leave := newScenarioFrom(t, 720000000, 200)
	published = make(chan struct{})
	go func() { defer close(published); publishConcurrently(t, e, leave.msgs, 4) }()
	waitFor(t, 30*time.Second, "some events before the leave", func() bool { return e.eventCount() >= uint64(len(join.final))+10 })
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	if held := shardsOf(e.leaseOwners(a.cfg.Shards), a.id); len(held) > 0 {
		t.Fatalf("a worker stopped cleanly still holds shards %v: the others wait for its leases to run out", held)
	}
	e.waitAssigned(30*time.Second, b, c)
	<-published
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, b.cfg.Shards) })
	checkEventsOnceAcrossOwners(t, e, b.url, merge(join, leave), a, b, c)
}

// A worker that goes silent (killed: its membership and leases left behind) loses its
// shards once its lease runs out; the others take them, restored, and nothing of what
// flowed meanwhile is lost or doubled.
func TestASilentWorkersShardsMoveAfterItsLease(t *testing.T) {
	e := newEnv(t)
	a, b := e.startElastic("a", false), e.startElastic("b", true)
	e.waitAssigned(30*time.Second, a, b)
	sc := newScenarioFrom(t, 730000000, 200)
	published := make(chan struct{})
	go func() { defer close(published); publishConcurrently(t, e, sc.msgs, 5) }()
	waitFor(t, 30*time.Second, "some events", func() bool { return e.eventCount() >= 10 })
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}
	if held := shardsOf(e.leaseOwners(a.cfg.Shards), b.id); len(held) == 0 {
		t.Fatal("the silent worker's leases are gone at once: it released them")
	}
	e.waitAssigned(30*time.Second, a) // once b's member key and leases ran out
	<-published
	waitFor(t, 60*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, a.cfg.Shards) })
	if got, lost := moved(t, a, "gained"), moved(t, a, "lost"); got-lost != float64(a.cfg.Shards) {
		t.Errorf("the survivor gained %v shards and lost %v, want all %d in the end", got, lost, a.cfg.Shards)
	}
	checkEventsOnceAcrossOwners(t, e, a.url, sc, a, b)
}

// checkEventsOnceAcrossOwners is checkOneEventPerStateChange for invoices whose shard
// moved: every invoice is in its final state (read through base, from its owner now),
// and the events published are exactly those the owners recorded, each once. An owner
// records the changes it applied (a new owner's history starts with the restored
// record), so the recorded events are those of every file: the workers are stopped and
// their files read.
func checkEventsOnceAcrossOwners(t *testing.T, e *env, base string, sc scenario, ws ...*elastic) {
	t.Helper()
	for id, final := range sc.final {
		if code, body := get(t, base, id); code != http.StatusOK || body.State != final {
			t.Fatalf("invoice %s: %d %s, want %s", id, code, body.State, final)
		}
	}
	want := map[string]bool{}
	for _, w := range ws {
		w.stop(t)
		st, err := bolt.Open(w.cfg.DB, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for id := range sc.final {
			_, hist, err := st.Get(id)
			if errors.Is(err, bolt.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hist {
				for _, ev := range h.Events {
					want[ev] = true
				}
			}
		}
		st.Close()
	}
	waitFor(t, 20*time.Second, "every event published", func() bool { return e.eventCount() >= uint64(len(want)) })
	seen := map[string]bool{}
	for _, ev := range e.events() {
		if seen[ev.ID] || !want[ev.ID] {
			t.Fatalf("event %s published twice (%v) or recorded by no owner (%v)", ev.ID, seen[ev.ID], !want[ev.ID])
		}
		seen[ev.ID] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("%d events published, %d recorded", len(seen), len(want))
	}
	t.Logf("%d invoices, %d events", len(sc.final), len(seen))
}

// A lease taken by someone else (a worker that came back from a partition finds its
// shard held) stops that one shard at once, not the worker: its other shards go on, the
// shard's messages wait, and once the lease is free again the worker takes it back.
func TestALostLeaseStopsOnlyItsShard(t *testing.T) {
	e := newEnv(t)
	a := e.startElastic("a", false)
	e.waitAssigned(30*time.Second, a)
	const lostID, otherID = "500000001", "500000002"
	s := inbox.Shard(lostID, a.cfg.Shards)
	if inbox.Shard(otherID, a.cfg.Shards) == s {
		t.Fatal("pick two invoices on different shards")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := e.js.KeyValue(ctx, natsbus.ShardOwnersBucket)
	if err != nil {
		t.Fatal(err)
	}
	// another worker's: signed with the key the workers share (an unsigned lease would
	// count for nothing: TestLeasesTheWorkersDidNotSignAreNotCounted)
	signer, _ := inbox.NewStatusSigner([]byte(testStatusKey))
	at := time.Now().UTC().Truncate(time.Millisecond)
	intruder, _ := json.Marshal(leaseOwner{Owner: "intruder", Host: "elsewhere", DB: "/other/worker.db", Since: at,
		Signed: at, LeaseSig: signer.SignLease(shardKey(s), "intruder", "", at)})
	if _, err := kv.Put(ctx, shardKey(s), intruder); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the shard stopped", func() bool {
		return metricValue(t, a.url, "epayflow_worker_shards_owned") == float64(a.cfg.Shards-1)
	})
	e.publishCreated(createdFor(lostID, 10000))
	e.publishCreated(createdFor(otherID, 10000))
	waitState(t, a.url, otherID, invoice.StateCreated) // the other shards go on
	if code := localRead(t, a.url, lostID); code != http.StatusNotFound {
		t.Fatalf("an invoice of the lost shard was applied while another held its lease: %d", code)
	}
	if err := kv.Delete(ctx, shardKey(s)); err != nil { // the intruder is gone
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the shard taken back and its message applied", func() bool {
		return localRead(t, a.url, lostID) == http.StatusOK
	})
	if lost := moved(t, a, "lost"); lost < 1 {
		t.Errorf("shard moves lost = %v, want the lost lease counted", lost)
	}
}

// The worker's NATS password may write EPAY_SHARD_OWNERS. With it alone, leases naming
// a made-up owner, or a live worker's genuine membership copied onto every shard key,
// rewritten faster than a lease step, and a made-up member made each worker stop its
// shards (the lease "lost"), refuse them back (owned by another) and leave some to the
// made-up member: every shard stopped. A lease or membership the workers' status key did
// not sign for its own key, at the time the server stored it, counts for nothing: each
// worker writes over it (no shard lost) and goes on (epayflow_worker_leases_refused_total).
func TestLeasesTheWorkersDidNotSignAreNotCounted(t *testing.T) {
	e := newEnv(t)
	a, b := e.startElastic("a", false), e.startElastic("b", false)
	e.waitAssigned(30*time.Second, a, b)
	lostBefore := moved(t, a, "lost") + moved(t, b, "lost")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kv, err := e.js.KeyValue(ctx, natsbus.ShardOwnersBucket)
	if err != nil {
		t.Fatal(err)
	}
	forged := func() {
		madeUp, _ := json.Marshal(leaseOwner{Owner: "intruder", Host: "nowhere", DB: "/x.db", Since: time.Now().UTC(), Signed: time.Now().UTC(), LeaseSig: "v1=forged"})
		copied := madeUp
		if m, err := kv.Get(ctx, memberPrefix+b.id); err == nil {
			copied = m.Value() // b's genuine membership, signed for member.<b>
		}
		for s := range a.cfg.Shards {
			v := madeUp
			if s%2 == 1 {
				v = copied
			}
			kv.Put(ctx, shardKey(s), v)
		}
		kv.Put(ctx, memberPrefix+"intruder", madeUp)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the intruder writes again every second, faster than a lease step
		defer close(done)
		for {
			forged()
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	defer func() { close(stop); <-done }()
	time.Sleep(3 * time.Second) // a lease step and more under the intruder's leases
	sc := newScenarioFrom(t, 730000000, 40)
	publishConcurrently(t, e, sc.msgs, 2)
	waitFor(t, 60*time.Second, "every invoice in its final state despite the intruder", func() bool {
		for id, want := range sc.final {
			_, got := get(t, a.url, id) // a forwards what b owns
			if got.State != want {
				return false
			}
		}
		return true
	})
	if lost := moved(t, a, "lost") + moved(t, b, "lost"); lost != lostBefore {
		t.Errorf("%v shards lost under the intruder's leases, want none (each worker writes over them)", lost-lostBefore)
	}
	for _, w := range []*elastic{a, b} {
		if n := metricValue(t, w.url, "epayflow_worker_leases_refused_total"); n < 1 {
			t.Errorf("worker %s counted %v forged leases, want some", w.id, n)
		}
		if n := metricValue(t, w.url, "epayflow_worker_shards_owned"); n != float64(w.cfg.Shards/2) {
			t.Errorf("worker %s owns %v shards under the intruder, want %d", w.id, n, w.cfg.Shards/2)
		}
	}
}
