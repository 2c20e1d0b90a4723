package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

func TestAFailingCallRunsAloneAndTheOthersCommit(t *testing.T) {
	s := openTest(t, Options{})
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.group.do(func(tx *bbolt.Tx) error {
				if err := tx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
					return err
				}
				if i == 7 {
					return boom
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := error(nil); i == 7 && !errors.Is(err, boom) || i != 7 && err != want {
			t.Errorf("call %d: %v", i, err)
		}
	}
	s.db.View(func(tx *bbolt.Tx) error {
		for i := range errs {
			if got := tx.Bucket(bucketMeta).Get(fmt.Appendf(nil, "k%d", i)); (got != nil) != (i != 7) {
				t.Errorf("key %d stored: %v", i, got != nil)
			}
		}
		return nil
	})
}

func TestApplyAfterCloseFails(t *testing.T) {
	s := openTest(t, Options{})
	s.Close()
	if _, err := s.Apply(createdMsg("000000000042"), t0); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
}

// TestATransactionRunsItsCallsForItsBudgetAtMost queues 64 calls of 5 ms each behind a
// transaction: with a 30 ms budget, no transaction runs more than one look at the clock
// (budgetEvery calls) of them; with the default (200 ms), more than one look and fewer
// than all (the third look sees 240 ms and more); every call runs once and commits, the
// first ones first; without a budget, one transaction takes them all.
func TestATransactionRunsItsCallsForItsBudgetAtMost(t *testing.T) {
	for _, tc := range []struct {
		budget      time.Duration
		least, most int // the largest transaction's calls
	}{{30 * time.Millisecond, budgetEvery, budgetEvery}, {0, budgetEvery + 1, 63}, {-1, 64, 64}} {
		t.Run(fmt.Sprint(tc.budget), func(t *testing.T) {
			s := openTest(t, Options{MaxBatchSize: 128, MaxBatchTime: tc.budget})
			gate, holding := make(chan struct{}), make(chan struct{})
			blocked := make(chan error, 1)
			go func() {
				blocked <- s.group.do(func(*bbolt.Tx) error { close(holding); <-gate; return nil })
			}()
			<-holding // the committer is in a transaction: what comes now queues
			var mu sync.Mutex
			perTx := map[*bbolt.Tx]int{}
			var order []int
			runs := make([]int, 64)
			errs := make([]error, 64)
			var wg sync.WaitGroup
			for i := range runs {
				wg.Go(func() {
					errs[i] = s.group.do(func(tx *bbolt.Tx) error {
						mu.Lock()
						perTx[tx]++
						runs[i]++
						order = append(order, i)
						mu.Unlock()
						time.Sleep(5 * time.Millisecond)
						return tx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
					})
				})
				// queued one by one, so that the order they were queued in is i's
				deadline := time.Now().Add(5 * time.Second)
				for len(s.group.reqs) < i+1 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			close(gate)
			wg.Wait()
			if err := <-blocked; err != nil {
				t.Fatal(err)
			}
			most := 0
			for _, n := range perTx {
				most = max(most, n)
			}
			if most < tc.least || most > tc.most {
				t.Errorf("the largest transaction ran %d calls, want %d to %d (%d transactions)", most, tc.least, tc.most, len(perTx))
			}
			for i := range runs {
				if runs[i] != 1 || errs[i] != nil || order[i] != i {
					t.Fatalf("call %d: ran %d times, error %v; order %v", i, runs[i], errs[i], order)
				}
			}
			s.db.View(func(tx *bbolt.Tx) error {
				for i := range runs {
					if tx.Bucket(bucketMeta).Get(fmt.Appendf(nil, "k%d", i)) == nil {
						t.Errorf("key %d not stored", i)
					}
				}
				return nil
			})
		})
	}
}

// TestCloseAnswersTheCallsAPartTransactionLeft closes the store while a transaction that
// ran out of its budget left calls for the next one: those are committed before the
// committer stops (it took them), the calls still queued are refused, and every call
// that was answered nil is in the file.
func TestCloseAnswersTheCallsAPartTransactionLeft(t *testing.T) {
	path := filepath.Join(t.TempDir(), "close.db")
	s, err := Open(path, Options{MaxBatchSize: 128, MaxBatchTime: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	gate, holding := make(chan struct{}), make(chan struct{})
	go s.group.do(func(*bbolt.Tx) error { close(holding); <-gate; return nil })
	<-holding
	errs := make([]error, 64)
	firstRan := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.group.do(func(tx *bbolt.Tx) error {
				once.Do(func() { close(firstRan) })
				time.Sleep(2 * time.Millisecond)
				return tx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
			})
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.group.reqs) < len(errs) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	<-firstRan // the next transaction took all 64; it runs 16 (its budget) and leaves the rest
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	committed := 0
	s.db.View(func(tx *bbolt.Tx) error {
		for i, err := range errs {
			stored := tx.Bucket(bucketMeta).Get(fmt.Appendf(nil, "k%d", i)) != nil
			switch {
			case err == nil && !stored:
				t.Errorf("call %d was answered nil and is not stored", i)
			case err != nil && !errors.Is(err, errClosed):
				t.Errorf("call %d: %v", i, err)
			case err != nil && stored:
				t.Errorf("call %d was refused and is stored", i)
			}
			if err == nil {
				committed++
			}
		}
		return nil
	})
	if committed <= budgetEvery {
		t.Errorf("%d calls committed: the ones the first transaction left (it took all %d) were refused", committed, len(errs))
	}
}

// TestStatsAndUsageWhileCommitsRemapTheFile reads the store's counters and usage (the
// worker's metrics do, at every scrape) while commits grow the file, so that bbolt
// remaps it: under -race, a read of the map's address outside a transaction is reported.
func TestStatsAndUsageWhileCommitsRemapTheFile(t *testing.T) {
	s := openTest(t, Options{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.Stats(); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Usage(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	value := make([]byte, 256<<10)
	for i := range 64 { // 16 MiB: the map grows from 32 KiB by doubling, a remap each time
		if err := s.group.do(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "big%d", i), value)
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}
