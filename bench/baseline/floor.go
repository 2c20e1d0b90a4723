package baseline

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
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
	// StateSubject, when set, switches the changelog on: before its bbolt write, each
	// message publishes a record of StateSize bytes on StateSubject(i) (a subject of
	// EPAY_STATE) with the fence header (Nats-Expected-Last-Subject-Sequence) and waits
	// for its PubAck, as the worker's shard-restore mechanism does for every change.
	StateSubject func(i int64) string
	StateSize    int
}

// Floor drains cfg.Stream the least way a worker fed by JetStream can: one durable pull
// consumer hands each message to a goroutine (at most cfg.Goroutines at once), which
// writes the message's records in a DB.Batch call (fsync on, as BoltBatch), publishes
// its events asynchronously, waits for their PubAcks and acks the message. Nothing is
// decoded, verified or looked up, and nothing is written to a changelog unless
// cfg.StateSubject is set. What it measures is the most any worker reconciling this
// inbox into bbolt, with its events published (and its changes recorded), could do on
// this machine: BoltBatch's writes plus the broker's part.
//
// With the changelog on, each record goes on a subject of its own, fenced at 0 (none
// before it): the broker checks the fence but never replaces an invoice's earlier
// record, as the worker's records do. It is spared that, and the records' signature.
//
// The time runs from the first message received to the last message acked, the count
// is every message of the stream.
func Floor(ctx context.Context, cfg FloorConfig) (BoltResult, error) {
	if cfg.Messages <= 0 || cfg.Goroutines <= 0 {
		return BoltResult{}, errors.New("floor: Messages and Goroutines must be positive")
	}
	w, err := openBatchWriter(cfg.Path, cfg.Records, cfg.MaxBatchSize, cfg.MaxBatchDelay)
	if err != nil {
		return BoltResult{}, err
	}
	defer w.db.Close()
	cons, err := cfg.JS.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4 * cfg.Goroutines,
		AckWait: 2 * time.Minute, // no message is delivered twice: the count is of acks
	})
	if err != nil {
		return BoltResult{}, fmt.Errorf("floor: consumer: %w", err)
	}
	// A missed heartbeat (a loaded machine: CI ran this under -race) is mended by a new
	// pull, not an end of the drain; ctx bounds the wait instead.
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Goroutines), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return BoltResult{}, fmt.Errorf("floor: consume: %w", err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()

	var (
		acked    atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
		start    time.Time
	)
	fail := func(err error) { once.Do(func() { firstErr = err; it.Stop() }) } // Next returns at once
	event := make([]byte, cfg.EventSize)
	state := bytes.Repeat([]byte("x"), cfg.StateSize) // compresses to nothing: the cheapest record of its size
	slots := make(chan struct{}, cfg.Goroutines)
	for i := range int64(cfg.Messages) {
		m, err := it.Next()
		if err != nil {
			wg.Wait()
			if firstErr != nil { // fail stopped the iterator
				return BoltResult{}, fmt.Errorf("floor: %w", firstErr)
			}
			return BoltResult{}, fmt.Errorf("floor: next after %d messages: %w", i, cmp.Or(ctx.Err(), err))
		}
		if i == 0 {
			start = time.Now()
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if cfg.StateSubject != nil {
				if err := record(ctx, cfg.JS, cfg.StateSubject(i), state); err != nil {
					fail(err)
					return
				}
			}
			if err := w.write(i); err != nil {
				fail(err)
				return
			}
			for j := range share(i, cfg.EventsPerMessage) {
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
			acked.Add(1)
		})
	}
	wg.Wait()
	if n := acked.Load(); n != int64(cfg.Messages) && firstErr == nil {
		firstErr = fmt.Errorf("floor: %d of %d messages acked", n, cfg.Messages)
	}
	return BoltResult{Messages: cfg.Messages, Elapsed: time.Since(start), Commits: w.commits.Load()}, firstErr
}

// record publishes a changelog record on subject, fenced at 0, and waits for its PubAck,
// as the worker's changelog does (natsbus.PublishSync, its PubAck read in place).
func record(ctx context.Context, js jetstream.JetStream, subject string, data []byte) error {
	msg := &nats.Msg{Subject: subject, Header: nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{"0"}}, Data: data}
	if _, err := natsbus.PublishSync(ctx, js.Conn(), msg); err != nil {
		return fmt.Errorf("changelog record %s: %w", subject, err)
	}
	return nil
}
