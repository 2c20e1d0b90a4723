package baseline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bbolt "go.etcd.io/bbolt"
)

// FloorConfig is a Floor run.
type FloorConfig struct {
	JS       jetstream.JetStream
	Stream   string // the pre-loaded inbox
	Messages int    // how many messages it holds
	Path     string // the bbolt file
	// EventSubject is where the events go (a subject of the events stream); EventsPerMessage
	// and EventSize are how many a message makes on average and their size.
	EventSubject     string
	EventsPerMessage float64
	EventSize        int
	// The bbolt side, as BoltBatch's: each message one DB.Batch call putting Records.
	Goroutines    int
	Records       []Record
	MaxBatchSize  int
	MaxBatchDelay time.Duration
}

// Floor drains cfg.Stream the least way a worker fed by JetStream can: one durable pull
// consumer hands each message to a goroutine (at most cfg.Goroutines at once), which
// writes the message's records in a DB.Batch call (fsync on, as BoltBatch), publishes
// its events asynchronously, waits for their PubAcks and acks the message. Nothing is
// decoded, verified, looked up or written to a changelog. What it measures is the most
// any worker reconciling this inbox into bbolt, with its events published, could do on
// this machine: BoltBatch's writes plus the broker's part.
//
// The time runs from the first message received to the last message acked, the count
// is every message of the stream.
func Floor(ctx context.Context, cfg FloorConfig) (BoltResult, error) {
	if cfg.Messages <= 0 || cfg.Goroutines <= 0 {
		return BoltResult{}, errors.New("floor: Messages and Goroutines must be positive")
	}
	db, err := openBatchDB(cfg.Path, cfg.Records, cfg.MaxBatchSize, cfg.MaxBatchDelay)
	if err != nil {
		return BoltResult{}, err
	}
	defer db.Close()
	cons, err := cfg.JS.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4 * cfg.Goroutines,
		AckWait: 2 * time.Minute, // no message is delivered twice: the count is of acks
	})
	if err != nil {
		return BoltResult{}, fmt.Errorf("floor: consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Goroutines))
	if err != nil {
		return BoltResult{}, fmt.Errorf("floor: consume: %w", err)
	}
	defer it.Stop()

	var (
		commits  atomic.Int64
		last     atomic.Pointer[bbolt.Tx]
		next     atomic.Int64
		acked    atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) { once.Do(func() { firstErr = err; it.Stop() }) } // Next returns at once
	event := make([]byte, cfg.EventSize)
	done := make(chan struct{})
	slots := make(chan struct{}, cfg.Goroutines)
	var start time.Time
	for int(next.Load()) < cfg.Messages {
		m, err := it.Next()
		if err != nil {
			wg.Wait()
			if firstErr != nil { // fail stopped the iterator
				return BoltResult{}, fmt.Errorf("floor: %w", firstErr)
			}
			return BoltResult{}, fmt.Errorf("floor: next after %d messages: %w", next.Load(), err)
		}
		if start.IsZero() {
			start = time.Now()
		}
		i := next.Add(1) - 1
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := db.Batch(func(tx *bbolt.Tx) error {
				if last.Swap(tx) != tx {
					commits.Add(1)
				}
				return putRecords(tx, cfg.Records, i)
			}); err != nil {
				fail(err)
				return
			}
			n := int(float64(i+1)*cfg.EventsPerMessage) - int(float64(i)*cfg.EventsPerMessage)
			for j := range n {
				f, err := cfg.JS.PublishMsgAsync(&nats.Msg{Subject: cfg.EventSubject, Data: event},
					jetstream.WithMsgID("floor-"+strconv.FormatInt(i, 10)+"-"+strconv.Itoa(j)))
				if err != nil {
					fail(err)
					return
				}
				select {
				case <-f.Ok():
				case err := <-f.Err():
					fail(err)
					return
				case <-ctx.Done():
					fail(ctx.Err())
					return
				}
			}
			if err := m.Ack(); err != nil {
				fail(err)
				return
			}
			if acked.Add(1) == int64(cfg.Messages) {
				close(done)
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	default:
		if firstErr == nil {
			firstErr = fmt.Errorf("floor: %d of %d messages acked", acked.Load(), cfg.Messages)
		}
	}
	return BoltResult{Messages: cfg.Messages, Elapsed: time.Since(start), Commits: commits.Load()}, firstErr
}

// openBatchDB opens the bbolt file at path (fsync on) with DB.Batch's bounds, and makes
// the buckets recs go into.
func openBatchDB(path string, recs []Record, maxBatch int, delay time.Duration) (*bbolt.DB, error) {
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
	return db, nil
}
