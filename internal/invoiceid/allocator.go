package invoiceid

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of Allocator.Next besides ErrExhausted and context errors.
var (
	// ErrContention: the compare-and-set lost to other replicas MaxAttempts times in a row.
	ErrContention = errors.New("invoiceid: too much contention on the sequence")
	// ErrUnavailable wraps a failure to reach the sequence bucket (NATS down, timeout).
	ErrUnavailable = errors.New("invoiceid: sequence unavailable")
	// ErrCorrupt: the bucket holds something that is not a sequence number.
	ErrCorrupt = errors.New("invoiceid: sequence value is corrupt")
)

// DefaultBucket is the key-value bucket of the global sequence.
const DefaultBucket = "EPAY_INVOICE_SEQ"

const seqKey = "last"

// Config of an Allocator. Zero fields take the defaults.
type Config struct {
	Scheme Scheme
	// Bucket is the key-value bucket (DefaultBucket). `worker streams` makes it (its NATS
	// user, streams, alone may create or change a stream); the allocator only binds to it.
	Bucket string
	// MaxBatch bounds the numbers one compare-and-set reserves (default 1000).
	MaxBatch int
	// MaxAttempts bounds compare-and-set retries of one batch (default 50).
	MaxAttempts int
	// ReserveTimeout bounds one batch's reservation, retries included (default 5s).
	ReserveTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Scheme == (Scheme{}) {
		c.Scheme = DefaultScheme()
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 50
	}
	if c.ReserveTimeout == 0 {
		c.ReserveTimeout = 5 * time.Second
	}
}

// Validate reports the first problem with the config (after defaults).
func (c Config) Validate() error {
	c.setDefaults()
	if err := c.Scheme.Validate(); err != nil {
		return err
	}
	switch {
	case c.MaxBatch < 1 || c.MaxBatch > 100_000:
		return fmt.Errorf("invoiceid: max batch %d: want 1 to 100000", c.MaxBatch)
	case c.MaxAttempts < 1:
		return fmt.Errorf("invoiceid: max attempts %d: want at least 1", c.MaxAttempts)
	case c.ReserveTimeout < 0:
		return fmt.Errorf("invoiceid: reserve timeout %s is negative", c.ReserveTimeout)
	}
	return nil
}

// Allocator hands out invoiceIds from the global sequence. It is safe for concurrent
// use; concurrent calls share one compare-and-set. Each replica has one Allocator.
type Allocator struct {
	cfg Config
	js  jetstream.JetStream

	mu       sync.Mutex
	queue    []*waiter
	draining bool

	// Touched only by the single draining goroutine.
	kv      jetstream.KeyValue
	last    uint64 // last sequence number seen in the bucket
	rev     uint64 // its revision; 0 when unknown
	randSrc *rand.Rand
}

type waiter struct {
	taken     bool // in a batch being reserved: it will get a result
	cancelled bool // gave up before being taken
	done      chan result
}

type result struct {
	id  string
	err error
}

// New returns an allocator on js. It does not touch NATS: the bucket is opened on first
// use, so a replica can start while NATS is down or before the worker made the bucket.
func New(js jetstream.JetStream, cfg Config) (*Allocator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Allocator{cfg: cfg, js: js, randSrc: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}, nil
}

// Ready opens the sequence bucket; for readiness checks. A bucket not made yet is an
// ErrUnavailable that says `worker streams` makes it.
func (a *Allocator) Ready(ctx context.Context) error {
	_, err := a.bucket(ctx)
	return err
}

// bucket opens the sequence bucket (it changes nothing of its configuration).
func (a *Allocator) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := a.js.KeyValue(ctx, a.cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: bucket %s not created yet: `worker streams` creates it", ErrUnavailable, a.cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrUnavailable, a.cfg.Bucket, err)
	}
	return kv, nil
}

// Next returns a new invoiceId. Once its request is part of a reservation in flight it
// waits for that reservation (at most ReserveTimeout) even if ctx ends, so that no
// reserved number is dropped. Errors: ctx's error, ErrUnavailable, ErrContention,
// ErrExhausted, ErrCorrupt.
func (a *Allocator) Next(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	w := &waiter{done: make(chan result, 1)}
	a.mu.Lock()
	a.queue = append(a.queue, w)
	if !a.draining {
		a.draining = true
		go a.drain()
	}
	a.mu.Unlock()
	select {
	case r := <-w.done:
		return r.id, r.err
	case <-ctx.Done():
	}
	a.mu.Lock()
	if !w.taken {
		w.cancelled = true
		a.mu.Unlock()
		return "", ctx.Err()
	}
	a.mu.Unlock()
	r := <-w.done
	return r.id, r.err
}

// drain serves the queue batch by batch until it is empty.
func (a *Allocator) drain() {
	for {
		batch := a.take()
		if batch == nil {
			return
		}
		a.serve(batch)
	}
}

// take removes up to MaxBatch live waiters from the queue and marks them taken; it
// ends the drain (returns nil) when none is left.
func (a *Allocator) take() []*waiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	var batch []*waiter
	i := 0
	for ; i < len(a.queue) && len(batch) < a.cfg.MaxBatch; i++ {
		w := a.queue[i]
		if w.cancelled {
			continue
		}
		w.taken = true
		batch = append(batch, w)
	}
	a.queue = append(a.queue[:0], a.queue[i:]...)
	if len(batch) == 0 && len(a.queue) == 0 {
		a.draining = false
		return nil
	}
	return batch
}

func (a *Allocator) serve(batch []*waiter) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ReserveTimeout)
	first, err := a.reserve(ctx, uint64(len(batch)))
	cancel()
	for i, w := range batch {
		if err != nil {
			w.done <- result{err: err}
			continue
		}
		id, ferr := a.cfg.Scheme.Format(first + uint64(i))
		w.done <- result{id: id, err: ferr}
	}
}

// reserve moves the sequence on by n with compare-and-set and returns the first
// number of the reserved range.
func (a *Allocator) reserve(ctx context.Context, n uint64) (uint64, error) {
	for attempt := 0; attempt < a.cfg.MaxAttempts; attempt++ {
		if attempt > 0 {
			if err := a.pause(ctx, attempt); err != nil {
				return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		if a.rev == 0 {
			if err := a.load(ctx); err != nil {
				if errors.Is(err, jetstream.ErrKeyExists) {
					continue // another replica created the key first
				}
				return 0, err
			}
		}
		next := a.last + n
		if next > a.cfg.Scheme.MaxSeq() || next < a.last {
			return 0, fmt.Errorf("%w: %d numbers left", ErrExhausted, a.cfg.Scheme.MaxSeq()-a.last)
		}
		rev, err := a.kv.Update(ctx, seqKey, []byte(strconv.FormatUint(next, 10)), a.rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			a.rev = 0
			continue
		}
		if err != nil {
			a.rev = 0
			return 0, fmt.Errorf("%w: update: %w", ErrUnavailable, err)
		}
		first := a.last + 1
		a.last, a.rev = next, rev
		return first, nil
	}
	return 0, fmt.Errorf("%w: %d attempts", ErrContention, a.cfg.MaxAttempts)
}

// load reads the sequence, creating the key when missing.
func (a *Allocator) load(ctx context.Context) error {
	if a.kv == nil {
		kv, err := a.bucket(ctx)
		if err != nil {
			return err
		}
		a.kv = kv
	}
	e, err := a.kv.Get(ctx, seqKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		rev, cerr := a.kv.Create(ctx, seqKey, []byte("0"))
		if cerr != nil {
			if errors.Is(cerr, jetstream.ErrKeyExists) {
				return cerr
			}
			return fmt.Errorf("%w: create: %w", ErrUnavailable, cerr)
		}
		a.last, a.rev = 0, rev
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: get: %w", ErrUnavailable, err)
	}
	last, perr := strconv.ParseUint(string(e.Value()), 10, 64)
	if perr != nil {
		return fmt.Errorf("%w: %q", ErrCorrupt, truncate(e.Value()))
	}
	a.last, a.rev = last, e.Revision()
	return nil
}

// pause backs off after a lost compare-and-set: a few hundred microseconds growing with
// the attempt, jittered so that replicas stop colliding.
func (a *Allocator) pause(ctx context.Context, attempt int) error {
	d := time.Duration(a.randSrc.Int64N(int64(200*time.Microsecond) * int64(min(attempt, 20))))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "…"
	}
	return string(b)
}
