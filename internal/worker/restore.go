package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// eventsWait bounds how long a message waits for its events' PubAcks before it is
// nacked; it comes again and waits again, its change kept.
const eventsWait = 10 * time.Second

func (w *service) changelog() *changelog { return &changelog{js: w.js, shards: w.cfg.Shards} }

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
// invoice another worker already recorded keeps that record, which is adopted.
func (w *service) recordUnrecorded(ctx context.Context) error {
	cl := w.changelog()
	n := 0
	err := w.store.Unrecorded(func(inv invoice.Invoice) error {
		seq, err := cl.write(ctx, bolt.Record{Invoice: inv, At: inv.UpdatedAt}, 0)
		if errors.Is(err, errFenced) {
			rec, ok, err := cl.last(ctx, inv.InvoiceID)
			if err != nil || !ok {
				return err
			}
			_, err = w.store.Adopt([]bolt.Adopted{rec}, time.Now().UTC())
			return err
		}
		if err != nil {
			return err
		}
		n++
		return w.store.Recorded(inv.InvoiceID, seq)
	})
	if n > 0 {
		w.log.Info("invoices from before the changelog recorded", "invoices", n)
	}
	return err
}
