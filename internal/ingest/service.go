package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/epayflow/epayflow/internal/httpmetrics"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Run runs the ingest until ctx ends: it connects to NATS (in the background: a NATS
// that is down at start is waited for, with /readyz false and callbacks answered 503),
// ensures EPAY_INBOX, and serves. On ctx's end it stops taking requests, finishes those
// in flight (each gets its PubAck or its 503) and drains the NATS connection.
// It fails on bad config (ErrConfig) or when the address cannot be bound. It sets the
// process's GOGC to cfg.GCPercent (unless 0).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.GCPercent != 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := newService(cfg, reg, log)
	if err != nil {
		return err
	}
	httpserver.Listening(ctx, s.url())
	return s.run(ctx)
}

// url is the base URL of the listener: https when TLS is on.
func (s *service) url() string {
	if s.tls {
		return "https://" + s.http.Addr().String()
	}
	return s.http.URL()
}

// service is a running ingest: its NATS connection and its HTTP server.
type service struct {
	log    *slog.Logger
	nc     *nats.Conn
	http   *httpserver.Server
	tls    bool               // serve HTTPS with http.TLSConfig's certificate
	mhttp  *httpserver.Server // /metrics alone (Config.MetricsAddr), plain HTTP; nil: /metrics on http
	keeper *streamKeeper
}

// drainTimeout bounds the wait for NATS to flush and close on shutdown.
const drainTimeout = 10 * time.Second

func newService(cfg Config, reg *prometheus.Registry, log *slog.Logger) (*service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var cert *tls.Certificate
	if cfg.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: -tls-cert/-tls-key (INGEST_TLS_CERT/INGEST_TLS_KEY): %v", ErrConfig, err)
		}
		cert = &c
	}
	// The ports first: one that cannot be taken is said at once, before any NATS noise.
	srv, err := httpserver.Listen(cfg.Addr, nil, cfg.HTTP, log)
	if err != nil {
		return nil, fmt.Errorf("%w: -addr (INGEST_ADDR): %w", ErrConfig, err)
	}
	var msrv *httpserver.Server
	if cfg.MetricsAddr != "" { // its own listener: the only port monitoring may reach
		if msrv, err = httpserver.Listen(cfg.MetricsAddr, nil, httpserver.Timeouts{}, log); err != nil {
			srv.Close()
			return nil, fmt.Errorf("%w: -metrics-addr (INGEST_METRICS_ADDR): %w", ErrConfig, err)
		}
	}
	closeListeners := func() {
		srv.Close()
		if msrv != nil {
			msrv.Close()
		}
	}
	nc, err := natsbus.ConnectAs(cfg.NATSURL, "epayflow-ingest", natsbus.RoleIngest, cfg.NATS, log)
	if err != nil {
		closeListeners()
		return nil, err
	}
	reg.MustRegister(natsbus.NewTLSExpiry(nc, natsbus.TLSProbeEvery))
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		closeListeners()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	keeper := newStreamKeeper(nc, js, cfg.Shards, log)
	pub := natsPublisher{nc: nc, noStream: keeper.recheck, shardsDiffer: keeper.shards.Differ}
	msgs, err := inbox.NewBuilder(cfg.Shards)
	if err != nil {
		nc.Close()
		closeListeners()
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	hc := handlerConfig{Keys: cfg.Keys, Policy: cfg.Policy, Msgs: msgs, PublishTimeout: cfg.PublishTimeout, Guard: newGuard(cfg),
		Budget: newInvoiceBudget(cfg.InvoiceBudget, time.Now)}

	mux := http.NewServeMux()
	m.http.HandleStatus(mux, RoutePostlink, newHandler(RoutePostlink, hc, pub, m, log), callbackCodes...)
	m.http.HandleStatus(mux, RouteFailurePostlink, newHandler(RouteFailurePostlink, hc, pub, m, log), callbackCodes...)
	metrics := httpmetrics.Handler(reg)
	if cfg.MetricsAddr == "" { // not counted, nor are the probes: they would dilute the ratios
		mux.Handle("GET /metrics", metrics)
	}
	httpserver.Health(mux, map[string]httpserver.Check{
		"nats":   func(context.Context) error { return natsbus.NotConnected(nc, cfg.NATSURL) },
		"stream": streamCheck(nc, keeper),
	})
	srv.Handle(m.http.Unmatched(mux))
	if msrv != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		msrv.Handle(mmux)
	}
	if cert != nil {
		srv.HTTPServer().TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.Policy == PolicyAcceptUnverified {
		log.Warn("secret_hash policy accept-unverified: callbacks that fail secret_hash are published marked unverified")
	}
	return &service{log: log, nc: nc, http: srv, tls: cert != nil, mhttp: msrv, keeper: keeper}, nil
}

func connected(nc *nats.Conn) error {
	if !nc.IsConnected() {
		return fmt.Errorf("not connected (%s)", nc.Status())
	}
	return nil
}

// streamCheck is ready when EPAY_INBOX answers, cut into the ingest's shard count; a
// missing stream is looked for again.
func streamCheck(nc *nats.Conn, keeper *streamKeeper) httpserver.Check {
	return func(ctx context.Context) error {
		if err := connected(nc); err != nil {
			return err
		}
		err := keeper.shards.Look(ctx)
		if errors.Is(err, natsbus.ErrNotCreated) {
			keeper.recheck()
		}
		return err
	}
}

func (s *service) run(ctx context.Context) error {
	kctx, stopKeeper := context.WithCancel(context.Background())
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		s.keeper.run(kctx)
	}()
	s.log.Info("ingest serving", "addr", s.http.Addr().String(), "tls", s.tls)
	// Either listener failing stops both; on ctx's end both drain.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	metricsErr := make(chan error, 1)
	if s.mhttp != nil {
		s.log.Info("metrics serving", "addr", s.mhttp.Addr().String())
		go func() {
			defer stop()
			metricsErr <- s.mhttp.Serve(ctx)
		}()
	} else {
		metricsErr <- nil
	}
	var err error
	if s.tls {
		err = s.http.ServeTLS(ctx, "", "") // the certificate is in TLSConfig
	} else {
		err = s.http.Serve(ctx)
	}
	stop()
	err = errors.Join(err, <-metricsErr)
	s.log.Info("ingest stopped taking requests; draining NATS")
	stopKeeper()
	<-keeperDone
	err = errors.Join(err, s.drain())
	s.log.Info("ingest stopped", "err", err)
	return err
}

func (s *service) drain() error { return natsbus.Drain(s.nc, drainTimeout) }
