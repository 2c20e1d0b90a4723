package worker

import (
	"context"
	"time"
)

// pruneBatch is how many invoices one prune transaction looks at: short enough not to
// hold up the commits it shares the writer with.
const pruneBatch = 500

// prune drops the history bodies of closed invoices older than the retention, a sweep
// of the whole store every interval (the first at once).
func (w *service) prune(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.pruneOnce(ctx, time.Now().Add(-w.cfg.Retention))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce sweeps the store once, a batch a transaction.
func (w *service) pruneOnce(ctx context.Context, cutoff time.Time) {
	bodies, invoices := 0, 0
	for after := ""; ctx.Err() == nil; {
		p, err := w.store.Prune(cutoff, after, pruneBatch)
		if err != nil {
			w.log.Warn("retention: pruning history bodies failed; next sweep in an hour", "err", err)
			return
		}
		w.metrics.PrunedBodies.Add(float64(p.Bodies))
		w.metrics.PrunedBytes.Add(float64(p.Bytes))
		bodies, invoices = bodies+p.Bodies, invoices+p.Invoices
		if after = p.Next; after == "" {
			break
		}
	}
	w.log.Info("retention: history bodies pruned", "bodies", bodies, "invoices_seen", invoices, "cutoff", cutoff)
}
