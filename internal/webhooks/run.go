package webhooks

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/httpmetrics"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/merchant"
)

// envNames are the variables of the flags.
var envNames = envflag.Merge(natsbus.AuthFlagEnvNames, map[string]string{
	"nats-url": "NATS_URL", "addr": "WEBHOOKS_ADDR", "metrics-addr": "WEBHOOKS_METRICS_ADDR", "api-keys": "WEBHOOKS_API_KEYS",
	"allow-private": "WEBHOOKS_ALLOW_PRIVATE", "allow-http": "WEBHOOKS_ALLOW_HTTP", "timeout": "WEBHOOKS_TIMEOUT",
	"replicas": "WEBHOOKS_REPLICAS", "retry-schedule": "WEBHOOKS_RETRY_SCHEDULE", "events-public-keys": "WEBHOOKS_EVENTS_PUBLIC_KEYS", "secrets-key": "WEBHOOKS_SECRETS_KEY", "epay-env": "EPAY_ENV", "log-format": "LOG_FORMAT", "log-level": "LOG_LEVEL",
})

// ParseCommand reads the configuration from args and getenv (a flag wins over its variable).
func ParseCommand(name string, args []string, getenv func(string) string, usage io.Writer) (Config, logging.Flags, error) {
	cfg := Config{NATSURL: "nats://127.0.0.1:4222", Addr: ":8084", Timeout: 10 * time.Second, Replicas: 1, Env: epay.EnvSandbox}
	lf := logging.DefaultFlags()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	var keys, allow, schedule, eventKeys, secretsKey string
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "NATS server URLs, comma-separated")
	cfg.Auth.BindFlags(fs)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address of the endpoints API, /metrics and the health checks")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics here only, apart from the API (empty: on -addr)")
	fs.StringVar(&keys, "api-keys", "", "API keys of the endpoints API, comma-separated, at least 16 characters each (required)")
	fs.StringVar(&eventKeys, "events-public-keys", "", "the workers' public keys (whpk_..., comma-separated; `worker events-key -public` prints one): an event without their signature is never delivered (empty: events are not verified; set it in prod)")
	fs.StringVar(&secretsKey, "secrets-key", "", "base64 of 32 random bytes that seal the endpoints' signing secrets in the EPAY_WEBHOOKS bucket (empty: stored as they are; set it in prod)")
	fs.StringVar(&allow, "allow-private", "", "CIDR prefixes deliveries may reach although not public (loopback, private, link-local): for tests and local stacks only")
	fs.BoolVar(&cfg.AllowHTTP, "allow-http", false, "accept http:// endpoints (local development only)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each delivery request")
	fs.StringVar(&schedule, "retry-schedule", "", "delays before each retry, comma-separated (default 5s,5m,30m,2h,5h,10h,10h: 8 attempts over about 28 hours); after the last the event is dead")
	fs.StringVar(&cfg.Env, "epay-env", cfg.Env, "environment: sandbox, test or prod (prod requires -events-public-keys and -secrets-key, and refuses the documented example secrets)")
	fs.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "unused: `worker streams` makes the EPAY_WEBHOOKS bucket, with the streams' replicas")
	lf.Bind(fs)
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig); err != nil {
		return cfg, lf, err
	}
	cfg.APIKeys = splitList(keys)
	var err error
	if secretsKey != "" {
		if cfg.SecretsKey, err = ParseSecretsKey(secretsKey); err != nil {
			return cfg, lf, fmt.Errorf("%w: -secrets-key (WEBHOOKS_SECRETS_KEY): %v", ErrConfig, err)
		}
	}
	if keys := splitList(eventKeys); len(keys) > 0 {
		if cfg.Events, err = merchant.NewEventVerifier(keys...); err != nil {
			return cfg, lf, fmt.Errorf("%w: -events-public-keys (WEBHOOKS_EVENTS_PUBLIC_KEYS): %v", ErrConfig, err)
		}
	}
	if cfg.AllowPrivate, err = ParseAllow(allow); err != nil {
		return cfg, lf, fmt.Errorf("%w: -allow-private (WEBHOOKS_ALLOW_PRIVATE): %v", ErrConfig, err)
	}
	if cfg.Schedule, err = ParseSchedule(schedule); err != nil {
		return cfg, lf, fmt.Errorf("%w: -retry-schedule (WEBHOOKS_RETRY_SCHEDULE): %v", ErrConfig, err)
	}
	return cfg, lf, cfg.Validate()
}

// ParseSchedule reads a retry schedule, "5s,5m,30m": positive durations, at most 20.
// Empty is nil: the default.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range splitList(s) {
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration", f)
		}
		out = append(out, d)
	}
	if len(out) > 20 {
		return nil, fmt.Errorf("%d retries: at most 20", len(out))
	}
	return out, nil
}

// Run runs the webhooks service until ctx ends: the endpoints API and the dispatcher.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	srv, err := httpserver.Listen(cfg.Addr, nil, httpserver.Timeouts{}, log)
	if err != nil {
		return fmt.Errorf("%w: -addr (WEBHOOKS_ADDR): %w", ErrConfig, err)
	}
	defer srv.Close()
	var msrv *httpserver.Server
	if cfg.MetricsAddr != "" { // its own listener: the only port monitoring may reach
		if msrv, err = httpserver.Listen(cfg.MetricsAddr, nil, httpserver.Timeouts{}, log); err != nil {
			return fmt.Errorf("%w: -metrics-addr (WEBHOOKS_METRICS_ADDR): %w", ErrConfig, err)
		}
		defer msrv.Close()
	}
	nc, err := natsbus.ConnectAs(cfg.NATSURL, "epayflow-webhooks", natsbus.RoleWebhooks, cfg.Auth, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := natsbus.Drain(nc, 10*time.Second); err != nil {
			log.Warn("nats drain", "err", err)
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// `worker streams` creates PAYMENT_EVENTS and the bucket (this role may not): started
	// first, as a pod may be, wait for them rather than fail.
	if err := natsbus.EnsureUntil(ctx, log, "stream "+natsbus.StreamEvents, func(ctx context.Context) error {
		return natsbus.BindStreams(ctx, js, natsbus.StreamEvents)
	}); err != nil {
		return ignoreCanceled(err)
	}
	var store *Store
	if err := natsbus.EnsureUntil(ctx, log, "bucket "+Bucket, func(ctx context.Context) (err error) {
		store, err = OpenStore(ctx, js)
		return err
	}); err != nil {
		return ignoreCanceled(err)
	}
	if cfg.SecretsKey != nil {
		if err := store.SealSecrets(cfg.SecretsKey); err != nil {
			return err
		}
		var n int
		if err := natsbus.EnsureUntil(ctx, log, "reseal endpoints", func(ctx context.Context) (err error) {
			n, err = store.Reseal(ctx)
			return err
		}); err != nil {
			return ignoreCanceled(err)
		}
		if n > 0 {
			log.Info("endpoint secrets sealed again, bound to their URL and event types", "endpoints", n)
		}
	} else {
		log.Warn("the endpoints' signing secrets are stored as they are in EPAY_WEBHOOKS: set WEBHOOKS_SECRETS_KEY (required with EPAY_ENV=prod)")
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	reg.MustRegister(newDeadLetterGauge(store), natsbus.NewTLSExpiry(nc, natsbus.TLSProbeEvery))
	d := NewDispatcher(cfg, store, m, log)
	d.fetch = func(ctx context.Context, seq uint64) ([]byte, error) {
		st, err := js.Stream(ctx, natsbus.StreamEvents)
		if err != nil {
			return nil, err
		}
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		if cfg.Events != nil { // read back from the stream: the workers' as handle takes them
			if _, err := cfg.Events.Verify(msg.Header, msg.Data); err != nil {
				m.Refused.Inc()
				return nil, fmt.Errorf("%w: event %d: %v", errNotWorkers, seq, err)
			}
		}
		return msg.Data, nil
	}
	sub, err := jspubsub.NewSubscriber(js, d.SubscriberConfig())
	if err != nil {
		return err
	}
	defer sub.Close()
	mux := http.NewServeMux()
	NewAPI(cfg, store, d, log).Register(mux) // its replays read events back through d.fetch
	metrics := httpmetrics.Handler(reg)
	if msrv == nil {
		mux.Handle("GET /metrics", metrics)
	}
	httpserver.Health(mux, map[string]httpserver.Check{
		"nats": func(context.Context) error { return natsbus.NotConnected(nc, cfg.NATSURL) },
	})
	srv.Handle(mux)
	httpserver.Listening(ctx, srv.URL())
	log.Info("webhooks listening", "url", srv.URL(), "allow_private", len(cfg.AllowPrivate), "api_keys", len(cfg.APIKeys), "events_verified", cfg.Events != nil)
	if cfg.Events == nil {
		log.Warn("events are delivered without checking the workers' signature: set WEBHOOKS_EVENTS_PUBLIC_KEYS (required with EPAY_ENV=prod)")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 2)
	go func() { httpErr <- srv.Serve(ctx) }()
	if msrv != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		msrv.Handle(mmux)
		log.Info("metrics listening", "url", msrv.URL())
		go func() { httpErr <- msrv.Serve(ctx) }()
	}
	if err := holdBack(ctx, js, d, cfg.Durable); err != nil {
		return ignoreCanceled(err)
	}
	d.ackFloor = func(ctx context.Context) (uint64, error) {
		c, err := js.Consumer(ctx, natsbus.StreamEvents, cfg.Durable)
		if err != nil {
			return 0, err
		}
		return c.CachedInfo().AckFloor.Stream, nil
	}
	err = d.Run(ctx, sub)
	cancel()
	if herr := <-httpErr; err == nil || errors.Is(err, context.Canceled) {
		err = herr
	}
	if msrv != nil {
		if herr := <-httpErr; err == nil || errors.Is(err, context.Canceled) {
			err = herr
		}
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// ignoreCanceled is err, or nil when it is the end of Run's context: a stop.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// holdBack reads the dispatcher's consumer and holds back what a restart could reorder
// (Dispatcher.HoldBack). With no consumer (a first start, or one deleted) the consumer is
// to be made from one past the position the service kept (none on a first start).
func holdBack(ctx context.Context, js jetstream.JetStream, d *Dispatcher, durable string) error {
	var info *jetstream.ConsumerInfo
	err := natsbus.EnsureUntil(ctx, d.log, "consumer "+durable, func(ctx context.Context) error {
		s, err := js.Stream(ctx, natsbus.StreamEvents)
		if err != nil {
			return err
		}
		st := s.CachedInfo()
		d.stream = st.Created.UTC().Format(time.RFC3339Nano)
		c, err := js.Consumer(ctx, natsbus.StreamEvents, durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			pos, err := d.store.Position(ctx)
			if err != nil || pos.Seq == 0 {
				return err
			}
			// only on the stream it was kept on, and within what it holds: a stream made
			// again (its sequences start over) is read from its first event
			first, last := st.State.FirstSeq, st.State.LastSeq
			if pos.Stream != d.stream || pos.Seq+1 < first || pos.Seq > last {
				d.log.Warn("webhooks: no consumer on PAYMENT_EVENTS, and the position kept is not this stream's: made from its first event",
					"consumer", durable, "position_stream", pos.Stream, "position_seq", pos.Seq, "stream", d.stream, "first_seq", first, "last_seq", last)
				return nil
			}
			d.from = pos.Seq + 1
			d.log.Warn("webhooks: no consumer on PAYMENT_EVENTS: made again from the position kept (the events after it are delivered again)",
				"consumer", durable, "from_seq", d.from)
			return nil
		}
		if err == nil {
			info, err = c.Info(ctx)
		}
		return err
	})
	if err == nil {
		d.HoldBack(info, time.Now())
	}
	return err
}
