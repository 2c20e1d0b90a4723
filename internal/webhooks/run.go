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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// envNames are the variables of the flags.
var envNames = envflag.Merge(natsbus.AuthFlagEnvNames, map[string]string{
	"nats-url": "NATS_URL", "addr": "WEBHOOKS_ADDR", "api-keys": "WEBHOOKS_API_KEYS",
	"allow-private": "WEBHOOKS_ALLOW_PRIVATE", "allow-http": "WEBHOOKS_ALLOW_HTTP", "timeout": "WEBHOOKS_TIMEOUT",
	"replicas": "WEBHOOKS_REPLICAS", "log-format": "LOG_FORMAT", "log-level": "LOG_LEVEL",
})

// ParseCommand reads the configuration from args and getenv (a flag wins over its variable).
func ParseCommand(name string, args []string, getenv func(string) string, usage io.Writer) (Config, logging.Flags, error) {
	cfg := Config{NATSURL: "nats://127.0.0.1:4222", Addr: ":8084", Timeout: 10 * time.Second, Replicas: 1}
	lf := logging.DefaultFlags()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	var keys, allow string
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "NATS server URLs, comma-separated")
	cfg.Auth.BindFlags(fs)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address of the endpoints API, /metrics and the health checks")
	fs.StringVar(&keys, "api-keys", "", "API keys of the endpoints API, comma-separated, at least 16 characters each (required)")
	fs.StringVar(&allow, "allow-private", "", "CIDR prefixes deliveries may reach although not public (loopback, private, link-local): for tests and local stacks only")
	fs.BoolVar(&cfg.AllowHTTP, "allow-http", false, "accept http:// endpoints (local development only)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each delivery request")
	fs.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "replicas of the EPAY_WEBHOOKS bucket, like the streams'")
	lf.Bind(fs)
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig); err != nil {
		return cfg, lf, err
	}
	cfg.APIKeys = splitList(keys)
	var err error
	if cfg.AllowPrivate, err = ParseAllow(allow); err != nil {
		return cfg, lf, fmt.Errorf("%w: -allow-private (WEBHOOKS_ALLOW_PRIVATE): %v", ErrConfig, err)
	}
	return cfg, lf, cfg.Validate()
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
	var store *Store
	if err := natsbus.EnsureUntil(ctx, log, "bucket "+Bucket, func(ctx context.Context) (err error) {
		store, err = OpenStore(ctx, js, cfg.Replicas)
		return err
	}); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	d := NewDispatcher(cfg, store, m, log)
	sub, err := jspubsub.NewSubscriber(js, d.SubscriberConfig())
	if err != nil {
		return err
	}
	defer sub.Close()
	mux := http.NewServeMux()
	NewAPI(cfg, store, d, log).Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	httpserver.Health(mux, map[string]httpserver.Check{
		"nats": func(context.Context) error { return natsbus.NotConnected(nc, cfg.NATSURL) },
	})
	srv.Handle(mux)
	httpserver.Listening(ctx, srv.URL())
	log.Info("webhooks listening", "url", srv.URL(), "allow_private", len(cfg.AllowPrivate), "api_keys", len(cfg.APIKeys))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ctx) }()
	err = d.Run(ctx, sub)
	cancel()
	if herr := <-httpErr; err == nil || errors.Is(err, context.Canceled) {
		err = herr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
