package bolt

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// committer runs the Apply calls of the moment in one write transaction: while one
// transaction commits (its fsyncs), the calls that arrive queue up, and the next
// transaction takes all of them. Unlike bbolt's DB.Batch, which closes a batch a fixed
// delay after its first call, it never waits on an idle store and never commits a
// small batch while a big one could form: a profile of the worker showed DB.Batch's
// 2 ms windows cutting a steady stream into batches of ~16 that queued behind each
// other's fsyncs (a few thousand messages/s where bbolt takes tens of thousands).
//
// A transaction is bounded in time too: once its calls have run for budget, the rest
// wait for the next one. Every call's caller waits for the whole transaction, and a
// drain on two busy cores showed transactions of 2,700 calls running 0.6 s before their
// fsync: the longest pause between two messages handled (bench/NOTES.md, session 9).
type committer struct {
	db     *bbolt.DB
	max    int           // calls per transaction at most
	delay  time.Duration // extra wait for more calls when fewer than max are queued
	budget time.Duration // how long a transaction's calls may run; 0: no bound
	reqs   chan call
	quit   chan struct{}
	done   chan struct{}
	stop   sync.Once
}

type call struct {
	fn  func(*bbolt.Tx) error
	err chan error
}

// errTrySolo tells a caller whose function failed inside a shared transaction (which
// was rolled back) to run it in one of its own, as DB.Batch does.
var errTrySolo = errors.New("bolt: run the call alone")

// errClosed is returned by calls made after Close.
var errClosed = errors.New("bolt: store closed")

func newCommitter(db *bbolt.DB, max int, delay, budget time.Duration) *committer {
	c := &committer{db: db, max: max, delay: delay, budget: budget, reqs: make(chan call, max), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// do runs fn in a shared write transaction and returns once that transaction is
// durable. fn may run more than once (after a rollback), so it must only assign.
func (c *committer) do(fn func(*bbolt.Tx) error) error {
	select {
	case <-c.quit: // a send could still win the select below: the queue has room
		return errClosed
	default:
	}
	cl := call{fn: fn, err: make(chan error, 1)}
	select {
	case c.reqs <- cl:
	case <-c.quit:
		return errClosed
	}
	var err error
	select {
	case err = <-cl.err:
	case <-c.done: // closed after run drained the queue: a call that slipped in after it is refused
		select {
		case err = <-cl.err:
		default:
			return errClosed
		}
	}
	if err == errTrySolo {
		err = c.db.Update(fn)
	}
	return err
}

// close stops the committer once the calls it took are answered. It may be called again.
func (c *committer) close() {
	c.stop.Do(func() { close(c.quit) })
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	calls := make([]call, 0, c.max)
	for {
		if len(calls) == 0 { // else calls the last transaction left: they go first
			select {
			case first := <-c.reqs:
				calls = append(calls, first)
			case <-c.quit:
				c.refuseQueued()
				return
			}
		}
		rest := c.commit(c.collect(calls))
		calls = calls[:copy(calls[:cap(calls)], rest)]
	}
}

// collect adds the calls already queued, and with a delay those that come within it.
func (c *committer) collect(calls []call) []call {
	var timeout <-chan time.Time
	if c.delay > 0 {
		t := time.NewTimer(c.delay)
		defer t.Stop()
		timeout = t.C
	}
	for len(calls) < c.max {
		select {
		case cl := <-c.reqs:
			calls = append(calls, cl)
			continue
		default:
		}
		if timeout == nil {
			return calls
		}
		select {
		case cl := <-c.reqs:
			calls = append(calls, cl)
		case <-timeout:
			return calls
		}
	}
	return calls
}

// budgetEvery is how many calls run between two looks at the clock.
const budgetEvery = 16

// commit runs calls in one transaction, and returns those it left for the next one when
// the transaction ran out of its time budget. A call that fails is taken out and told
// to run alone; the transaction is retried with the others (DB.Batch's contract).
func (c *committer) commit(calls []call) (rest []call) {
	for len(calls) > 0 {
		failed, ran := -1, 0
		err := c.db.Update(func(tx *bbolt.Tx) error {
			start := time.Now()
			for i, cl := range calls {
				if c.budget > 0 && i > 0 && i%budgetEvery == 0 && time.Since(start) >= c.budget {
					break
				}
				if err := safelyCall(cl.fn, tx); err != nil {
					failed = i
					return err
				}
				ran = i + 1
			}
			return nil
		})
		if failed >= 0 {
			calls[failed].err <- errTrySolo
			calls = slices.Delete(calls, failed, failed+1)
			continue
		}
		if err != nil {
			ran = len(calls) // the error is every call's: none runs again
		}
		for _, cl := range calls[:ran] {
			cl.err <- err
		}
		return calls[ran:]
	}
	return nil
}

// refuseQueued answers the calls still queued at close.
func (c *committer) refuseQueued() {
	for {
		select {
		case cl := <-c.reqs:
			cl.err <- errClosed
		default:
			return
		}
	}
}

func safelyCall(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: apply panicked: %v", p)
		}
	}()
	return fn(tx)
}
