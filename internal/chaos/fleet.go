package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
)

// svc is one service process of the stack and where it answers.
type svc struct {
	p       *proctest.Proc
	url     string
	db      string // a worker's bbolt file
	started bool   // a worker that joined (or was there from the start)
	removed bool   // a worker scaled away: stopped for good
}

// fleet is the stack's workers: those there from the start, a spare that joins when
// the run scales out, and those scaled away. Its methods are safe for concurrent use.
type fleet struct {
	mu      sync.Mutex
	workers []*svc
}

// live are the workers started and not scaled away.
func (f *fleet) live() []*svc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*svc
	for _, w := range f.workers {
		if w.started && !w.removed {
			out = append(out, w)
		}
	}
	return out
}

// all are every worker ever started.
func (f *fleet) all() []*svc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*svc
	for _, w := range f.workers {
		if w.started {
			out = append(out, w)
		}
	}
	return out
}

// join starts the first worker not started yet.
func (f *fleet) join() (*svc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.workers {
		if !w.started {
			w.started = true
			return w, w.p.Start()
		}
	}
	return nil, errors.New("no spare worker to join")
}

// scaleTo stops the live workers beyond the first n (as a StatefulSet scaled down stops
// its highest ordinals, with SIGTERM and a grace period) and returns them.
func (f *fleet) scaleTo(n int) []*svc {
	f.mu.Lock()
	var gone []*svc
	live := 0
	for _, w := range f.workers {
		if w.started && !w.removed {
			if live++; live > n {
				w.removed = true
				gone = append(gone, w)
			}
		}
	}
	f.mu.Unlock()
	for _, w := range gone {
		w.p.Stop(30 * time.Second)
	}
	return gone
}

// restart starts a killed worker again, unless it was scaled away meanwhile.
func (f *fleet) restart(w *svc) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.removed {
		return nil
	}
	return w.p.Start()
}

// workerKill is one SIGKILL of a worker: when, and the shards it owned then (from the
// shard owners bucket; nil when unknown).
type workerKill struct {
	at     time.Time
	shards []int
}

// ownedShards are the shards whose lease names db as its owner's file.
func ownedShards(ctx context.Context, js jetstream.JetStream, db string) []int {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, natsbus.ShardOwnersBucket)
	if err != nil {
		return nil
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil
	}
	var out []int
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var owner struct {
			DB string `json:"db"`
		}
		if json.Unmarshal(e.Value(), &owner) != nil || owner.DB != db {
			continue
		}
		if s, ok := shardOfKey(k); ok {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// shardOfKey reads "shard-<n>", the leases' keys.
func shardOfKey(k string) (int, bool) {
	n, err := strconv.Atoi(k[len("shard-"):])
	return n, err == nil && len(k) > len("shard-") && k[:len("shard-")] == "shard-"
}

// appliedTap follows EPAY_STATE live from when the stack is up: every record there is a
// change a worker applied (written just before its commit), stamped by the server, so its
// times by shard say when each shard was served again after a kill, whatever files the
// kills deleted afterwards. A record the stream compacted away before the tap read it
// only makes a failover look longer, never shorter.
type appliedTap struct {
	mu      sync.Mutex
	byShard map[int][]time.Time // in the order read: stream order, so sorted
	all     []time.Time
	it      jetstream.MessagesContext
	done    chan struct{}
}

func tapApplied(ctx context.Context, js jetstream.JetStream) (*appliedTap, error) {
	st, err := js.Stream(ctx, natsbus.StreamState)
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", natsbus.StreamState, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", natsbus.StreamState, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", natsbus.StreamState, err)
	}
	t := &appliedTap{byShard: map[int][]time.Time{}, it: it, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		for {
			m, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				continue // a reset of the ordered consumer (NATS killed): it carries on
			}
			meta, err := m.Metadata()
			parts := strings.SplitN(m.Subject(), ".", 4) // epay.state.<shard>.<invoiceId>
			if err != nil || len(parts) != 4 {
				continue
			}
			shard, err := strconv.Atoi(parts[2])
			if err != nil {
				continue
			}
			t.mu.Lock()
			t.byShard[shard] = append(t.byShard[shard], meta.Timestamp)
			t.all = append(t.all, meta.Timestamp)
			t.mu.Unlock()
		}
	}()
	return t, nil
}

// stop ends the tap and returns what it saw, each list sorted.
func (t *appliedTap) stop() (byShard map[int][]time.Time, all []time.Time) {
	t.it.Stop()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.byShard {
		slices.SortFunc(t.byShard[s], func(a, b time.Time) int { return a.Compare(b) })
	}
	slices.SortFunc(t.all, func(a, b time.Time) int { return a.Compare(b) })
	return t.byShard, t.all
}

// firstAfter is the first time in sorted ts after k.
func firstAfter(ts []time.Time, k time.Time) (time.Time, bool) {
	i, _ := slices.BinarySearchFunc(ts, k, func(a, k time.Time) int { return a.Compare(k) })
	for i < len(ts) && !ts[i].After(k) {
		i++
	}
	if i < len(ts) {
		return ts[i], true
	}
	return time.Time{}, false
}

// readState reads EPAY_STATE, the workers' changelog: each invoice's state of record,
// as a view whose invoices carry no history (their applied ids say what was applied).
func readState(ctx context.Context, js jetstream.JetStream) (boltView, error) {
	v := boltView{Invoices: map[string]*boltInvoice{}}
	raw, err := readStream(ctx, js, natsbus.StreamState)
	if err != nil {
		return v, err
	}
	for _, m := range raw {
		var rec struct {
			Invoice boltInvoice `json:"invoice"`
		}
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			return v, fmt.Errorf("EPAY_STATE %d: %w", m.Seq, err)
		}
		inv := rec.Invoice
		inv.fromRecord = true
		v.Invoices[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]] = &inv
		v.Seen += len(inv.Applied)
	}
	return v, nil
}

// compareState finds where a worker's file and the changelog disagree on an invoice.
func compareState(file, state boltView, s *Summary) {
	for id, inv := range file.Invoices {
		rec := state.Invoices[id]
		switch {
		case rec == nil:
			s.problem("invoice %s is in the worker's file (%s v%d) but has no record in EPAY_STATE", id, inv.State, inv.Version)
		case rec.State != inv.State || rec.Version != inv.Version || !slices.Equal(rec.Applied, inv.Applied):
			s.problem("invoice %s: the worker's file has %s v%d, EPAY_STATE %s v%d", id, inv.State, inv.Version, rec.State, rec.Version)
		}
	}
}

// removeFile deletes a worker's bbolt file, as a lost disk would.
func removeFile(path string) error { return os.Remove(path) }
