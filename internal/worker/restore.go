package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// eventsWait bounds how long a message waits for its events' PubAcks before it is
// nacked; it comes again and waits again, its change kept.
const eventsWait = 10 * time.Second

func (w *service) changelog() *changelog {
	return &changelog{js: w.js, shards: w.cfg.Shards, signer: w.signer, refused: w.refusedRecord}
}

// refusedRecord tells of an EPAY_STATE record that is not adopted (changelog.decodeRecord).
func (w *service) refusedRecord(subject string, seq uint64, err error) {
	w.metrics.StateRefused.Inc()
	w.log.Error("EPAY_STATE record refused: not the workers' (check WORKER_STATUS_KEY is the same on every worker; else a forgery)",
		"subject", subject, "stream_seq", seq, "err", err)
}

// restoreShard brings the store's copy of a shard's invoices up to date from the
// changelog (EPAY_STATE) before the worker consumes the shard: every record written
// since the store last restored it, all of them for a new store (a lost disk), newer
// than what the store holds. Called once a shard's lease is held and before its
// consumer starts; retried until it succeeds or ctx ends.
func (w *service) restoreShard(ctx context.Context, shard int) error {
	backoff := 250 * time.Millisecond
	for {
		start := time.Now()
		restored, read, err := w.changelog().restore(ctx, w.store, shard, func() time.Time { return time.Now().UTC() })
		took := time.Since(start)
		if err == nil {
			w.metrics.Restores.WithLabelValues("ok").Inc()
			w.metrics.RestoreDuration.Observe(took.Seconds())
			w.metrics.RestoredRecords.Add(float64(restored))
			w.log.Info("shard restored from the changelog", "shard", shard, "records_read", read, "records_taken", restored, "took", took)
			return nil
		}
		w.metrics.Restores.WithLabelValues("error").Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, bolt.ErrCorrupt) {
			return fmt.Errorf("restore shard %d: %w", shard, err)
		}
		w.log.Warn("restore shard from the changelog; retrying", "shard", shard, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// recordUnrecorded writes a record for every invoice of the store that has none (a
// store from before the changelog), so that no invoice lives only in this file. An
// invoice another worker already recorded keeps that record, which is adopted. The
// writes are pipelined, up to a window of them in flight.
func (w *service) recordUnrecorded(ctx context.Context) error {
	cl := w.changelog()
	type inflight struct {
		id  string
		ack jetstream.PubAckFuture
	}
	const window = 1024
	var pending []inflight
	n := 0
	settle := func() error {
		recorded := make(map[string]uint64, len(pending))
		defer func() { // what was written is noted, even when a later write failed
			if err := w.store.Recorded(recorded); err != nil {
				w.log.Warn("note recorded invoices", "err", err)
			}
		}()
		for _, f := range pending {
			timeout := time.NewTimer(10 * time.Second)
			defer timeout.Stop()
			select {
			case <-timeout.C:
				return fmt.Errorf("changelog write of invoice %s: no PubAck within 10s", f.id)
			case ack := <-f.ack.Ok():
				n++
				recorded[f.id] = ack.Sequence
			case err := <-f.ack.Err():
				if !isWrongLastSequence(err) {
					return fmt.Errorf("changelog write of invoice %s: %w", f.id, err)
				}
				rec, ok, err := cl.last(ctx, f.id) // recorded by another worker first
				if err != nil || !ok {
					return err
				}
				if _, err := w.store.Adopt([]bolt.Adopted{rec}, time.Now().UTC()); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	err := w.store.Unrecorded(func(inv invoice.Invoice) error {
		msg, err := cl.msg(bolt.Record{Invoice: inv, At: inv.UpdatedAt}, 0)
		if err != nil {
			return err
		}
		f, err := w.js.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		if pending = append(pending, inflight{inv.InvoiceID, f}); len(pending) == window {
			return settle()
		}
		return nil
	})
	if err == nil {
		err = settle()
	}
	if n > 0 {
		w.log.Info("invoices from before the changelog recorded", "invoices", n)
	}
	if err == nil { // every invoice has its record: the next start reads none of them
		err = w.store.SetAllRecorded()
	}
	return err
}
