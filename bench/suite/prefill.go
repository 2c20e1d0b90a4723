package suite

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// prefill puts n paid invoices into a new store at path the way the worker writes them:
// each invoice's invoice.created then its verified success callback (a signed body of
// its own), each message through Prepare and Commit (with a changelog sequence, as if
// EPAY_STATE had taken the record) from the worker's number of goroutines, so that the
// store's group commit cuts the same small transactions as in a drain; and, as in the
// worker, a message is done once a relay deleted its outbox entries (in transactions of
// its own, up to 256 entries each), so the outbox stays as small as the worker's. Only
// fsync is off: the file's layout is the worker's, which is what the storage figures
// measure. The file is fsynced once at the end (see syncFile).
func prefill(path string, n int, base int64, keys *epay.Keyring) error {
	if err := fill(path, n, base, keys, fillShape{NoSync: true, Goroutines: workerGoroutines}); err != nil {
		return err
	}
	return syncFile(path)
}

// syncFile waits until the file's pages are on the disk. Filled with fsync off, a 1M-invoice
// store leaves gigabytes of dirty pages, and the worker started on it right after would
// share the disk with the kernel writing them back: the set-up's cost, paid here rather
// than in the measured drain. (A suspect for issue 17's 32 s stalls, not confirmed: see
// bench/NOTES.md, "Drain stalls".)
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fillShape is how fill cuts its transactions: Goroutines apply at once (the store's
// group commit takes what they have ready), each commit fsynced unless NoSync;
// OnCommit, when set, hears of each.
type fillShape struct {
	NoSync     bool
	Goroutines int
	OnCommit   func(time.Duration)
}

// fill is prefill without its last fsync, in transactions of shape.
func fill(path string, n int, base int64, keys *epay.Keyring, shape fillShape) error {
	st, err := bolt.Open(path, bolt.Options{NoSync: shape.NoSync, MaxBatchSize: workerGoroutines, OnCommit: shape.OnCommit})
	if err != nil {
		return err
	}
	defer st.Close()
	rel := &prefillRelay{st: st, queue: make(chan published, workerGoroutines)}
	relayed := make(chan error, 1)
	go func() { relayed <- rel.run() }()

	next := make(chan int64)
	errs := make(chan error, workerGoroutines)
	var seq atomic.Uint64
	var wg sync.WaitGroup
	for range shape.Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := paidInvoice(st, rel, load.InvoiceID(base+i), keys, &seq); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var fillErr error
feed:
	for i := range int64(n) {
		select {
		case next <- i:
		case fillErr = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(rel.queue)
	if err := <-relayed; fillErr == nil {
		fillErr = err
	}
	if fillErr == nil {
		select {
		case fillErr = <-errs:
		default:
		}
	}
	if fillErr == nil {
		// every invoice was committed with its record, as a worker's would be; a worker
		// notes that when it starts on an empty file, and keeps the note while every
		// commit has its record (bolt.Store.SetAllRecorded)
		fillErr = st.SetAllRecorded()
	}
	return fillErr
}

// paidInvoice applies the invoice.created and the verified success of invoice id.
func paidInvoice(st *bolt.Store, rel *prefillRelay, id string, keys *epay.Keyring, seq *atomic.Uint64) error {
	const amount = epay.Amount(12_345_00)
	now := time.Now().UTC()
	created := invoice.CreatedMessage(inbox.CreatedMsgID(id), invoice.Created{
		InvoiceID: id, Kind: invoice.KindPayment, Amount: amount, Currency: "KZT", Terminal: epaytest.TestTerminal, CreatedAt: now,
	}, now)
	_, body := epaytest.SignedCallback(epaytest.TriggerOptions{InvoiceID: id, Amount: amount, Keys: keys}, 0)
	cb, err := epay.DecodeCallback(body)
	if err != nil {
		return err
	}
	paid := invoice.CallbackMessage(inbox.CallbackMsgID(id, cb.ID, cb.Code), cb, true, now)
	for _, m := range []invoice.Message{created, paid} {
		ch, err := st.Prepare(m, now)
		if err != nil {
			return fmt.Errorf("invoice %s: %w", id, err)
		}
		if ch.Result.Outcome != bolt.Applied {
			return fmt.Errorf("invoice %s: message %s was %s", id, m.ID, ch.Result.Outcome)
		}
		last, err := st.Commit(ch, seq.Add(1))
		if err != nil {
			return fmt.Errorf("invoice %s: %w", id, err)
		}
		if err := rel.publish(last); err != nil {
			return err
		}
	}
	return nil
}

// prefillRelay deletes outbox entries as the worker's relay does once they are
// published: whatever is queued, up to 256 entries, in one transaction.
type prefillRelay struct {
	st    *bolt.Store
	queue chan published
}

type published struct {
	seq  uint64
	done chan error
}

// publish returns once the outbox entries up to last are deleted (0: none).
func (r *prefillRelay) publish(last uint64) error {
	if last == 0 {
		return nil
	}
	p := published{seq: last, done: make(chan error, 1)}
	r.queue <- p
	return <-p.done
}

func (r *prefillRelay) run() error {
	var failed error
	for p := range r.queue {
		batch := []published{p}
	more:
		for len(batch) < 256 {
			select {
			case q, ok := <-r.queue:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		entries, err := r.st.Outbox(256)
		if err == nil {
			seqs := make([]uint64, len(entries))
			for i, e := range entries {
				seqs[i] = e.Seq
			}
			err = r.st.DeleteOutbox(seqs...)
		}
		for _, q := range batch {
			q.done <- err
		}
		if err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return failed
	}
	return drainOutbox(r.st)
}

// drainOutbox empties the outbox the prefill filled: those events were published long ago.
func drainOutbox(st *bolt.Store) error {
	for {
		entries, err := st.Outbox(10_000)
		if err != nil || len(entries) == 0 {
			return err
		}
		seqs := make([]uint64, len(entries))
		for i, e := range entries {
			seqs[i] = e.Seq
		}
		if err := st.DeleteOutbox(seqs...); err != nil {
			return err
		}
	}
}
