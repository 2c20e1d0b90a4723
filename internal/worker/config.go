package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Subcommands are the commands `worker` runs besides the service, for its -h.
var Subcommands = []envflag.Subcommand{
	{Usage: "worker dlq list|show <seq>|replay <seq>|replay -all", Doc: "list, show and replay the messages in the dead-letter queue (EPAY_DLQ)"},
	{Usage: CompactUsage, Doc: "rewrite a stopped worker's bbolt file without its free pages (refused while the worker runs)"},
	{Usage: EventsKeyUsage, Doc: "print a new key to sign payment events with (WORKER_EVENTS_KEY) and its public key, or with -public the public key of WORKER_EVENTS_KEY"},
	{Usage: StreamsUsage, Doc: "make the streams and buckets, or bring them to the configuration asked, as the NATS user streams (the worker's user may not), then exit"},
	{Usage: ResignStateUsage, Doc: "sign again with WORKER_STATUS_KEY the EPAY_STATE records a key of WORKER_STATUS_KEY_PREVIOUS signed (a rotation's last step)"},
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("worker config")

// Config is everything the worker needs to run.
type Config struct {
	Addr string // WORKER_ADDR
	// MetricsAddr (WORKER_METRICS_ADDR): /metrics on a listener of its own, and not on
	// Addr (the read API); empty: /metrics on Addr.
	MetricsAddr string
	// ReadKeys (WORKER_READ_KEYS): the readers of the read API and their scopes; none:
	// it answers 401 to everyone.
	ReadKeys []ReadKey
	// AdvertiseURL (WORKER_ADVERTISE_URL): where the other workers reach this worker's
	// read API (http://<pod IP>:8082), kept with its shard leases. A read for an invoice
	// of a shard another worker owns is forwarded to that worker's URL; empty: this worker
	// is not forwarded to.
	AdvertiseURL string
	DB           string // WORKER_DB
	NATSURL      string // NATS_URL
	Shards       int    // EPAY_SHARDS: total shards, the same in every service
	// OwnShards (WORKER_SHARDS): nil (auto, the default) lets the live workers assign the
	// shards among themselves (rendezvous hashing, balanced, moved as workers come and
	// go); a list is an operator's override: exactly these shards, whoever else runs.
	OwnShards   []int
	EventSource string // CloudEvents source
	Streams     natsbus.StreamsConfig
	// NATS is who the worker is on NATS (NATS_USER, NATS_PASSWORD or
	// NATS_PASSWORD_FILE, NATS_CA): natsbus.RoleWorker's permissions.
	NATS natsbus.Auth
	// StreamsNATS (WORKER_STREAMS_NATS_USER, WORKER_STREAMS_NATS_PASSWORD or
	// WORKER_STREAMS_NATS_PASSWORD_FILE; NATS_CA as NATS's) is the streams identity
	// (natsbus.RoleStreams), the only one that may create or change a stream or bucket.
	// Set: the worker makes them at its start (natsbus.EnsureAll) on a second connection
	// as that user, closed once done (the local stacks). Unset: it waits for `worker
	// streams` to have made them (Kubernetes: its init container) and checks them.
	StreamsNATS natsbus.Auth

	AckWait     time.Duration // redelivery of an unacked inbox message
	MaxInFlight int           // unacked messages per shard at once
	// MaxInFlightTotal bounds the unacked messages over every shard the worker owns:
	// each costs a goroutine, its stack and the message, so this bounds the worker's
	// memory however many shards it takes over.
	MaxInFlightTotal int
	MaxDeliveries    uint64        // deliveries before a failing message goes to the DLQ
	LockTimeout      time.Duration // wait for the bbolt file lock
	// MaxPending and MaxPendingBytes (WORKER_MAX_PENDING, WORKER_MAX_PENDING_BYTES) bound
	// the callbacks kept for one invoice whose invoice.created has not come; beyond, a
	// callback goes to the DLQ (replayable once the invoice exists).
	MaxPending      int
	MaxPendingBytes int
	SampleEvery     time.Duration // consumer lag and DLQ size sampling

	// WithoutChangelog leaves the changelog (EPAY_STATE) out of applying a message: no
	// record, no fence, nothing to restore a shard from. It exists for the benchmark
	// harness alone (`loadgen serve-profiled -no-changelog`), to measure what the
	// changelog costs in the same run; no flag or environment variable sets it.
	WithoutChangelog bool

	// EPayEnv is EPAY_ENV: sandbox, test or prod.
	EPayEnv string
	// EPay is the ePay status client (EPAY_API_URL, EPAY_CLIENT_ID, ...); nil: the worker
	// never asks ePay (no confirmation, no reconciler; unverified successes go to review).
	EPay *epayapi.Config
	// ConfirmPayments (WORKER_CONFIRM_PAYMENTS): a success callback makes an invoice
	// paid only once ePay's status API agrees. Unverified callbacks are always confirmed
	// when EPay is set.
	ConfirmPayments bool
	// ReconcileAfter (WORKER_RECONCILE_AFTER): ask the status API about invoices left
	// created this long (lost callbacks); 0: never.
	ReconcileAfter time.Duration
	// StatusConcurrency bounds the status requests in flight; CheckEvery is how often
	// the open invoices are looked at (a new claim wakes the confirmer at once).
	StatusConcurrency int
	CheckEvery        time.Duration
	// FinalWithin (WORKER_FINAL_WITHIN): how long a claim may wait for ePay's final
	// answer (a not-final failure, a success not found or in progress) before the
	// invoice goes to review.
	FinalWithin time.Duration

	// Retention (WORKER_RETENTION): the history bodies (callbacks as received, status
	// answers) of closed invoices (paid, failed, review, none waiting for ePay) unchanged
	// this long are dropped, once an hour; their states, applied ids and event ids stay.
	// 0 (the default): kept for ever; the bodies are the evidence in a dispute, so how long
	// to keep them is the operator's call.
	Retention time.Duration

	// Keys (EPAY_SECRET_KEYS, the ingest's keyring): the worker verifies each callback's
	// secret_hash itself and trusts no header about it. Required.
	Keys *epay.Keyring
	// StatusKey (WORKER_STATUS_KEY): the key of the HMAC the worker signs its status
	// answers with, and checks on every status message it applies: a status message
	// without it (anyone else's) never moves an invoice. Outside prod, empty means a
	// random key kept beside the database (<db>.status-key); prod requires it.
	StatusKey string
	// StatusKeysPrevious (WORKER_STATUS_KEY_PREVIOUS): status keys of before a rotation,
	// which still verify (status answers, resolutions and operation steps in the inbox
	// or the DLQ, EPAY_STATE's records, leases) and never sign (docs/DEPLOY.md, "Rotate
	// WORKER_STATUS_KEY").
	StatusKeysPrevious []string
	// EventsKey (WORKER_EVENTS_KEY): the Ed25519 key ("whsk_...") each payment event is
	// signed with (Standard Webhooks' v1a headers), so that subscribers and the webhooks
	// service take only the workers' events. Required in prod; outside it, empty means
	// unsigned events.
	EventsKey string
	// AcceptUnsignedCreatedBefore (WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE): the upgrade's
	// transition. An invoice.created without the initiator's signature that EPAY_INBOX
	// stored before this instant (the server's time of storing it, which no publisher
	// sets) is applied as the initiators before the signature published it, counted and
	// logged; one stored later goes to the DLQ. A wrong signature is never accepted. Zero
	// (the default): every unsigned invoice.created goes to the DLQ.
	AcceptUnsignedCreatedBefore time.Time

	// ShardLease (WORKER_SHARD_LEASE): how long a worker's membership and its claim on
	// its shards last unless renewed (every third of it, when the worker also takes a
	// rebalance step). After a crash the others take its shards this long after its last
	// renewal.
	ShardLease time.Duration

	// abandonOnStop (tests only): a stop leaves the membership and the leases to run
	// out, as a killed worker does, instead of giving them back.
	abandonOnStop bool
}

// DefaultMaxInFlightTotal is -max-in-flight-total's default. Each message in flight
// costs about 60 KiB at the peak of a drain (its handler's goroutine and its 32 KiB
// stack, the goroutine that settles it, the message and what its handling holds). In
// quick drains of a worker alone on 64 shards, the Go runtime's memory peaked at
// 290-360 MiB with 4,096 in flight (64 a shard), 190-225 MiB with 2,048 and
// 125-140 MiB with 1,024, which drained 10-20% slower than 4,096 (the runs are noisy)
// with shorter pauses. The bbolt file's pages come on top in the resident set: a full
// run's worker peaked at 249-264 MiB with 2,048 (bench/NOTES.md, session 10).
const DefaultMaxInFlightTotal = 1024

// DefaultConfig is the configuration without flags.
func DefaultConfig() Config {
	return Config{Addr: ":8082", DB: "./var/worker.db", NATSURL: "nats://127.0.0.1:4222", Shards: inbox.DefaultShards,
		EventSource: "epayflow/worker", Streams: natsbus.DefaultStreamsConfig(), AckWait: 30 * time.Second,
		MaxInFlight: 64, MaxInFlightTotal: DefaultMaxInFlightTotal, MaxDeliveries: 10, LockTimeout: time.Second, SampleEvery: 5 * time.Second,
		EPayEnv: epay.EnvSandbox, ReconcileAfter: 30 * time.Minute, StatusConcurrency: 4, CheckEvery: 5 * time.Second,
		FinalWithin: 24 * time.Hour, MaxPending: bolt.DefaultMaxPending, MaxPendingBytes: bolt.DefaultMaxPendingBytes,
		ShardLease: 15 * time.Second}
}

// Validate reports the first bad setting; the error wraps ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if err := httpserver.CheckAddr(c.Addr); err != nil {
		return bad("-addr (WORKER_ADDR) %v", err)
	}
	if err := httpserver.CheckAddr(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		return bad("-metrics-addr (WORKER_METRICS_ADDR) %v", err)
	}
	if err := natsbus.CheckURLs(c.NATSURL); err != nil {
		return bad("%v", err)
	}
	switch {
	case c.DB == "":
		return bad("-db (WORKER_DB) is empty")
	case c.Shards < 1 || c.Shards > inbox.MaxShards:
		return bad("-shards (EPAY_SHARDS) %d: want 1 to %d", c.Shards, inbox.MaxShards)
	case c.OwnShards != nil && len(c.OwnShards) == 0:
		return bad("-own-shards (WORKER_SHARDS) names no shard")
	case c.EventSource == "":
		return bad("-event-source is empty")
	case c.AckWait < time.Second:
		return bad("-ack-wait %s: want at least 1s", c.AckWait)
	case c.MaxInFlight < 1 || c.MaxInFlight > 4096:
		return bad("-max-in-flight %d: want 1 to 4096", c.MaxInFlight)
	case c.MaxInFlightTotal < 1 || c.MaxInFlightTotal > 65536:
		return bad("-max-in-flight-total (WORKER_MAX_IN_FLIGHT_TOTAL) %d: want 1 to 65536", c.MaxInFlightTotal)
	case c.MaxDeliveries < 1:
		return bad("-max-deliveries must be at least 1")
	case c.ShardLease < 3*time.Second || c.ShardLease > 10*time.Minute:
		return bad("-shard-lease (WORKER_SHARD_LEASE) %s: want 3s to 10m", c.ShardLease)
	case c.MaxPending < 1 || c.MaxPending > 10_000:
		return bad("-max-pending (WORKER_MAX_PENDING) %d: want 1 to 10000", c.MaxPending)
	case c.MaxPendingBytes < 1<<10 || c.MaxPendingBytes > 64<<20:
		return bad("-max-pending-bytes (WORKER_MAX_PENDING_BYTES) %d: want 1 KiB to 64 MiB", c.MaxPendingBytes)
	case c.Retention < 0 || c.Retention > 0 && c.Retention < 24*time.Hour:
		return bad("-retention (WORKER_RETENTION) %s: want 0 (keep every body) or at least 24h", c.Retention)
	case c.LockTimeout <= 0 || c.SampleEvery <= 0:
		return bad("-lock-timeout and sampling interval must be positive")
	case c.Keys == nil:
		return bad("-secret-keys (EPAY_SECRET_KEYS) is required: the ingest's KID:secret[,KID:secret...], to verify secret_hash")
	case c.StatusKey == "" && c.EPayEnv == epay.EnvProd:
		return bad("-status-key (WORKER_STATUS_KEY) is required with EPAY_ENV=prod: a secret of at least %d characters only the workers hold", inbox.MinStatusKey)
	case c.StatusKey != "" && len(c.StatusKey) < inbox.MinStatusKey:
		return bad("-status-key (WORKER_STATUS_KEY) is %d characters: want at least %d", len(c.StatusKey), inbox.MinStatusKey)
	case c.EventsKey == "" && c.EPayEnv == epay.EnvProd:
		return bad("-events-key (WORKER_EVENTS_KEY) is required with EPAY_ENV=prod: the Ed25519 key subscribers verify events with (worker events-key makes one)")
	case len(c.StatusKeysPrevious) > 0 && c.StatusKey == "":
		return bad("-status-key-previous (WORKER_STATUS_KEY_PREVIOUS) without -status-key (WORKER_STATUS_KEY): a rotation needs the new key")
	}
	for i, k := range c.StatusKeysPrevious {
		if len(k) < inbox.MinStatusKey {
			return bad("-status-key-previous (WORKER_STATUS_KEY_PREVIOUS) entry %d is %d characters: want at least %d", i+1, len(k), inbox.MinStatusKey)
		}
	}
	if c.EventsKey != "" {
		if _, err := events.ParseSigningKey(c.EventsKey); err != nil {
			return bad("-events-key (WORKER_EVENTS_KEY): %v", err)
		}
	}
	if err := checkAdvertiseURL(c.AdvertiseURL); err != nil {
		return bad("-advertise-url (WORKER_ADVERTISE_URL) %q: %v", c.AdvertiseURL, err)
	}
	if c.EPayEnv == epay.EnvProd {
		if err := c.Keys.CheckNotPublic(); err != nil {
			return bad("-secret-keys (EPAY_SECRET_KEYS) with EPAY_ENV=prod: %v", err)
		}
		if err := c.checkNotPublic(); err != nil {
			return bad("with EPAY_ENV=prod: %v", err)
		}
	}
	if err := c.validateEPay(); err != nil {
		return bad("%v", err)
	}
	if err := c.NATS.Validate(); err != nil {
		return bad("%v", err)
	}
	switch a := c.StreamsNATS; {
	case a.User == "" && a.Password != "":
		return bad("-streams-nats-password (WORKER_STREAMS_NATS_PASSWORD) is set but -streams-nats-user (WORKER_STREAMS_NATS_USER) is not")
	case a.User != "" && a.Password == "":
		return bad("-streams-nats-user (WORKER_STREAMS_NATS_USER) %q has no password: set WORKER_STREAMS_NATS_PASSWORD_FILE (or WORKER_STREAMS_NATS_PASSWORD)", a.User)
	case strings.ContainsAny(a.User, " \t\r\n"):
		return bad("-streams-nats-user (WORKER_STREAMS_NATS_USER) %q contains white space", a.User)
	case a.User != "" && a.User == c.NATS.User:
		return bad("-streams-nats-user (WORKER_STREAMS_NATS_USER) is the worker's own NATS user %q: it is the streams identity (user streams)", a.User)
	}
	for _, s := range c.OwnShards {
		if s < 0 || s >= c.Shards {
			return bad("-own-shards (WORKER_SHARDS): shard %d outside 0-%d", s, c.Shards-1)
		}
	}
	if err := c.Streams.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// checkNotPublic refuses, for production, secrets this repository publishes
// (epay.IsPublicSecret) and ePay's published test credentials; the read keys are checked
// by ParseFlags (Config keeps only their hashes). It names the variable, never the value.
func (c Config) checkNotPublic() error {
	secrets := [][2]string{{"-status-key (WORKER_STATUS_KEY)", c.StatusKey}, {"-events-key (WORKER_EVENTS_KEY)", c.EventsKey}, {"-nats-password (NATS_PASSWORD)", c.NATS.Password},
		{"-streams-nats-password (WORKER_STREAMS_NATS_PASSWORD)", c.StreamsNATS.Password}}
	for i, k := range c.StatusKeysPrevious {
		secrets = append(secrets, [2]string{fmt.Sprintf("-status-key-previous (WORKER_STATUS_KEY_PREVIOUS) entry %d", i+1), k})
	}
	for _, s := range secrets {
		if err := epay.CheckSecret(s[0], s[1]); err != nil {
			return err
		}
	}
	if c.EPay != nil {
		return c.EPay.CheckNotPublic()
	}
	return nil
}

// checkReadKeysNotPublic refuses, for production, read keys (WORKER_READ_KEYS,
// name:scope:key,...; ParseReadKeys has checked the form) this repository publishes,
// naming the reader, never its key.
func checkReadKeysNotPublic(readKeys string) error {
	for _, part := range strings.Split(readKeys, ",") {
		name, rest, _ := strings.Cut(strings.TrimSpace(part), ":")
		_, key, _ := strings.Cut(rest, ":")
		if err := epay.CheckSecret(fmt.Sprintf("-read-keys (WORKER_READ_KEYS) key %q", name), key); err != nil {
			return err
		}
	}
	return nil
}

// validateEPay checks the ePay client and what uses it.
func (c Config) validateEPay() error {
	if _, err := epayapi.Preset(c.EPayEnv); err != nil {
		return fmt.Errorf("-epay-env (EPAY_ENV): %v", err)
	}
	switch {
	case c.ConfirmPayments && c.EPay == nil:
		return errors.New("-confirm-payments (WORKER_CONFIRM_PAYMENTS) on needs an ePay client: set EPAY_API_URL, or EPAY_ENV=test or prod")
	case !c.ConfirmPayments && c.EPayEnv == epay.EnvProd:
		// secret_hash is no proof of payment: ePay posts it to whatever postLink the payment
		// object names, and a P2P transfer's object is in the shopper's browser
		return errors.New("-confirm-payments (WORKER_CONFIRM_PAYMENTS) off with EPAY_ENV=prod: a callback's secret_hash proves only that its sender " +
			"knew it, and a shopper can have ePay post it to their own server (a P2P payment object's postLink is in their browser); " +
			"in prod every success is confirmed with ePay's status API")
	case c.ReconcileAfter < 0:
		return fmt.Errorf("-reconcile-after (WORKER_RECONCILE_AFTER) %s is negative", c.ReconcileAfter)
	case c.StatusConcurrency < 1 || c.StatusConcurrency > 64:
		return fmt.Errorf("-status-concurrency (WORKER_STATUS_CONCURRENCY) %d: want 1 to 64", c.StatusConcurrency)
	case c.CheckEvery <= 0:
		return fmt.Errorf("-check-every (WORKER_CHECK_EVERY) %s: want more than 0", c.CheckEvery)
	case c.FinalWithin <= 0:
		return fmt.Errorf("-final-within (WORKER_FINAL_WITHIN) %s: want more than 0", c.FinalWithin)
	case c.EPay == nil:
		return nil
	case c.EPayEnv == epay.EnvProd && !c.EPay.RequireTLS:
		return errors.New("EPAY_ENV=prod requires https ePay endpoints")
	}
	return c.EPay.Validate()
}

// ParseFlags reads the configuration from args and the environment (flags win).
// A -h prints the flags with their variables to stderr and returns flag.ErrHelp; every
// other error wraps ErrConfig and is one line.
func ParseFlags(name string, args []string, getenv func(string) string) (Config, error) {
	c, _, err := parseCommand(name, args, getenv, os.Stderr)
	return c, err
}

// ParseCommand is ParseFlags with the -h text going to usage, and the log flags for
// main's logger.
func ParseCommand(name string, args []string, getenv func(string) string, usage io.Writer) (Config, logging.Flags, error) {
	return parseCommand(name, args, getenv, usage)
}

// envNames are the environment variables of the flags.
var envNames = envflag.Merge(epayapi.FlagEnvNames, natsbus.StreamFlagEnvNames, natsbus.StreamLimitFlagEnvNames, natsbus.AuthFlagEnvNames, logging.FlagEnvNames, map[string]string{
	"addr": "WORKER_ADDR", "db": "WORKER_DB", "nats-url": "NATS_URL", "shards": "EPAY_SHARDS",
	"own-shards": "WORKER_SHARDS", "event-source": "WORKER_EVENT_SOURCE",
	"ack-wait": "WORKER_ACK_WAIT", "max-in-flight": "WORKER_MAX_IN_FLIGHT", "max-in-flight-total": "WORKER_MAX_IN_FLIGHT_TOTAL", "max-deliveries": "WORKER_MAX_DELIVERIES",
	"confirm-payments": "WORKER_CONFIRM_PAYMENTS", "reconcile-after": "WORKER_RECONCILE_AFTER",
	"status-concurrency": "WORKER_STATUS_CONCURRENCY", "check-every": "WORKER_CHECK_EVERY",
	"final-within": "WORKER_FINAL_WITHIN", "metrics-addr": "WORKER_METRICS_ADDR", "shard-lease": "WORKER_SHARD_LEASE", "read-keys": "WORKER_READ_KEYS", "max-pending": "WORKER_MAX_PENDING", "max-pending-bytes": "WORKER_MAX_PENDING_BYTES", "secret-keys": "EPAY_SECRET_KEYS", "status-key": "WORKER_STATUS_KEY", "status-key-previous": "WORKER_STATUS_KEY_PREVIOUS", "events-key": "WORKER_EVENTS_KEY",
	"lock-timeout": "WORKER_LOCK_TIMEOUT", "advertise-url": "WORKER_ADVERTISE_URL", "retention": "WORKER_RETENTION",
	"accept-unsigned-created-before": "WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE",
	"streams-nats-user":              "WORKER_STREAMS_NATS_USER", "streams-nats-password": "WORKER_STREAMS_NATS_PASSWORD",
})

// parseFlags is parseCommand without the log flags.
func parseFlags(name string, args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c, _, err := parseCommand(name, args, getenv, usage)
	return c, err
}

func parseCommand(name string, args []string, getenv func(string) string, usage io.Writer) (Config, logging.Flags, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	own := "auto"
	confirm := "auto"
	var ep epayapi.Flags
	ep.Bind(fs)
	fs.StringVar(&confirm, "confirm-payments", confirm, "confirm success callbacks with ePay's status API before paid: on, off or auto (on when -epay-env=prod)")
	fs.DurationVar(&c.ReconcileAfter, "reconcile-after", c.ReconcileAfter, "ask ePay's status API about invoices left created this long (0: never; needs an ePay client)")
	fs.IntVar(&c.StatusConcurrency, "status-concurrency", c.StatusConcurrency, "ePay status requests in flight at most")
	fs.DurationVar(&c.CheckEvery, "check-every", c.CheckEvery, "how often invoices waiting for a status check are looked at")
	fs.DurationVar(&c.FinalWithin, "final-within", c.FinalWithin, "how long a claim waits for ePay's final answer (not final, not found, in progress) before review")
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (read API, /metrics, /livez, /readyz)")
	fs.StringVar(&c.DB, "db", c.DB, "bbolt file of this worker (one per worker, never shared)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS server URL(s), comma-separated")
	c.NATS.BindFlags(fs)
	fs.StringVar(&c.StreamsNATS.User, "streams-nats-user", "", "the streams identity (NATS user streams): set, the worker makes the streams and buckets at its start as that user; empty, it waits for `worker streams` to have made them")
	fs.StringVar(&c.StreamsNATS.Password, "streams-nats-password", "", "password of -streams-nats-user (prefer WORKER_STREAMS_NATS_PASSWORD_FILE)")
	fs.IntVar(&c.Shards, "shards", c.Shards, "total number of inbox shards (the same in every service)")
	fs.StringVar(&own, "own-shards", own, `shards this worker consumes: "auto" (the live workers share them out and move them as workers come and go), or an override: "all", a list such as "0-3,6", or "ordinal:R" (shards s with s mod R = the ordinal in POD_NAME)`)
	fs.StringVar(&c.EventSource, "event-source", c.EventSource, "CloudEvents source of the payment events")
	c.Streams.BindFlags(fs, "each stream")
	c.Streams.BindLimitFlags(fs)
	fs.DurationVar(&c.AckWait, "ack-wait", c.AckWait, "redeliver an inbox message not acked within this")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "unacked inbox messages per shard handled at once")
	fs.IntVar(&c.MaxInFlightTotal, "max-in-flight-total", c.MaxInFlightTotal, "unacked inbox messages handled at once over every shard the worker owns (bounds its memory)")
	fs.Uint64Var(&c.MaxDeliveries, "max-deliveries", c.MaxDeliveries, "deliveries of a failing message before it goes to the DLQ")
	fs.DurationVar(&c.LockTimeout, "lock-timeout", c.LockTimeout, "wait this long for the database file lock")
	fs.DurationVar(&c.ShardLease, "shard-lease", c.ShardLease, "a worker's membership and claim on its shards last this long unless renewed; a silent worker's shards move after it")
	fs.IntVar(&c.MaxPending, "max-pending", c.MaxPending, "callbacks kept for one invoice not created yet (more go to the DLQ)")
	fs.IntVar(&c.MaxPendingBytes, "max-pending-bytes", c.MaxPendingBytes, "bytes of callbacks kept for one invoice not created yet")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "drop the history bodies of closed invoices unchanged this long (0: keep them; at least 24h)")
	var keys, readKeys, unsignedBefore string
	fs.StringVar(&unsignedBefore, "accept-unsigned-created-before", "", "upgrade transition: apply an invoice.created without the initiator's signature if EPAY_INBOX stored it before this RFC 3339 time (empty: never)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics here only, apart from the read API (empty: on -addr)")
	fs.StringVar(&c.AdvertiseURL, "advertise-url", "", "where the other workers reach this worker's read API, such as http://10.0.0.7:8082 (reads of its shards are forwarded there; empty: none)")
	fs.StringVar(&readKeys, "read-keys", "", "read API keys, name:scope:key[,...] with scope read (personal data masked), pii, operator (read, and resolve invoices in review or unmatched) or operate (read, and refund, charge or cancel: the initiator's key)")
	fs.StringVar(&keys, "secret-keys", "", "the ingest's secret_hash keys, KID:secret[,KID:secret...]: the worker verifies every callback itself")
	fs.StringVar(&c.StatusKey, "status-key", "", "HMAC key of the worker's own status messages (outside prod: a random key in <db>.status-key)")
	var previous string
	fs.StringVar(&c.EventsKey, "events-key", "", "Ed25519 key the payment events are signed with, whsk_<base64 seed> (`worker events-key` makes one; required in prod, else events go unsigned)")
	fs.StringVar(&previous, "status-key-previous", "", "status keys of before a rotation, comma-separated: they still verify, never sign")
	lf := logging.DefaultFlags()
	lf.Bind(fs)
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig, Subcommands...); err != nil {
		return c, lf, err
	}
	// Every required setting left unset, at once.
	missing := ep.Missing()
	if keys == "" {
		missing = append(missing, "EPAY_SECRET_KEYS")
	}
	if c.StatusKey == "" && ep.Env == epay.EnvProd {
		missing = append(missing, "WORKER_STATUS_KEY")
	}
	if c.EventsKey == "" && ep.Env == epay.EnvProd {
		missing = append(missing, "WORKER_EVENTS_KEY")
	}
	if len(missing) > 0 {
		return c, lf, fmt.Errorf("%w: %s", ErrConfig, envflag.Missing(missing))
	}
	for _, k := range strings.Split(previous, ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.StatusKeysPrevious = append(c.StatusKeysPrevious, k)
		}
	}
	var err error
	if keys != "" {
		if c.Keys, err = epay.ParseKeyring(keys); err != nil {
			return c, lf, fmt.Errorf("%w: -secret-keys (EPAY_SECRET_KEYS): %v", ErrConfig, err)
		}
	}
	if unsignedBefore != "" {
		if c.AcceptUnsignedCreatedBefore, err = time.Parse(time.RFC3339Nano, unsignedBefore); err != nil {
			return c, lf, fmt.Errorf("%w: -accept-unsigned-created-before (WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE) %q: want an RFC 3339 time such as 2026-05-01T12:00:00Z", ErrConfig, unsignedBefore)
		}
	}
	if c.ReadKeys, err = ParseReadKeys(readKeys); err != nil {
		return c, lf, fmt.Errorf("%w: -read-keys (WORKER_READ_KEYS): %v", ErrConfig, err)
	}
	if ep.Env == epay.EnvProd {
		if err := checkReadKeysNotPublic(readKeys); err != nil {
			return c, lf, fmt.Errorf("%w: with EPAY_ENV=prod: %v", ErrConfig, err)
		}
	}
	if strings.HasPrefix(own, "ordinal:") {
		c.OwnShards, err = OrdinalShards(own, getenv("POD_NAME"), c.Shards)
	} else {
		c.OwnShards, err = ParseShards(own, c.Shards)
	}
	if err != nil {
		return c, lf, err
	}
	if err := c.applyEPay(ep, confirm); err != nil {
		return c, lf, err
	}
	if err := lf.Check(); err != nil {
		return c, lf, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, lf, c.Validate()
}

// applyEPay sets the ePay client (when the flags name one) and the confirmation policy.
func (c *Config) applyEPay(ep epayapi.Flags, confirm string) error {
	c.EPayEnv = ep.Env
	if ep.Configured() {
		ec, err := ep.Config()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		c.EPay = &ec
	}
	switch confirm {
	case "on", "true":
		c.ConfirmPayments = true
	case "off", "false":
		c.ConfirmPayments = false
	case "auto", "":
		c.ConfirmPayments = ep.Env == epay.EnvProd
	default:
		return fmt.Errorf("%w: -confirm-payments (WORKER_CONFIRM_PAYMENTS) %q: want on, off or auto", ErrConfig, confirm)
	}
	return nil
}

// ParseShards reads "auto" (nil: the live workers assign the shards), "all" or a list
// of shards and ranges such as "0-3,6".
func ParseShards(s string, total int) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "auto" {
		return nil, nil
	}
	if s == "all" || s == "" {
		out := make([]int, total)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, errA := strconv.Atoi(lo)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.Atoi(hi)
		}
		if errA != nil || errB != nil || a > b || a < 0 || b >= total {
			return nil, fmt.Errorf("%w: WORKER_SHARDS %q: %q is not a shard or range within 0-%d", ErrConfig, s, part, total-1)
		}
		for i := a; i <= b; i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	return out, nil
}

// OrdinalShards reads "ordinal:R", the form a StatefulSet of R workers uses: the pod's
// ordinal N is the number after the last '-' of podName ("worker-1" is 1), and it owns
// every shard s with s mod R == N. It refuses a pod name without an ordinal and N >= R.
func OrdinalShards(spec, podName string, total int) ([]int, error) {
	r, err := strconv.Atoi(strings.TrimPrefix(spec, "ordinal:"))
	if err != nil || r < 1 || r > total {
		return nil, fmt.Errorf("%w: WORKER_SHARDS %q: want ordinal:R with R from 1 to %d", ErrConfig, spec, total)
	}
	i := strings.LastIndexByte(podName, '-')
	n, err := strconv.Atoi(podName[i+1:])
	if i < 0 || err != nil || n < 0 {
		return nil, fmt.Errorf("%w: WORKER_SHARDS %q needs POD_NAME ending in -<ordinal>, got %q", ErrConfig, spec, podName)
	}
	if n >= r {
		return nil, fmt.Errorf("%w: WORKER_SHARDS %q: pod ordinal %d is not below %d replicas", ErrConfig, spec, n, r)
	}
	var out []int
	for s := n; s < total; s += r {
		out = append(out, s)
	}
	return out, nil
}
