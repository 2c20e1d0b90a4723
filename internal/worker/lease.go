package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// ErrShardOwned: a shard this worker would consume is owned by another live worker
// (another bbolt file). Two owners of a shard would split its invoices between two
// files, each with half of the history; the second worker waits until the first
// releases the shard (it no longer wins it, or it stops) or its lease runs out.
var ErrShardOwned = errors.New("shard owned by another worker")

// errLeaseLost: a lease this worker held is now someone else's (it was partitioned past
// the lease, and another worker took the shard): it must stop consuming the shard at once.
var errLeaseLost = errors.New("shard lease lost")

// leaseOwner is the value of a shard's key and of a member key in natsbus.ShardOwnersBucket.
type leaseOwner struct {
	Owner string `json:"owner"` // the store's id: a worker restarted on its file is the same owner
	Host  string `json:"host"`
	DB    string `json:"db"`
	URL   string `json:"url,omitempty"` // its read API, for the other workers (WORKER_ADVERTISE_URL)
	// URLSig signs URL for Owner at Signed with the workers' status key
	// (StatusSigner.SignAdvert): the other workers forward to URL only with it, and only
	// while Signed is as recent as a live lease's (advertFresh).
	URLSig string    `json:"urlSig,omitempty"`
	Signed time.Time `json:"signed,omitzero"`
	// LeaseSig signs the whole value with the key it is written under
	// (StatusSigner.SignLease): what makes it count (leases.genuine).
	LeaseSig string    `json:"leaseSig,omitempty"`
	Since    time.Time `json:"since"`
}

// advertSkew is how far the workers' clocks may differ when one checks another's
// signed lease time.
const advertSkew = 30 * time.Second

// advertFresh says whether a lease written at signed can still be a live worker's: a
// lease is written again every ttl/3 and expires ttl after its last write.
func advertFresh(signed, now time.Time, ttl time.Duration) bool {
	return !signed.IsZero() && !signed.After(now.Add(advertSkew)) && now.Sub(signed) <= ttl+advertSkew
}

// leases holds this worker's membership and shard leases, keys in a KV bucket whose
// entries expire after ttl unless renewed (every ttl/3): "member.<store id>" says the
// worker is alive (the members compute the assignment), "shard-<n>" says who owns
// shard n. It is safe for concurrent use.
type leases struct {
	kv     jetstream.KeyValue
	stream jetstream.Stream // the bucket's stream: its subjects list the members
	me     leaseOwner
	ttl    time.Duration
	log    *slog.Logger
	m      *Metrics
	signer inbox.StatusSigner // signs each lease at each write (nil key: unsigned, never forwarded to)
	// verify: a lease or membership counts only when the workers' status key signed it for
	// its own key, within advertSkew of when NATS stored it (genuine). Set with a WORKER_STATUS_KEY the
	// workers share (prod requires one): the worker's NATS password alone, which may write
	// the bucket, could otherwise name a made-up owner for every shard and stop them all.
	// Without one each worker makes its own key and could check nobody's.
	verify bool

	mu        sync.Mutex
	rev       map[int]uint64 // the revision of each shard key this worker wrote last
	memberRev uint64         // of its member key; 0: not a member
}

func newLeases(ctx context.Context, js jetstream.JetStream, owner, db, url string, signer inbox.StatusSigner, ttl time.Duration, replicas int, m *Metrics, log *slog.Logger) (*leases, error) {
	return openLeases(ctx, js, true, owner, db, url, signer, ttl, replicas, m, log)
}

// openLeases is newLeases; with ensure false it only binds the owners bucket, which it
// may not make (natsbus.CheckBucket: the worker's user has no STREAM.CREATE), and refuses
// one configured otherwise than ttl and replicas ask.
func openLeases(ctx context.Context, js jetstream.JetStream, ensure bool, owner, db, url string, signer inbox.StatusSigner, ttl time.Duration, replicas int, m *Metrics, log *slog.Logger) (*leases, error) {
	kv, st, err := ownersBucket(ctx, js, ensure, ownersBucketConfig(ttl, replicas), log)
	if err != nil {
		return nil, fmt.Errorf("shard owners bucket %s: %w", natsbus.ShardOwnersBucket, err)
	}
	host, _ := os.Hostname()
	return &leases{kv: kv, stream: st, me: leaseOwner{Owner: owner, Host: host, DB: db, URL: url, Since: time.Now().UTC()}, ttl: ttl,
		rev: map[int]uint64{}, log: log.With("component", "leases"), m: m, signer: signer}, nil
}

// ownersBucketConfig is the configuration of the shard owners bucket for leases of ttl:
// what `worker streams` makes and the worker checks.
func ownersBucketConfig(ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket: natsbus.ShardOwnersBucket, Description: "epayflow: the live workers and the worker that owns each inbox shard, on renewed leases",
		History: 1, TTL: ttl, Storage: jetstream.FileStorage, Replicas: replicas, // as the streams: a node lost loses no lease
	}
}

// ownersBucket opens the leases' bucket and its stream, the bucket made or brought back
// to cfg by natsbus.EnsureBucket (left alone when it already is: an update is a proposal
// through a cluster's meta leader at every worker's start), or only checked
// (natsbus.CheckBucket) when ensure is false.
func ownersBucket(ctx context.Context, js jetstream.JetStream, ensure bool, cfg jetstream.KeyValueConfig, log *slog.Logger) (jetstream.KeyValue, jetstream.Stream, error) {
	var st jetstream.Stream
	var err error
	if ensure {
		st, err = natsbus.EnsureBucket(ctx, js, log, cfg)
	} else {
		st, err = natsbus.CheckBucket(ctx, js, cfg)
	}
	if err != nil {
		return nil, nil, err
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	return kv, st, err
}

func shardKey(s int) string { return "shard-" + strconv.Itoa(s) }

// memberPrefix starts the key of each live worker: memberPrefix + its store id.
const memberPrefix = "member."

// value is this worker's lease or membership as it is written now under key: its URL
// signed with the time (for the forwarders), and the whole signed with key.
func (l *leases) value(key string) []byte {
	me := l.me
	me.Signed = time.Now().UTC().Truncate(time.Millisecond)
	if me.URL != "" {
		me.URLSig = l.signer.SignAdvert(me.Owner, me.URL, me.Signed)
	}
	me.LeaseSig = l.signer.SignLease(key, me.Owner, me.URL, me.Signed)
	val, _ := json.Marshal(me)
	return val
}

// genuine reads a lease or membership value, written under key at written (the server's
// time of the entry's revision), and says whether it counts when the leases verify
// (else any value counts): signed with the status key for that key, at a time within
// advertSkew of when the server stored it. A copy of a genuine value put back later, or
// under another key, counts for nothing. Judged by the server's time, not the reader's:
// every worker reaches the same verdict whatever its clock or its lease length. A value
// nobody may count is logged and counted.
func (l *leases) genuine(key string, val []byte, written time.Time) (leaseOwner, bool) {
	var o leaseOwner
	if json.Unmarshal(val, &o) != nil {
		o = leaseOwner{}
	}
	if !l.verify {
		return o, true
	}
	skew := o.Signed.Sub(written)
	if l.signer.CheckLease(key, o.Owner, o.URL, o.Signed, o.LeaseSig) && skew <= advertSkew && skew >= -advertSkew {
		return o, true
	}
	l.m.LeasesRefused.Inc()
	l.log.Warn("a lease the workers did not sign for its key, or signed more than 30 s from when it was stored: not counted (a writer of "+natsbus.ShardOwnersBucket+" with the worker's NATS password?)",
		"key", key, "owner", o.Owner, "host", o.Host, "signed", o.Signed)
	return o, false
}

// take takes shard s's lease: a free one, or its own left by a run before (a restart
// on the same file). Another live owner's is refused with an error wrapping
// ErrShardOwned that names it.
func (l *leases) take(ctx context.Context, s int) error {
	val := l.value(shardKey(s))
	rev, err := l.kv.Create(ctx, shardKey(s), val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		rev, err = l.reclaim(ctx, s, val)
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.rev[s] = rev
	l.mu.Unlock()
	return nil
}

// holds says whether this worker holds shard s's lease (as far as it knows).
func (l *leases) holds(s int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.rev[s]
	return ok
}

// reclaim takes a shard whose key exists: its own (a restart on the same file) is
// taken over, and so is one the workers did not sign (genuine); another owner's is refused.
func (l *leases) reclaim(ctx context.Context, s int, val []byte) (uint64, error) {
	e, err := l.kv.Get(ctx, shardKey(s))
	if errors.Is(err, jetstream.ErrKeyNotFound) { // expired or released meanwhile
		return l.kv.Create(ctx, shardKey(s), val)
	}
	if err != nil {
		return 0, err
	}
	cur, ok := l.genuine(shardKey(s), e.Value(), e.Created())
	if cur.Owner != l.me.Owner && ok {
		return 0, fmt.Errorf("%w: shard %d belongs to the worker with %s on host %s since %s (its lease runs %s past its last renewal)",
			ErrShardOwned, s, cur.DB, cur.Host, cur.Since.Format(time.RFC3339), l.ttl)
	}
	return l.kv.Update(ctx, shardKey(s), val, e.Revision())
}

// renewAll renews the membership and every lease held, and returns the shards whose
// lease is someone else's now (dropped from those held: the caller stops consuming
// them at once). A renewal NATS did not answer is retried next time; nobody else can
// take the shard meanwhile either.
func (l *leases) renewAll(ctx context.Context) (lost []int) {
	if err := l.renewMember(ctx); err != nil && ctx.Err() == nil {
		l.log.Warn("renew membership; will retry", "err", err)
	}
	for _, s := range l.held() {
		err := l.renew(ctx, s)
		switch {
		case errors.Is(err, errLeaseLost):
			l.log.Error("a shard lease was lost: stopping the shard", "shard", s, "err", err)
			l.mu.Lock()
			delete(l.rev, s)
			l.mu.Unlock()
			lost = append(lost, s)
		case err != nil && ctx.Err() == nil:
			l.log.Warn("renew shard lease; will retry", "shard", s, "err", err)
		}
	}
	return lost
}

// held returns the shards whose lease this worker holds, in order.
func (l *leases) held() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.rev))
}

func (l *leases) renew(ctx context.Context, s int) error {
	rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	l.mu.Lock()
	last, ok := l.rev[s]
	l.mu.Unlock()
	if !ok {
		return nil // released meanwhile
	}
	val := l.value(shardKey(s))
	rev, err := l.kv.Update(rctx, shardKey(s), val, last)
	if err == nil {
		l.setRev(s, last, rev)
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
			l.setRev(s, last, rev)
		}
		return err
	case gerr != nil:
		return gerr
	}
	cur, ok := l.genuine(shardKey(s), e.Value(), e.Created())
	if cur.Owner == l.me.Owner {
		l.setRev(s, last, e.Revision())
		return nil
	}
	if !ok { // not a worker's: this worker's lease still, written over
		rev, err = l.kv.Update(rctx, shardKey(s), val, e.Revision())
		if err == nil {
			l.setRev(s, last, rev)
		}
		return err
	}
	return fmt.Errorf("%w: shard %d now belongs to the worker with %s on host %s", errLeaseLost, s, cur.DB, cur.Host)
}

// setRev records rev as shard s's revision unless the lease was released since it read
// last (a renewal racing a release must not hold the shard again).
func (l *leases) setRev(s int, last, rev uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.rev[s]; ok && cur == last {
		l.rev[s] = rev
	}
}

// join makes this worker a member (or renews its membership).
func (l *leases) join(ctx context.Context) error {
	rev, err := l.kv.Put(ctx, memberPrefix+l.me.Owner, l.value(memberPrefix+l.me.Owner))
	if err != nil {
		return fmt.Errorf("join the workers: %w", err)
	}
	l.mu.Lock()
	l.memberRev = rev
	l.mu.Unlock()
	return nil
}

func (l *leases) renewMember(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	return l.join(rctx)
}

// member says whether this worker has made itself a member.
func (l *leases) member() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.memberRev != 0
}

// leave deletes this worker's member key: the others reassign its shards at once.
func (l *leases) leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, memberPrefix+l.me.Owner); err != nil {
		l.log.Debug("leave the workers", "err", err)
	}
	l.mu.Lock()
	l.memberRev = 0
	l.mu.Unlock()
}

// members returns the store ids of the live workers, this one among them once it
// joined. A worker whose key expired (silent for a lease) is not among them.
func (l *leases) members(ctx context.Context) ([]string, error) {
	prefix := "$KV." + natsbus.ShardOwnersBucket + "." + memberPrefix
	info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("list the workers: %w", err)
	}
	var out []string
	for subj := range info.State.Subjects {
		id := strings.TrimPrefix(subj, prefix)
		if e, err := l.kv.Get(ctx, memberPrefix+id); err == nil {
			if o, ok := l.genuine(memberPrefix+id, e.Value(), e.Created()); ok && (!l.verify || o.Owner == id) || id == l.me.Owner {
				out = append(out, id)
			}
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) { // deleted: a worker that left
			return nil, fmt.Errorf("read member %s: %w", id, err)
		}
	}
	if l.member() && !slices.Contains(out, l.me.Owner) {
		out = append(out, l.me.Owner) // renewed late: it is still one
	}
	slices.Sort(out)
	return out, nil
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		errors.Is(err, jetstream.ErrKeyNotFound) || strings.Contains(err.Error(), "wrong last sequence")
}

// release gives back the leases of shards (after their consumers settled: another
// worker may take them at once instead of waiting for the lease to run out).
func (l *leases) release(ctx context.Context, shards []int) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, s := range shards {
		l.mu.Lock()
		rev, ok := l.rev[s]
		delete(l.rev, s)
		l.mu.Unlock()
		if !ok {
			continue
		}
		err := l.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(rev))
		if err != nil && isWrongLastSequence(err) {
			// a renewal this worker did not see land (its answer lost to a stop or a
			// timeout) moved the revision on: the lease is still its own, release it
			err = l.releaseOwn(ctx, s)
		}
		if err != nil {
			l.log.Debug("release shard lease", "shard", s, "err", err)
		}
	}
}

// releaseOwn deletes shard s's lease at its current revision if it names this worker.
func (l *leases) releaseOwn(ctx context.Context, s int) error {
	e, err := l.kv.Get(ctx, shardKey(s))
	if err != nil {
		return err
	}
	var cur leaseOwner
	if json.Unmarshal(e.Value(), &cur) != nil || cur.Owner != l.me.Owner {
		return nil // expired and taken by another worker: not this one's to release
	}
	return l.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(e.Revision()))
}
