package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// sample refreshes the gauges that come from NATS: each shard's consumer lag and the
// DLQ's size. A failed sample leaves the last value (and is logged at debug).
func (w *service) sample(ctx context.Context, sub *jspubsub.Subscriber) {
	tick := time.NewTicker(w.cfg.SampleEvery)
	defer tick.Stop()
	for {
		w.sampleOnce(ctx, sub)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *service) sampleOnce(ctx context.Context, sub *jspubsub.Subscriber) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if sub != nil {
		for topic, cons := range sub.Consumers() {
			shard, err := shardOfTopic(topic)
			if err != nil {
				continue
			}
			if o := w.owner.Load(); o != nil && !o.owns(shard) { // another worker's now: its lag is its owner's to say
				continue
			}
			info, err := cons.Info(ctx)
			if err != nil {
				w.log.Debug("sample consumer", "shard", shard, "err", err)
				continue
			}
			lag := float64(info.NumPending) + float64(info.NumAckPending)
			w.metrics.ConsumerPending.WithLabelValues(strconv.Itoa(shard)).Set(lag)
		}
	}
	if st, err := w.js.Stream(ctx, natsbus.StreamDLQ); err == nil {
		if info, err := st.Info(ctx); err == nil {
			w.metrics.DLQMessages.Set(float64(info.State.Msgs))
		}
	}
}
