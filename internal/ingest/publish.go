package ingest

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// publisher stores a callback's message on EPAY_INBOX and returns its PubAck.
type publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error)
}

// errNATSDown is returned without trying when the connection is down: a publish would
// only wait out its timeout in the reconnect buffer.
var errNATSDown = errors.New("not connected to NATS")

// natsPublisher publishes on a live connection only.
type natsPublisher struct {
	nc *nats.Conn
	// noStream is called when the stream seems to be missing, so that it is looked for again.
	noStream func()
	// shardsDiffer is the streamKeeper's: an error while the inbox is cut into another
	// shard count than the ingest's, when nothing is published.
	shardsDiffer func() error
}

func (p natsPublisher) PublishMsg(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	if !p.nc.IsConnected() {
		return nil, errNATSDown
	}
	if err := p.shardsDiffer(); err != nil {
		return nil, err
	}
	ack, err := syncPublish(ctx, p.nc, msg)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) {
		p.noStream()
	}
	return ack, err
}

// cause is why a publish failed: the label of epayflow_ingest_publish_failures_total.
type cause uint8

const (
	causeNATSDown cause = iota
	causeTimeout
	causeCanceled
	causeNoStream
	causeRefused
	causeShardsDiffer
	causeOther
	numCauses
)

var causeNames = [numCauses]string{"nats_down", "timeout", "canceled", "no_stream", "refused", "shards_differ", "other"}

func (c cause) String() string { return causeNames[c] }

// retryAfter is the Retry-After of the 503 for this cause, in seconds: longer when the
// outage is unlikely to end within a second.
func (c cause) retryAfter() string {
	if c == causeNATSDown || c == causeNoStream || c == causeShardsDiffer {
		return "5"
	}
	return "1"
}

func classify(err error) cause {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, errNATSDown), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected):
		return causeNATSDown
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return causeTimeout
	case errors.Is(err, context.Canceled):
		return causeCanceled
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrStreamNotFound):
		return causeNoStream
	case errors.As(err, &apiErr):
		return causeRefused
	case errors.Is(err, natsbus.ErrShardsDiffer):
		return causeShardsDiffer
	}
	return causeOther
}
