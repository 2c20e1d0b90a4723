package baseline

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Record is one kind of record a message writes: into which bucket, how many per
// message on average, and their average key and value sizes.
type Record struct {
	Bucket     string
	PerMessage float64
	KeySize    int
	ValueSize  int
}

// BoltConfig is a BoltBatch run.
type BoltConfig struct {
	Path          string
	Goroutines    int // concurrent callers of DB.Batch
	Messages      int // total Batch calls
	Records       []Record
	MaxBatchSize  int
	MaxBatchDelay time.Duration
}

// BoltResult is what BoltBatch measured.
type BoltResult struct {
	Messages int
	Elapsed  time.Duration
	Commits  int64
}

// Rate is messages per second.
func (r BoltResult) Rate() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// BoltBatch writes cfg.Messages messages, each one DB.Batch call putting the records
// of cfg.Records, from cfg.Goroutines goroutines, fsync on (bbolt's default): the most
// a worker could reconcile with bbolt on this disk if applying cost nothing.
func BoltBatch(cfg BoltConfig) (BoltResult, error) {
	w, err := openBatchWriter(cfg.Path, cfg.Records, cfg.MaxBatchSize, cfg.MaxBatchDelay)
	if err != nil {
		return BoltResult{}, err
	}
	defer w.db.Close()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Goroutines {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Messages) {
					return
				}
				if err := w.write(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return BoltResult{Messages: cfg.Messages, Elapsed: time.Since(start), Commits: w.commits.Load()}, firstErr
}

// batchWriter writes each message's records in a DB.Batch call and counts the
// transactions they shared.
type batchWriter struct {
	db      *bbolt.DB
	recs    []Record
	commits atomic.Int64
	last    atomic.Pointer[bbolt.Tx]
}

// openBatchWriter opens the bbolt file at path (fsync on) with DB.Batch's bounds, and
// makes the buckets recs go into.
func openBatchWriter(path string, recs []Record, maxBatch int, delay time.Duration) (*batchWriter, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	db.MaxBatchSize, db.MaxBatchDelay = maxBatch, delay
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, r := range recs {
			if _, err := tx.CreateBucketIfNotExists([]byte(r.Bucket)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &batchWriter{db: db, recs: recs}, nil
}

// write puts message i's records in a DB.Batch call.
func (w *batchWriter) write(i int64) error {
	return w.db.Batch(func(tx *bbolt.Tx) error {
		if w.last.Swap(tx) != tx {
			w.commits.Add(1)
		}
		return putRecords(tx, w.recs, i)
	})
}

// share is message i's share of something made p times a message on average:
// floor((i+1)p) - floor(ip), so that n messages make floor(np) in all.
func share(i int64, p float64) int { return int(float64(i+1)*p) - int(float64(i)*p) }

// putRecords writes message i's share of each record kind.
func putRecords(tx *bbolt.Tx, recs []Record, i int64) error {
	for _, r := range recs {
		b := tx.Bucket([]byte(r.Bucket))
		for j := range share(i, r.PerMessage) {
			if err := b.Put(key(i, j, r.KeySize), make([]byte, r.ValueSize)); err != nil {
				return fmt.Errorf("put %s: %w", r.Bucket, err)
			}
		}
	}
	return nil
}

// key is a unique key of the given size that sorts like the worker's (invoice id first).
func key(i int64, j, size int) []byte {
	k := fmt.Appendf(nil, "%012d", i)
	k = binary.BigEndian.AppendUint32(k, uint32(j))
	for len(k) < size {
		k = append(k, '.')
	}
	return k
}
