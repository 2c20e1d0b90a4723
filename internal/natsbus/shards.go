package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// MetadataShards is the EPAY_INBOX metadata key of the shard count (EPAY_SHARDS) the
// worker made or first found the stream with. The count is part of the data's layout:
// the inbox's subjects, the shards' consumers and the changelog's subjects are cut by
// it. A service configured with another count would publish where no worker reads,
// restore a shard without the invoices recorded under another cut, and apply their next
// callback to a state it never saw: so every service checks it (ErrShardsDiffer).
const MetadataShards = "epayflow.shards"

// ShardConsumerPrefix starts the name of each shard's durable consumer on EPAY_INBOX
// ("worker-shard-<shard>").
const ShardConsumerPrefix = "worker-shard-"

// ErrShardsDiffer: the service's EPAY_SHARDS is not the count the deployment's inbox is
// cut into. Nothing is published, consumed or restored until it is set as recorded.
var ErrShardsDiffer = errors.New("EPAY_SHARDS differs from the shard count of the deployment")

// BindInbox is BindStreams of EPAY_INBOX for a service cutting it into shards: the
// stream must exist (ErrNotCreated), and the shard count recorded on it, when one is,
// must be shards (ErrShardsDiffer).
func BindInbox(ctx context.Context, js jetstream.JetStream, shards int) error {
	st, err := js.Stream(ctx, StreamInbox)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = ErrNotCreated
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamInbox, err)
	}
	return checkRecordedShards(st.CachedInfo().Config.Metadata, shards)
}

// checkRecordedShards compares shards with the count metadata records (none: nothing
// to compare).
func checkRecordedShards(metadata map[string]string, shards int) error {
	rec, ok := metadata[MetadataShards]
	if !ok || rec == strconv.Itoa(shards) {
		return nil
	}
	return fmt.Errorf("%w: stream %s is cut into %s shards (its metadata %s), this service is configured with %d; set EPAY_SHARDS=%s",
		ErrShardsDiffer, StreamInbox, rec, MetadataShards, shards, rec)
}

// checkInboxShards is the worker's check before it records shards on the live EPAY_INBOX:
// the count recorded, or, on a stream made before counts were recorded, the consumer of
// the first shard past the count: one there shows the inbox was consumed with more
// shards (every shard of a deployment has its consumer once a worker took it). One
// CONSUMER.INFO, which the worker's role may send.
func checkInboxShards(ctx context.Context, st jetstream.Stream, shards int) error {
	metadata := st.CachedInfo().Config.Metadata
	if _, ok := metadata[MetadataShards]; ok {
		return checkRecordedShards(metadata, shards)
	}
	name := ShardConsumerPrefix + strconv.Itoa(shards)
	_, err := st.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("looking for the consumer %s of %s: %w", name, StreamInbox, err)
	}
	return fmt.Errorf("%w: stream %s has the consumer %s, of a shard past the %d configured: it was consumed with more; set EPAY_SHARDS to that count",
		ErrShardsDiffer, StreamInbox, name, shards)
}

// InboxShards is what a service's last look at EPAY_INBOX said of its shard count: Look
// binds the stream (BindInbox) and keeps an ErrShardsDiffer until a look finds the counts
// equal; Differ returns it, for a publish path that must publish nothing meanwhile.
type InboxShards struct {
	js     jetstream.JetStream
	shards int
	differ atomic.Pointer[error]
}

// NewInboxShards holds a service configured with shards to EPAY_INBOX's count.
func NewInboxShards(js jetstream.JetStream, shards int) *InboxShards {
	return &InboxShards{js: js, shards: shards}
}

// Look binds EPAY_INBOX and keeps what it says of the shard count; an error that says
// nothing of it (NATS down, no stream) leaves what the last look said.
func (s *InboxShards) Look(ctx context.Context) error {
	err := BindInbox(ctx, s.js, s.shards)
	switch {
	case errors.Is(err, ErrShardsDiffer):
		s.differ.Store(&err)
	case err == nil:
		s.differ.Store(nil)
	}
	return err
}

// Differ is the last look's ErrShardsDiffer, nil when the counts were equal or not yet
// compared.
func (s *InboxShards) Differ() error {
	if err := s.differ.Load(); err != nil {
		return *err
	}
	return nil
}
