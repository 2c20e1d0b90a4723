package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The buckets' settings that are not the streams'.
const (
	// IdempotencyBucketBytes bounds EPAY_IDEMPOTENCY: about 300,000 keys. When it is
	// full, a request with a new key is refused (503, nothing created) until records
	// expire; requests without a key go on.
	IdempotencyBucketBytes = 64 << 20
	// WebhooksMarkerTTL is how long the marker of a removed EPAY_WEBHOOKS key stays:
	// without it every event that was retried once would leave its done.<seq> marker
	// behind for good.
	WebhooksMarkerTTL = time.Hour
)

// Buckets are the key-value buckets the services share, which the worker makes at its
// start (EnsureBuckets); ShardOwnersBucket, the worker's own, is made with its lease.
func Buckets() []string { return []string{SequenceBucket, IdempotencyBucket, WebhooksBucket} }

// BucketConfig returns the configuration of one of Buckets: as replicated as the
// streams; EPAY_IDEMPOTENCY's records live for the inbox's duplicate window (a key
// replayed after it would make a second invoice that the inbox would not drop).
func (c StreamsConfig) BucketConfig(name string) (jetstream.KeyValueConfig, error) {
	kv := jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: jetstream.FileStorage, Replicas: c.Replicas}
	switch name {
	case SequenceBucket:
		kv.Description = "epayflow invoiceId sequence: the last number handed out"
	case IdempotencyBucket:
		kv.Description = "epayflow Idempotency-Keys of POST /v1/payments: the invoice each made"
		kv.TTL, kv.MaxBytes, kv.MaxValueSize = c.DuplicateWindow, IdempotencyBucketBytes, 512
	case WebhooksBucket:
		kv.Description = "epayflow webhook endpoints, secrets, attempts, dead letters"
		kv.LimitMarkerTTL = WebhooksMarkerTTL
	default:
		return kv, fmt.Errorf("natsbus: unknown bucket %q", name)
	}
	return kv, nil
}

// EnsureBuckets creates the named buckets (of Buckets) or brings their configuration up
// to date, as EnsureStreams does the streams: the worker's job at its start.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg StreamsConfig, names ...string) error {
	return ensureBuckets(ctx, js, log, cfg, true, names)
}

// CheckBuckets is EnsureBuckets that only looks, as CheckStreams.
func CheckBuckets(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig, names ...string) error {
	return ensureBuckets(ctx, js, nil, cfg, false, names)
}

func ensureBuckets(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg StreamsConfig, write bool, names []string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		kv, err := cfg.BucketConfig(name)
		if err != nil {
			return err
		}
		if _, err := ensureBucket(ctx, js, log, kv, write); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// EnsureBucket creates bucket cfg or brings its configuration up to date, and returns
// its stream. As with EnsureStreams, a bucket whose stream carries the fingerprint of
// cfg (MetadataConfig) and whose live configuration does not differ from cfg's (Drift)
// is left alone; one that differs is updated, with a warning on log naming what is
// taken away when it had a RePublish or other Routes.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg jetstream.KeyValueConfig) (jetstream.Stream, error) {
	return ensureBucket(ctx, js, log, cfg, true)
}

// CheckBucket is EnsureBucket that only looks, as CheckStreams: a missing bucket is an
// error wrapping ErrNotCreated, one configured otherwise one wrapping ErrNotAsConfigured.
func CheckBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.Stream, error) {
	return ensureBucket(ctx, js, nil, cfg, false)
}

func ensureBucket(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg jetstream.KeyValueConfig, write bool) (jetstream.Stream, error) {
	cfg.Metadata = nil
	sum, err := ConfigSum(cfg)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	name := "KV_" + cfg.Bucket
	st, err := js.Stream(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	var drift []string
	if err == nil {
		live := st.CachedInfo().Config
		if drift = Drift(bucketStream(cfg), live); live.Metadata[MetadataConfig] == sum && len(drift) == 0 {
			return st, nil
		}
		if !write {
			why := strings.Join(drift, "; ")
			if len(drift) == 0 {
				why = "its fingerprint"
			}
			return nil, fmt.Errorf("bucket %s: %w (%s)", cfg.Bucket, ErrNotAsConfigured, why)
		}
		logDrift(ctx, log, "bucket", cfg.Bucket, live.Metadata[MetadataConfig] == sum, drift)
	} else if !write {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, ErrNotCreated)
	}
	cfg.Metadata = map[string]string{MetadataConfig: sum}
	if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
		if len(drift) > 0 {
			return nil, fmt.Errorf("bucket %s: update (%s): %w", cfg.Bucket, strings.Join(drift, "; "), err)
		}
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	if st, err = js.Stream(ctx, name); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	return st, nil
}

// bucketStream is the configuration of a bucket's stream as the key-value client makes
// it from cfg (jetstream's prepareKeyValueConfig, for a bucket with no mirror, sources
// nor republish: none of ours has one).
func bucketStream(cfg jetstream.KeyValueConfig) jetstream.StreamConfig {
	history := int64(max(cfg.History, 1))
	dup := 2 * time.Minute
	if cfg.TTL > 0 && cfg.TTL < dup {
		dup = cfg.TTL
	}
	sc := jetstream.StreamConfig{
		Name: "KV_" + cfg.Bucket, Description: cfg.Description, Subjects: []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: history, MaxBytes: cfg.MaxBytes, MaxAge: cfg.TTL, MaxMsgSize: cfg.MaxValueSize,
		Storage: cfg.Storage, Replicas: max(cfg.Replicas, 1), AllowRollup: true, DenyDelete: true, Duplicates: dup,
		AllowDirect: true, Discard: jetstream.DiscardNew, RePublish: cfg.RePublish,
	}
	if cfg.Compression {
		sc.Compression = jetstream.S2Compression
	}
	if cfg.LimitMarkerTTL != 0 {
		sc.AllowMsgTTL, sc.SubjectDeleteMarkerTTL = true, cfg.LimitMarkerTTL
	}
	return sc
}

// Streams are every stream of the system; the worker makes them all at its start.
func Streams() []string {
	return []string{StreamInbox, StreamEvents, StreamDLQ, StreamState, StreamDLQDiscarded}
}

// EnsureAll ensures every stream (Streams) and every shared bucket (Buckets): what
// `worker streams` does (as RoleStreams), before any service can bind to them.
func EnsureAll(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg StreamsConfig) error {
	return errors.Join(EnsureStreams(ctx, js, log, cfg, Streams()...), EnsureBuckets(ctx, js, log, cfg, Buckets()...))
}

// CheckAll is EnsureAll that only looks (CheckStreams, CheckBuckets): what the worker
// does at its start, waiting for `worker streams`.
func CheckAll(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	return errors.Join(CheckStreams(ctx, js, cfg, Streams()...), CheckBuckets(ctx, js, cfg, Buckets()...))
}
