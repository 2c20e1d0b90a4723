package baseline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// Streams and subjects of the pipeline: configured like EPAY_INBOX and PAYMENT_EVENTS
// (natsbus), under names of their own so that they can share a server with the real ones.
const (
	PipelineInbox   = "BASE_INBOX"
	PipelineEvents  = "BASE_EVENTS"
	PipelineInSubj  = "base.inbox.postlink" // the handler's subject
	PipelineEventsF = "base.events.>"
	pipelineOutSubj = "base.events.paid"
	pipelineWorkers = 512 // the worker's concurrency: 8 shards x 64 in flight
)

// PipelineStreams creates the pipeline's two streams.
func PipelineStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, s := range []struct{ like, name, subj string }{
		{natsbus.StreamInbox, PipelineInbox, "base.inbox.>"},
		{natsbus.StreamEvents, PipelineEvents, PipelineEventsF},
	} {
		sc, err := natsbus.DefaultStreamsConfig().StreamConfig(s.like)
		if err != nil {
			return err
		}
		// a smaller size bound: JetStream reserves MaxBytes of disk for every stream
		sc.Name, sc.Subjects, sc.DenyDelete, sc.DenyPurge, sc.MaxBytes = s.name, []string{s.subj}, false, false, 1<<30
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", s.name, err)
		}
	}
	return nil
}

// Pipeline serves on addr, until ctx ends, the least end-to-end path: the handler
// reads the body, publishes it to BASE_INBOX with a sync publish and answers 200; a
// consumer stores each message in bbolt (DB.Batch, fsync on), publishes it to
// BASE_EVENTS, then acks it. No decoding, no verification, no state.
func Pipeline(ctx context.Context, addr, natsURL, dbPath string, onListen func(string)) error {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := PipelineStreams(ctx, js); err != nil {
		return err
	}
	db, err := bbolt.Open(dbPath, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	db.MaxBatchSize, db.MaxBatchDelay = 512, 2*time.Millisecond
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("msgs")); return err }); err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, PipelineInbox, jetstream.ConsumerConfig{
		Durable: "base", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4 * pipelineWorkers,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pipelineWorkers), jetstream.WithMessagesErrOnMissingHeartbeat(false)) // a missed heartbeat is mended by a new pull
	if err != nil {
		return err
	}
	defer it.Stop()
	go consumePipeline(it, js, db)
	var seq atomic.Int64
	return serve(ctx, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := js.Publish(pctx, PipelineInSubj, body, jetstream.WithMsgID(strconv.FormatInt(seq.Add(1), 10))); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("OK"))
	}), onListen)
}

// consumePipeline hands each message to a goroutine (at most pipelineWorkers at once),
// as the worker's router does, so that concurrent messages share a bbolt commit.
func consumePipeline(it jetstream.MessagesContext, js jetstream.JetStream, db *bbolt.DB) {
	slots := make(chan struct{}, pipelineWorkers)
	var seq atomic.Uint64
	for {
		m, err := it.Next()
		if err != nil {
			return
		}
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			k := strconv.AppendUint(nil, seq.Add(1), 10)
			if err := db.Batch(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("msgs")).Put(k, m.Data()) }); err != nil {
				m.Nak()
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := js.Publish(ctx, pipelineOutSubj, m.Data()); err != nil {
				m.Nak()
				return
			}
			m.Ack()
		}()
	}
}
