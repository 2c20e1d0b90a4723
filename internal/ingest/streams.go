package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// streamKeeper makes sure EPAY_INBOX exists: once NATS is reachable at start, and again
// whenever a publish finds no stream (a server that lost its data, a stream deleted by
// hand). `worker streams` creates it (the ingest's NATS user may not: a role that may create a
// stream may give it a RePublish into payments.>), so the keeper only looks, retrying
// with backoff, and never gives up: the ingest never crash-loops over NATS or a worker
// not started yet; until the stream is there, callbacks get 503 and /readyz says why.
//
// It also holds the ingest to the deployment's shard count: EPAY_INBOX records the one
// the worker made it with, and an ingest configured with another would publish callbacks
// where no worker reads them. Once a look finds the counts differ, every callback gets
// 503 (cause shards_differ) and /readyz fails, until a look finds them equal.
type streamKeeper struct {
	nc     *nats.Conn
	log    *slog.Logger
	kick   chan struct{}
	shards *natsbus.InboxShards
}

func newStreamKeeper(nc *nats.Conn, js jetstream.JetStream, shards int, log *slog.Logger) *streamKeeper {
	return &streamKeeper{nc: nc, log: log, kick: make(chan struct{}, 1), shards: natsbus.NewInboxShards(js, shards)}
}

// recheck asks for the stream to be looked for again; it never blocks.
func (k *streamKeeper) recheck() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

const (
	bindTimeout = 5 * time.Second
	minBackoff  = 250 * time.Millisecond
	maxBackoff  = 5 * time.Second
)

// run looks for the stream until ctx ends.
func (k *streamKeeper) run(ctx context.Context) {
	backoff := minBackoff
	failures, bound := 0, false
	for {
		if err := k.bind(ctx); err == nil {
			level := slog.LevelDebug
			if !bound || failures > 0 {
				level = slog.LevelInfo
			}
			k.log.Log(ctx, level, "stream ready", "stream", natsbus.StreamInbox)
			backoff, failures, bound = minBackoff, 0, true
			select {
			case <-ctx.Done():
				return
			case <-k.kick:
				continue
			}
		} else if ctx.Err() == nil {
			failures++
			if errors.Is(err, natsbus.ErrShardsDiffer) && (failures == 1 || failures%20 == 0) {
				k.log.Error("EPAY_SHARDS differs from the inbox's: callbacks get 503 until it is set as recorded", "stream", natsbus.StreamInbox, "err", err, "attempts", failures)
			} else if failures == 1 || failures%20 == 0 {
				k.log.Warn("stream not there yet (`worker streams` creates it); callbacks get 503 until then", "stream", natsbus.StreamInbox, "err", err, "attempts", failures)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// bind looks for EPAY_INBOX (the worker makes it).
func (k *streamKeeper) bind(ctx context.Context) error {
	if !k.nc.IsConnected() {
		return errNATSDown
	}
	ctx, cancel := context.WithTimeout(ctx, bindTimeout)
	defer cancel()
	return k.shards.Look(ctx)
}
