package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// StreamsUsage is `worker streams`'s line in the worker's -h.
const StreamsUsage = "worker streams"

// streamsEnvNames are the variables of `worker streams`'s flags: the worker's own for the
// same settings.
var streamsEnvNames = envflag.Merge(natsbus.StreamFlagEnvNames, natsbus.StreamLimitFlagEnvNames, natsbus.AuthFlagEnvNames, map[string]string{
	"nats-url": "NATS_URL", "shards": "EPAY_SHARDS", "shard-lease": "WORKER_SHARD_LEASE",
})

// Streams is `worker streams`: it connects as the streams identity (natsbus.RoleStreams,
// the only NATS user that may create or change a stream or bucket) and makes every stream
// and bucket, the worker's shard owners bucket included, or brings each back to the
// configuration asked (natsbus.EnsureAll), retrying while NATS is away; then it returns
// (exit 0). It takes the worker's settings that shape them, from the same flags and
// variables: NATS_URL, EPAY_SHARDS (recorded on EPAY_INBOX, or checked against the count
// recorded), NATS_STREAM_REPLICAS, NATS_DUPLICATE_WINDOW, NATS_STREAM_MAX_AGE,
// NATS_STREAM_MAX_BYTES, WORKER_SHARD_LEASE and NATS_CA. Its user is
// WORKER_STREAMS_NATS_USER with WORKER_STREAMS_NATS_PASSWORD or
// WORKER_STREAMS_NATS_PASSWORD_FILE when WORKER_STREAMS_NATS_USER is set, else NATS_USER
// with NATS_PASSWORD or NATS_PASSWORD_FILE. Bad settings wrap ErrConfig.
func Streams(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	getenv = streamsIdentity(getenv)
	c := DefaultConfig()
	fs := flag.NewFlagSet("worker streams", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS server URL(s), comma-separated")
	c.NATS.BindFlags(fs)
	fs.IntVar(&c.Shards, "shards", c.Shards, "total number of inbox shards (recorded on EPAY_INBOX)")
	c.Streams.BindFlags(fs, "each stream")
	c.Streams.BindLimitFlags(fs)
	fs.DurationVar(&c.ShardLease, "shard-lease", c.ShardLease, "the workers' lease (the shard owners bucket's TTL)")
	if err := envflag.ParseCommand(fs, args, getenv, streamsEnvNames, ErrConfig); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if err := natsbus.CheckURLs(c.NATSURL); err != nil {
		return bad("%v", err)
	}
	switch {
	case c.Shards < 1 || c.Shards > inbox.MaxShards:
		return bad("-shards (EPAY_SHARDS) %d: want 1 to %d", c.Shards, inbox.MaxShards)
	case c.ShardLease < 3*time.Second || c.ShardLease > 10*time.Minute:
		return bad("-shard-lease (WORKER_SHARD_LEASE) %s: want 3s to 10m", c.ShardLease)
	}
	if err := c.NATS.Validate(); err != nil {
		return bad("%v", err)
	}
	if err := c.Streams.Validate(); err != nil {
		return bad("%v", err)
	}
	log := slog.New(slog.NewTextHandler(out, nil))
	if err := ensureAllAs(ctx, c.NATSURL, c.NATS, c.streamsConfig(), ownersBucketConfig(c.ShardLease, c.Streams.Replicas), log); err != nil {
		return err
	}
	fmt.Fprintf(out, "streams and buckets made as configured: %s (EPAY_SHARDS %d, replicas %d)\n", strings.Join(natsbus.StreamsAndBuckets(), ", "), c.Shards, c.Streams.Replicas)
	return nil
}

// streamsIdentity is getenv with WORKER_STREAMS_NATS_USER, WORKER_STREAMS_NATS_PASSWORD
// and WORKER_STREAMS_NATS_PASSWORD_FILE in place of NATS_USER, NATS_PASSWORD and
// NATS_PASSWORD_FILE when WORKER_STREAMS_NATS_USER is set: with the worker's environment
// of a local stack, `worker streams` connects as streams, not as the worker.
func streamsIdentity(getenv func(string) string) func(string) string {
	return natsbus.IdentityEnv(getenv, "WORKER_STREAMS_")
}

// streamsConfig is the streams' configuration with the shard count to record on
// EPAY_INBOX (or check against the one recorded).
func (c Config) streamsConfig() natsbus.StreamsConfig {
	s := c.Streams
	s.Shards = c.Shards
	return s
}

// ensureAllAs connects to url as the streams identity auth and makes every stream and
// bucket and the shard owners bucket, or brings them to the configuration asked,
// retrying until done or ctx ends (ctx's error); then it closes the connection.
func ensureAllAs(ctx context.Context, url string, auth natsbus.Auth, streams natsbus.StreamsConfig, owners jetstream.KeyValueConfig, log *slog.Logger) error {
	nc, err := natsbus.ConnectAs(url, "epayflow-worker-streams", natsbus.RoleStreams, auth, log)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return natsbus.EnsureUntil(ctx, log, "ensure streams and buckets as "+auth.String(), func(ctx context.Context) error {
		return ensureAll(ctx, js, log, streams, owners)
	})
}

// ensureAll makes every stream and bucket and the shard owners bucket (an identity that
// may: the streams identity, or anyone on a NATS without authorization).
func ensureAll(ctx context.Context, js jetstream.JetStream, log *slog.Logger, streams natsbus.StreamsConfig, owners jetstream.KeyValueConfig) error {
	_, err := natsbus.EnsureBucket(ctx, js, log, owners)
	return errors.Join(natsbus.EnsureAll(ctx, js, log, streams), err)
}

// checkAll checks, without changing anything, that every stream and bucket and the shard
// owners bucket exist as configured (the worker's own user may only look).
func checkAll(ctx context.Context, js jetstream.JetStream, streams natsbus.StreamsConfig, owners jetstream.KeyValueConfig) error {
	_, err := natsbus.CheckBucket(ctx, js, owners)
	return errors.Join(natsbus.CheckAll(ctx, js, streams), err)
}
