package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// sample refreshes the gauges that come from NATS: each shard's consumer lag, the DLQ's
// size and how full each bounded stream is. A failed sample leaves the last value (and is logged at debug).
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
	for _, name := range sampledStreams {
		st, err := w.js.Stream(ctx, name)
		if err != nil {
			w.log.Debug("sample stream", "stream", name, "err", err)
			continue
		}
		info := st.CachedInfo() // Stream has just read it
		if name == natsbus.StreamDLQ {
			w.metrics.DLQMessages.Set(float64(info.State.Msgs))
		}
		if info.Config.MaxBytes > 0 {
			w.metrics.StreamUsed.WithLabelValues(name).Set(float64(info.State.Bytes) / float64(info.Config.MaxBytes))
		}
	}
}

// sampledStreams are the streams whose fill sample reads (EPAY_STATE has no size bound).
var sampledStreams = []string{natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ, natsbus.StreamDLQDiscarded}
