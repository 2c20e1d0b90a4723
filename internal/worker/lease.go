package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// ErrShardOwned: a shard this worker was told to consume is owned by another live worker
// (another bbolt file). Two owners of a shard would split its invoices between two
// files, each with half of the history; the second worker is refused until the first
// stops or its lease runs out.
var ErrShardOwned = errors.New("shard owned by another worker")

// errLeaseLost: a lease this worker held is now someone else's (it was partitioned past
// the lease, and another worker took the shard): it must stop consuming at once.
var errLeaseLost = errors.New("shard lease lost")

// leaseOwner is the value of a shard's key in natsbus.ShardOwnersBucket.
type leaseOwner struct {
	Owner string    `json:"owner"` // the store's id: a worker restarted on its file is the same owner
	Host  string    `json:"host"`
	DB    string    `json:"db"`
	URL   string    `json:"url,omitempty"` // its read API, for the other workers (WORKER_ADVERTISE_URL)
	Since time.Time `json:"since"`
}

// leases holds this worker's shard leases: one key per shard in a KV bucket whose
// entries expire after ttl unless renewed (every ttl/3).
type leases struct {
	kv     jetstream.KeyValue
	me     leaseOwner
	shards []int
	ttl    time.Duration
	rev    map[int]uint64 // the revision of each key this worker wrote last
	log    *slog.Logger
	m      *Metrics
}

func newLeases(ctx context.Context, js jetstream.JetStream, owner, db, url string, shards []int, ttl time.Duration, replicas int, m *Metrics, log *slog.Logger) (*leases, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: natsbus.ShardOwnersBucket, Description: "epayflow: the worker that owns each inbox shard, on a renewed lease",
		History: 1, TTL: ttl, Storage: jetstream.FileStorage, Replicas: replicas, // as the streams: a node lost loses no lease
	})
	if err != nil {
		return nil, fmt.Errorf("shard owners bucket %s: %w", natsbus.ShardOwnersBucket, err)
	}
	host, _ := os.Hostname()
	return &leases{kv: kv, me: leaseOwner{Owner: owner, Host: host, DB: db, URL: url}, shards: shards, ttl: ttl,
		rev: map[int]uint64{}, log: log.With("component", "leases"), m: m}, nil
}

func shardKey(s int) string { return "shard-" + strconv.Itoa(s) }

// acquire takes every shard or none: on the first shard another owner holds, it gives
// back those it took and returns an error wrapping ErrShardOwned that names the owner.
func (l *leases) acquire(ctx context.Context) error {
	l.me.Since = time.Now().UTC()
	val, _ := json.Marshal(l.me)
	var taken []int
	for _, s := range l.shards {
		rev, err := l.kv.Create(ctx, shardKey(s), val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			rev, err = l.reclaim(ctx, s, val)
		}
		if err != nil {
			l.release(context.WithoutCancel(ctx), taken)
			return err
		}
		l.rev[s] = rev
		taken = append(taken, s)
	}
	l.m.ShardsOwned.Set(float64(len(l.shards)))
	return nil
}

// reclaim takes a shard whose key exists: its own (a restart on the same file) is
// taken over; another owner's is refused.
func (l *leases) reclaim(ctx context.Context, s int, val []byte) (uint64, error) {
	e, err := l.kv.Get(ctx, shardKey(s))
	if errors.Is(err, jetstream.ErrKeyNotFound) { // expired meanwhile
		return l.kv.Create(ctx, shardKey(s), val)
	}
	if err != nil {
		return 0, err
	}
	var cur leaseOwner
	json.Unmarshal(e.Value(), &cur)
	if cur.Owner != l.me.Owner {
		l.m.ShardConflicts.Inc()
		return 0, fmt.Errorf("%w: shard %d belongs to the worker with %s on host %s since %s (its lease runs %s past its last renewal); "+
			"a shard has one owner: stop that worker, or give this one other WORKER_SHARDS",
			ErrShardOwned, s, cur.DB, cur.Host, cur.Since.Format(time.RFC3339), l.ttl)
	}
	return l.kv.Update(ctx, shardKey(s), val, e.Revision())
}

// run renews the leases every ttl/3 until ctx ends; it returns an error wrapping
// errLeaseLost when a lease is someone else's now (the caller stops consuming), and
// nil once ctx ended.
func (l *leases) run(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, s := range l.shards {
			if err := l.renew(ctx, s); err != nil {
				if errors.Is(err, errLeaseLost) {
					l.m.ShardsOwned.Set(0)
					return err
				}
				if ctx.Err() == nil { // NATS away: retried next tick; nobody else can take it meanwhile either
					l.log.Warn("renew shard lease; will retry", "shard", s, "err", err)
				}
			}
		}
	}
}

func (l *leases) renew(ctx context.Context, s int) error {
	rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	val, _ := json.Marshal(l.me)
	rev, err := l.kv.Update(rctx, shardKey(s), val, l.rev[s])
	if err == nil {
		l.rev[s] = rev
		return nil
	}
	if !isWrongLastSequence(err) {
		return err
	}
	// the key changed since this worker wrote it: expired (gone, or re-created)
	e, gerr := l.kv.Get(rctx, shardKey(s))
	switch {
	case errors.Is(gerr, jetstream.ErrKeyNotFound):
		rev, err = l.kv.Create(rctx, shardKey(s), val)
		if err == nil {
			l.rev[s] = rev
		}
		return err
	case gerr != nil:
		return gerr
	}
	var cur leaseOwner
	json.Unmarshal(e.Value(), &cur)
	if cur.Owner == l.me.Owner {
		l.rev[s] = e.Revision()
		return nil
	}
	return fmt.Errorf("%w: shard %d now belongs to the worker with %s on host %s", errLeaseLost, s, cur.DB, cur.Host)
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		errors.Is(err, jetstream.ErrKeyNotFound) || strings.Contains(err.Error(), "wrong last sequence")
}

// release gives back the leases of shards (on a clean stop: another worker may take
// them at once instead of waiting for the lease to run out).
func (l *leases) release(ctx context.Context, shards []int) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, s := range shards {
		if err := l.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(l.rev[s])); err != nil {
			l.log.Debug("release shard lease", "shard", s, "err", err)
		}
		delete(l.rev, s)
	}
	l.m.ShardsOwned.Set(float64(len(l.rev)))
}
