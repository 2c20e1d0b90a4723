package natsbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
)

// StreamsConfig sets what is tunable about the streams.
type StreamsConfig struct {
	// Replicas per stream: 1 on one server, 3 on a production cluster.
	Replicas int
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. The worker dedupes
	// forever on its own; the window keeps ePay's retries out of the log.
	DuplicateWindow time.Duration
	// MaxAge is how long a message is kept. Must exceed the longest worker outage.
	MaxAge time.Duration
	// MaxBytes bounds each stream's size; when full, new messages are refused (the
	// ingest answers 503 and ePay retries) rather than unread ones dropped. -1: no bound.
	MaxBytes int64
	// Shards is the deployment's EPAY_SHARDS, recorded on EPAY_INBOX (MetadataShards)
	// when the worker makes it, and checked against it afterwards (ErrShardsDiffer). 0:
	// neither recorded nor checked (a tool that makes the streams for tests).
	Shards int
}

// DefaultStreamsConfig is right for one server.
func DefaultStreamsConfig() StreamsConfig {
	return StreamsConfig{Replicas: 1, DuplicateWindow: 15 * time.Minute, MaxAge: 30 * 24 * time.Hour, MaxBytes: 16 << 30}
}

// Validate reports the first bad setting.
func (c StreamsConfig) Validate() error {
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("stream replicas %d: want 1 to 5", c.Replicas)
	case c.DuplicateWindow < time.Second:
		return fmt.Errorf("duplicate window %s: want at least 1s", c.DuplicateWindow)
	case c.MaxAge < c.DuplicateWindow:
		return fmt.Errorf("stream max age %s is shorter than the duplicate window %s", c.MaxAge, c.DuplicateWindow)
	case c.MaxBytes == 0 || c.MaxBytes < -1:
		return fmt.Errorf("stream max bytes %d: want -1 or a positive size", c.MaxBytes)
	case c.Shards < 0 || c.Shards > inbox.MaxShards:
		return fmt.Errorf("shards %d: want 1 to %d (0: not recorded)", c.Shards, inbox.MaxShards)
	}
	return nil
}

// MaxMessageSize bounds one message on every stream: a callback body is at most 64 KiB.
const MaxMessageSize = 256 << 10

// StreamConfig returns the configuration of one of the named streams.
func (c StreamsConfig) StreamConfig(name string) (jetstream.StreamConfig, error) {
	sc := jetstream.StreamConfig{
		Name:       name,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardNew,
		Replicas:   c.Replicas,
		Duplicates: c.DuplicateWindow,
		MaxAge:     c.MaxAge,
		MaxBytes:   c.MaxBytes,
		MaxMsgSize: MaxMessageSize,
	}
	switch name {
	case StreamInbox:
		sc.Subjects = []string{inbox.Subjects}
		sc.Description = "ePay callbacks and invoice.created, verbatim; the worker's durable log"
		sc.DenyDelete, sc.DenyPurge = true, true
	case StreamEvents:
		sc.Subjects = []string{events.Subjects}
		sc.Description = "payment events (CloudEvents JSON) for merchant systems"
	case StreamDLQDiscarded:
		// What `worker dlq discard` removed from EPAY_DLQ, each entry whole with who
		// discarded it and why: kept for good (no MaxAge, no delete, no purge) and
		// small, so that it fits beside the others in any store; full, a discard is
		// refused and the entry stays in the DLQ.
		sc.Subjects = []string{DLQDiscardedSubjects}
		sc.Description = "EPAY_DLQ entries discarded by an operator, with who and why"
		sc.MaxAge, sc.MaxBytes = 0, DLQDiscardedMaxBytes
		sc.DenyDelete, sc.DenyPurge = true, true
	case StreamDLQ:
		// No age limit, whatever MaxAge: an entry leaves only by `worker dlq replay` or
		// `worker dlq discard`, never by expiring unseen (issue 18).
		sc.MaxAge = 0
		sc.Subjects = []string{"epay.dlq.>"}
		sc.Description = "inbox messages the worker can never apply, with the reason"
	case StreamState:
		// One message per invoice, kept for as long as the stream lives (no MaxAge): the
		// state of record a new owner restores a shard from, whatever the inbox's
		// retention. It reserves no bytes (it grows with the invoices, not with traffic):
		// the servers' max_file_store bounds it, and when that is full the write fails
		// and the worker stops applying rather than lose a state. S2-compressed (the
		// records are JSON); direct gets read one invoice's record from any replica.
		sc.Subjects = []string{StateSubjects}
		sc.Description = "each invoice's latest state, written by the shard's owner before it commits (a compacted changelog)"
		sc.MaxMsgsPerSubject = 1
		sc.MaxAge, sc.MaxBytes = 0, -1
		sc.Compression = jetstream.S2Compression
		sc.AllowDirect = true
		sc.DenyDelete, sc.DenyPurge = true, true
	default:
		return sc, fmt.Errorf("natsbus: unknown stream %q", name)
	}
	return sc, nil
}

// EnsureStreams creates the named streams or brings their configuration up to date:
// the worker's job, at its start (only RoleWorker may create or change a stream). It is
// idempotent.
//
// A stream already configured as asked is not updated: each configuration it applies
// carries its fingerprint in the stream's metadata (MetadataConfig), read first. On a
// cluster an update is a proposal through the meta leader, and a worker restarting in a
// busy cluster waited for four of them (5 s timeouts and retries seen in the cluster
// chaos runs) before it took a shard. The fingerprint is no proof, though: anybody can
// compute it. So the live configuration is compared too (Drift), and a stream that
// differs in any field, a RePublish, a subject transform, sources or a mirror above all
// (they copy messages into other subjects, PAYMENT_EVENTS's included, with no permission
// check), is brought back to the configuration asked, with a warning on log naming what
// it takes away. A mirror cannot be taken away by an update: that stream's error says so.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg StreamsConfig, names ...string) error {
	return ensureStreams(ctx, js, log, cfg, true, names)
}

// CheckStreams is EnsureStreams for an identity that may not create or change a stream
// (the worker: RoleStreams makes them, `worker streams`): it only looks (STREAM.INFO).
// A missing stream is an error wrapping ErrNotCreated, one configured otherwise than
// cfg asks (fingerprint, Drift, EPAY_INBOX's recorded shard count missing) one wrapping
// ErrNotAsConfigured, and a shard count that differs one wrapping ErrShardsDiffer, as
// EnsureStreams says it.
func CheckStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig, names ...string) error {
	return ensureStreams(ctx, js, nil, cfg, false, names)
}

// ErrNotAsConfigured wraps the error of CheckStreams and CheckBuckets on a stream or
// bucket that exists but is configured otherwise than asked: `worker streams` (as
// RoleStreams) brings it to the configuration asked.
var ErrNotAsConfigured = errors.New("configured otherwise than asked: run `worker streams`")

func ensureStreams(ctx context.Context, js jetstream.JetStream, log *slog.Logger, cfg StreamsConfig, write bool, names []string) error {
	return eachStream(cfg, names, func(sc jetstream.StreamConfig) error {
		sum, err := configSum(sc)
		if err != nil {
			return err
		}
		st, err := js.Stream(ctx, sc.Name)
		switch {
		case err == nil:
			live := st.CachedInfo().Config
			shards := live.Metadata[MetadataShards] // kept as recorded, unless recorded here
			if sc.Name == StreamInbox && cfg.Shards > 0 {
				if err := checkInboxShards(ctx, st, cfg.Shards); err != nil {
					return err
				}
				shards = strconv.Itoa(cfg.Shards)
			}
			drift := Drift(sc, live)
			if live.Metadata[MetadataConfig] == sum && live.Metadata[MetadataShards] == shards && len(drift) == 0 {
				return nil
			}
			if !write {
				why := strings.Join(drift, "; ")
				if len(drift) == 0 {
					why = "its fingerprint or recorded shard count"
				}
				return fmt.Errorf("%w (%s)", ErrNotAsConfigured, why)
			}
			logDrift(ctx, log, "stream", sc.Name, live.Metadata[MetadataConfig] == sum, drift)
			sc.Metadata = streamMetadata(sum, shards)
			if _, err := js.UpdateStream(ctx, sc); err != nil {
				return fmt.Errorf("update (%s): %w", strings.Join(drift, "; "), err)
			}
			return nil
		case errors.Is(err, jetstream.ErrStreamNotFound) && !write:
			return ErrNotCreated
		case errors.Is(err, jetstream.ErrStreamNotFound):
			var shards string
			if sc.Name == StreamInbox && cfg.Shards > 0 {
				shards = strconv.Itoa(cfg.Shards)
			}
			sc.Metadata = streamMetadata(sum, shards)
			// made meanwhile by another worker: updated, but never to another shard count
			_, err = js.CreateStream(ctx, sc)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return errMadeMeanwhile
			}
			return err
		default:
			return err
		}
	})
}

// errMadeMeanwhile: another worker made the stream between this one's look and its
// create; the next try compares it with what this one asks.
var errMadeMeanwhile = errors.New("made meanwhile by another worker")

// streamMetadata is a stream's metadata: the fingerprint of its configuration and, on
// EPAY_INBOX, the shard count ("": none).
func streamMetadata(sum, shards string) map[string]string {
	m := map[string]string{MetadataConfig: sum}
	if shards != "" {
		m[MetadataShards] = shards
	}
	return m
}

// logDrift says what an update of stream or bucket name changes. A live configuration
// that carries the fingerprint of the one asked and still differs was changed behind
// the worker's back, and one that copies or moves messages elsewhere (Routes) is
// dangerous whatever its fingerprint: both are warnings. The rest is a configuration
// asked that changed (a new setting): info.
func logDrift(ctx context.Context, log *slog.Logger, kind, name string, sameSum bool, drift []string) {
	if log == nil || len(drift) == 0 {
		return
	}
	level := slog.LevelInfo
	if sameSum || slices.ContainsFunc(drift, func(d string) bool {
		field, _, _ := strings.Cut(d, " ")
		return slices.Contains(Routes, field)
	}) {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, kind+" configured otherwise than asked; updating it", kind, name,
		"differs", strings.Join(drift, "; "), "fingerprint_matched", sameSum)
}

// Routes are the fields of a stream's configuration through which the server copies or
// moves messages to other subjects or from other streams, unchecked by any permission.
// None of the streams and buckets of the system has one.
var Routes = []string{"Subjects", "RePublish", "SubjectTransform", "Sources", "Mirror", "MirrorDirect"}

// Drift names each field of the live configuration of a stream that differs from want,
// with its value live and the one wanted ("RePublish {...} (want <nil>)"); none when
// live is configured as asked. Fields the server fills in when they are left zero (the
// limits left unlimited, its own metadata) and the placement are not compared; of the
// metadata only MetadataConfig's entry is, by the caller.
func Drift(want, live jetstream.StreamConfig) []string {
	norm := func(c jetstream.StreamConfig) jetstream.StreamConfig {
		unlimited := func(v *int64) {
			if *v <= 0 {
				*v = -1
			}
		}
		unlimited(&c.MaxMsgs)
		unlimited(&c.MaxBytes)
		unlimited(&c.MaxMsgsPerSubject)
		if c.MaxConsumers <= 0 {
			c.MaxConsumers = -1
		}
		if c.MaxMsgSize <= 0 {
			c.MaxMsgSize = -1
		}
		if len(c.Subjects) == 0 {
			c.Subjects = nil
		}
		if len(c.Sources) == 0 {
			c.Sources = nil
		}
		c.Metadata, c.Placement, c.FirstSeq = nil, nil, 0
		return c
	}
	w, l := reflect.ValueOf(norm(want)), reflect.ValueOf(norm(live))
	var out []string
	for i := range w.NumField() {
		wf, lf := w.Field(i).Interface(), l.Field(i).Interface()
		if reflect.DeepEqual(wf, lf) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s (want %s)", w.Type().Field(i).Name, show(lf), show(wf)))
	}
	return out
}

// show is a field's value for a log: what a pointer points to, JSON for the rest.
func show(v any) string {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "<nil>"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// MetadataConfig is the stream metadata key of the fingerprint of the configuration
// EnsureStreams last applied.
const MetadataConfig = "epayflow.config"

// configSum is the fingerprint of a stream configuration (without its metadata).
func configSum(sc jetstream.StreamConfig) (string, error) {
	sc.Metadata = nil
	sum, err := ConfigSum(sc)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", sc.Name, err)
	}
	return sum, nil
}

// ConfigSum is the fingerprint of a configuration (its JSON) kept under MetadataConfig,
// by which a service tells a stream or bucket already configured as it asks.
func ConfigSum(cfg any) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

// ErrNotCreated wraps the error of a service that found a stream or bucket missing:
// the worker creates them all at its start, and no other role may.
var ErrNotCreated = errors.New("not created yet: `worker streams` creates it")

// BindStreams checks that the named streams exist (STREAM.INFO, all a service may do
// with them): a missing one is an error wrapping ErrNotCreated.
func BindStreams(ctx context.Context, js jetstream.JetStream, names ...string) error {
	var errs []error
	for _, name := range names {
		_, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			err = ErrNotCreated
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// BindBucket opens the key-value bucket the worker made (EnsureBuckets): a missing one
// is an error wrapping ErrNotCreated.
func BindBucket(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		err = ErrNotCreated
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// eachStream runs do on the configuration of each named stream and joins the errors,
// each naming its stream.
func eachStream(cfg StreamsConfig, names []string, do func(jetstream.StreamConfig) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		sc, err := cfg.StreamConfig(name)
		if err != nil {
			return err
		}
		if err := do(sc); err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
