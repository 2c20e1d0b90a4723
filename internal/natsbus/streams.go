package natsbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// EnsureStreams creates the named streams or brings their configuration up to date.
// It is idempotent: every replica of every service calls it at start.
//
// A stream already configured as asked is not updated: each configuration it applies
// carries its fingerprint in the stream's metadata (MetadataConfig), read first. On a
// cluster an update is a proposal through the meta leader, and a worker restarting in a
// busy cluster waited for four of them (5 s timeouts and retries seen in the cluster
// chaos runs) before it took a shard. A stream changed by hand since keeps that change
// until the configuration asked changes.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig, names ...string) error {
	return eachStream(cfg, names, func(sc jetstream.StreamConfig) error {
		sum, err := configSum(sc)
		if err != nil {
			return err
		}
		if st, err := js.Stream(ctx, sc.Name); err == nil && st.CachedInfo().Config.Metadata[MetadataConfig] == sum {
			return nil
		}
		sc.Metadata = map[string]string{MetadataConfig: sum}
		_, err = js.CreateOrUpdateStream(ctx, sc)
		return err
	})
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

// CreateStreams creates the named streams that do not exist yet and leaves the others as
// they are, whatever their configuration: what the ingest and the initiator do, whose
// NATS users may create EPAY_INBOX (so they can start before the worker) but not change
// it. The worker, the streams' owner, brings their configuration up to date
// (EnsureStreams).
func CreateStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig, names ...string) error {
	return eachStream(cfg, names, func(sc jetstream.StreamConfig) error {
		_, err := js.Stream(ctx, sc.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = js.CreateStream(ctx, sc)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				err = nil // created meanwhile by another replica or service, maybe configured otherwise
			}
		}
		return err
	})
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
