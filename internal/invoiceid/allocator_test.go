package invoiceid

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// mustJetStream opens a connection of its own, the way a separate replica would.
func mustJetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// mustAllocator makes the sequence bucket as the worker does (the allocator only binds
// to it) and an allocator on it.
func mustAllocator(t *testing.T, js jetstream.JetStream, cfg Config) *Allocator {
	t.Helper()
	bucket := cfg.Bucket
	if bucket == "" {
		bucket = DefaultBucket
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("the sequence bucket: %v", err)
	}
	a, err := New(js, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// allocate runs workers goroutines on each allocator, each taking n ids, and returns
// every id. Any error fails the test.
func allocate(t *testing.T, allocs []*Allocator, workers, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for _, a := range allocs {
		for range workers {
			wg.Go(func() {
				for range n {
					id, err := a.Next(ctx)
					if err != nil {
						t.Errorf("Next: %v", err)
						return
					}
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return ids
}

// checkIDs asserts the properties ePay needs: valid, unique, and the sequence numbers
// behind them form one gapless range (so the last 6 digits repeat only after 1,000,000
// other ids). It returns the highest sequence number.
func checkIDs(t *testing.T, s Scheme, ids []string, from uint64) uint64 {
	t.Helper()
	seen := make(map[string]bool, len(ids))
	suffixes := make(map[string]string, len(ids))
	var hi uint64
	for _, id := range ids {
		if err := epay.ValidateInvoiceID(id); err != nil {
			t.Fatalf("invalid id %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("id %q allocated twice", id)
		}
		seen[id] = true
		if other, dup := suffixes[id[len(id)-6:]]; dup {
			t.Fatalf("ids %q and %q share their last 6 digits within %d ids", other, id, len(ids))
		}
		suffixes[id[len(id)-6:]] = id
		seq, err := strconv.ParseUint(id[len(s.Prefix):], 10, 64)
		if err != nil || id[:len(s.Prefix)] != s.Prefix {
			t.Fatalf("id %q is not prefix %q + sequence", id, s.Prefix)
		}
		hi = max(hi, seq)
	}
	for seq := from; seq <= hi; seq++ {
		if id, _ := s.Format(seq); !seen[id] {
			t.Fatalf("sequence number %d (%s) was skipped: a gap shrinks the last-6-digits window", seq, id)
		}
	}
	if want := uint64(len(ids)); hi-from+1 != want {
		t.Fatalf("ids cover %d..%d, want %d numbers", from, hi, want)
	}
	return hi
}

func TestAllocatorsOnSeparateConnectionsNeverRepeatOrSkip(t *testing.T) {
	srv := natstest.Start(t)
	var allocs []*Allocator
	for range 4 {
		allocs = append(allocs, mustAllocator(t, mustJetStream(t, srv.URL()), Config{}))
	}
	ids := allocate(t, allocs, 8, 60)
	if len(ids) != 4*8*60 {
		t.Fatalf("got %d ids, want %d", len(ids), 4*8*60)
	}
	hi := checkIDs(t, DefaultScheme(), ids, 1)

	// Replicas restart (new allocators, new connections) and NATS restarts too.
	srv.Restart()
	allocs = allocs[:0]
	for range 3 {
		allocs = append(allocs, mustAllocator(t, mustJetStream(t, srv.URL()), Config{}))
	}
	more := allocate(t, allocs, 4, 30)
	checkIDs(t, DefaultScheme(), more, hi+1)
	checkIDs(t, DefaultScheme(), append(ids, more...), 1)
}

func TestAllocatorKeepsTheLastSixDigitsUniqueAcrossTheMillionBoundary(t *testing.T) {
	srv := natstest.Start(t)
	js := mustJetStream(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	const start = 2_999_000 // 1000 ids below a wrap of the last 6 digits
	if _, err := kv.Put(ctx, seqKey, []byte(strconv.Itoa(start))); err != nil {
		t.Fatal(err)
	}
	allocs := []*Allocator{mustAllocator(t, js, Config{}), mustAllocator(t, mustJetStream(t, srv.URL()), Config{})}
	ids := allocate(t, allocs, 4, 300)
	hi := checkIDs(t, DefaultScheme(), ids, start+1)
	if hi <= 3_000_000 {
		t.Fatalf("ids stopped at %d, the test wants them past the wrap at 3,000,000", hi)
	}
}

func TestAllocatorCallerThatGivesUpLeavesNoGap(t *testing.T) {
	srv := natstest.Start(t)
	a := mustAllocator(t, mustJetStream(t, srv.URL()), Config{})
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			timeout := 10 * time.Second
			if i%3 == 0 {
				timeout = time.Duration(i%7) * 100 * time.Microsecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			id, err := a.Next(ctx)
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Next: %v", err)
				}
				return
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(ids) < 100 {
		t.Fatalf("only %d of 200 callers got an id", len(ids))
	}
	checkIDs(t, DefaultScheme(), ids, 1)
}

func TestAllocatorReportsNATSDownAndRecovers(t *testing.T) {
	srv := natstest.Start(t)
	a := mustAllocator(t, mustJetStream(t, srv.URL()), Config{ReserveTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := a.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := a.Next(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Next with NATS down: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, err := a.Next(ctx)
		if err == nil {
			if id <= first {
				t.Fatalf("after the restart got %s, not above %s", id, first)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no id within 10s of NATS coming back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAllocatorRefusesACorruptSequence(t *testing.T) {
	srv := natstest.Start(t)
	js := mustJetStream(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, seqKey, []byte("not a number")); err != nil {
		t.Fatal(err)
	}
	if _, err := mustAllocator(t, js, Config{}).Next(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Next = %v, want ErrCorrupt", err)
	}
}

func TestAllocatorReportsExhaustion(t *testing.T) {
	srv := natstest.Start(t)
	js := mustJetStream(t, srv.URL())
	a := mustAllocator(t, js, Config{Scheme: Scheme{Prefix: "9", Width: 6}, Bucket: "SEQ_SMALL"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "SEQ_SMALL", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, seqKey, []byte("999998")); err != nil {
		t.Fatal(err)
	}
	if id, err := a.Next(ctx); err != nil || id != "9999999" {
		t.Fatalf("last id = %q, %v; want 9999999", id, err)
	}
	if _, err := a.Next(ctx); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Next past the end = %v, want ErrExhausted", err)
	}
}
