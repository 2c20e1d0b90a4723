package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	wmmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpmetrics"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Run runs the worker until ctx is cancelled: it opens the store (failing at once when
// another process holds it), serves HTTP, makes the streams or waits for `worker
// streams` to have made them (retrying while NATS is down: ensureStreams), consumes its
// shards through a Watermill router and relays the outbox. On cancellation it stops
// taking messages, lets the handlers in flight commit and ack, drains HTTP and NATS and
// closes the store.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := NewMetrics(reg)
	m.Shards.Set(float64(cfg.Shards))
	// The directory of the file, ./var for the default ./var/worker.db, is made if missing.
	if err := os.MkdirAll(filepath.Dir(cfg.DB), 0o750); err != nil {
		return fmt.Errorf("%w: -db (WORKER_DB) %s: cannot make its directory: %v", ErrConfig, cfg.DB, err)
	}
	mayOwn := len(cfg.OwnShards)
	if cfg.OwnShards == nil { // the assignment: as many as EPAY_SHARDS, alone
		mayOwn = cfg.Shards
	}
	store, err := bolt.Open(cfg.DB, bolt.Options{LockTimeout: cfg.LockTimeout, MaxBatchSize: min(mayOwn*cfg.MaxInFlight, cfg.MaxInFlightTotal), OnCommit: m.observeCommit,
		MaxPending: cfg.MaxPending, MaxPendingBytes: cfg.MaxPendingBytes})
	if err != nil {
		return err
	}
	defer store.Close()
	m.readStore(store)
	key, err := statusKey(cfg)
	if err != nil {
		return fmt.Errorf("%w: -status-key (WORKER_STATUS_KEY): %v", ErrConfig, err)
	}
	previous := make([][]byte, len(cfg.StatusKeysPrevious))
	for i, k := range cfg.StatusKeysPrevious {
		previous[i] = []byte(k)
	}
	signer, err := inbox.NewStatusSigner(key, previous...)
	if err != nil {
		return fmt.Errorf("%w: -status-key (WORKER_STATUS_KEY): %v", ErrConfig, err)
	}
	msgs, err := inbox.NewBuilder(cfg.Shards)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var eventsSigner *events.Signer
	if cfg.EventsKey != "" {
		s, err := events.ParseSigningKey(cfg.EventsKey)
		if err != nil {
			return fmt.Errorf("%w: -events-key (WORKER_EVENTS_KEY): %v", ErrConfig, err)
		}
		eventsSigner = &s
		log.Info("payment events signed", "public_key", s.PublicKey())
	} else {
		log.Warn("payment events go unsigned: WORKER_EVENTS_KEY is not set (required in prod)")
	}
	// The ports before NATS: one that cannot be taken is said at once.
	srv, err := httpserver.Listen(cfg.Addr, nil, httpserver.Timeouts{}, log)
	if err != nil {
		return fmt.Errorf("%w: -addr (WORKER_ADDR): %w", ErrConfig, err)
	}
	defer srv.Close() // after Serve, a no-op
	var msrv *httpserver.Server
	if cfg.MetricsAddr != "" { // its own listener: the only port monitoring may reach
		if msrv, err = httpserver.Listen(cfg.MetricsAddr, nil, httpserver.Timeouts{}, log); err != nil {
			return fmt.Errorf("%w: -metrics-addr (WORKER_METRICS_ADDR): %w", ErrConfig, err)
		}
		defer msrv.Close()
	}
	nc, err := natsbus.ConnectAs(cfg.NATSURL, "epayflow-worker", natsbus.RoleWorker, cfg.NATS, log)
	if err != nil {
		return err
	}
	reg.MustRegister(natsbus.NewTLSExpiry(nc, natsbus.TLSProbeEvery))
	defer func() { // after the consumers settled: their acks are flushed, then it closes
		if err := natsbus.Drain(nc, 10*time.Second); err != nil {
			log.Warn("nats drain", "err", err)
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	w := &service{cfg: cfg, log: log, store: store, nc: nc, js: js, metrics: m, reg: reg, signer: signer, events: eventsSigner, msgs: msgs, srv: srv, msrv: msrv}
	if cfg.EPay != nil {
		client, err := epayapi.New(*cfg.EPay, epayapi.NewMetrics(reg), log.With("component", "epay"))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		w.checker = newChecker(store, js, client, signer, msgs, cfg, m, log)
		w.operator = newOperator(store, js, client, signer, msgs, log)
		w.checker.ops = w.operator
		w.checker.owns = func(id string) bool { return w.owns(inbox.Shard(id, cfg.Shards)) }
		log.Info("ePay status checks on", "confirm_payments", cfg.ConfirmPayments, "reconcile_after", cfg.ReconcileAfter,
			"api_url", cfg.EPay.APIURL, "env", cfg.EPayEnv)
	}
	return w.run(ctx)
}

// service is one running worker.
type service struct {
	cfg     Config
	log     *slog.Logger
	store   *bolt.Store
	nc      *nats.Conn
	js      jetstream.JetStream
	metrics *Metrics
	reg     *prometheus.Registry
	checker *checker // nil without an ePay client
	// operator makes charges, cancels and refunds (nil without an ePay client).
	operator *operator
	signer   inbox.StatusSigner
	events   *events.Signer // nil: events go unsigned
	msgs     *inbox.Builder
	// srv serves the read API (and /metrics unless msrv, its own listener, is not nil).
	srv, msrv *httpserver.Server
	// shardWait is why a worker with WORKER_SHARDS does not consume them all ("" when
	// no other worker owns one).
	shardWait atomic.Value
	// owner runs the shards, once NATS answered.
	owner atomic.Pointer[shardOwner]
}

// owns says whether the worker consumes shard s now.
func (w *service) owns(s int) bool {
	o := w.owner.Load()
	return o != nil && o.owns(s)
}

// shardsReady is /readyz's shards check: a worker of the assignment is ready once it is
// a member (with more workers than shards some own none); one with WORKER_SHARDS once it
// consumes them all.
func (w *service) shardsReady() error {
	o := w.owner.Load()
	switch {
	case o == nil:
		return errors.New("not started")
	case o.static == nil && !o.ls.member():
		return errors.New("not a member of the workers yet")
	case o.static == nil && !o.stepped.Load():
		return errors.New("taking its shards")
	case o.static == nil:
		return nil
	}
	if why, _ := w.shardWait.Load().(string); why != "" {
		return errors.New(why)
	}
	if n := len(o.owned()); n < len(o.static) {
		return fmt.Errorf("consuming %d of its %d shards", n, len(o.static))
	}
	return nil
}

func (w *service) run(ctx context.Context) error {
	mux := http.NewServeMux()
	fwd := newForwarder(w.js, w.cfg.Shards, w.owns, w.store.ID(), w.signer, w.cfg.ShardLease, w.log)
	w.metrics.HTTP.Handle(mux, "GET /v1/invoices/{invoiceId}", invoiceHandler(w.store, w.cfg.ReadKeys, fwd, w.log), readAPICodes...)
	for _, typ := range []string{invoice.OpRefund, invoice.OpCharge, invoice.OpCancel} {
		w.metrics.HTTP.Handle(mux, "POST /v1/invoices/{invoiceId}/"+typ,
			operationHandler(typ, w.operator, w.cfg.ReadKeys, fwd, w.log), operationCodes...)
	}
	w.metrics.HTTP.Handle(mux, "GET /v1/invoices", &lister{js: w.js, keys: w.cfg.ReadKeys, scan: listScan, log: w.log, records: w.changelog()}, listAPICodes...)
	w.metrics.HTTP.Handle(mux, "POST /v1/invoices/{invoiceId}/resolve", &resolver{js: w.js, changes: w.changelog(), msgs: w.msgs,
		signer: w.signer, keys: w.cfg.ReadKeys, wait: resolveWait, now: func() time.Time { return time.Now().UTC() }, log: w.log}, resolveAPICodes...)
	metrics := httpmetrics.Handler(w.reg)
	if w.cfg.MetricsAddr == "" { // not counted, nor are the probes: they would dilute the ratios
		mux.Handle("GET /metrics", metrics)
	}
	var routerUp sync.Map
	httpserver.Health(mux, map[string]httpserver.Check{
		"db":   func(context.Context) error { return w.store.Ping() },
		"nats": func(context.Context) error { return natsbus.NotConnected(w.nc, w.cfg.NATSURL) },
		"router": func(context.Context) error {
			if _, ok := routerUp.Load("up"); !ok {
				return errors.New("not running")
			}
			return nil
		},
		"shards": func(context.Context) error { return w.shardsReady() },
	})
	srv, msrv := w.srv, w.msrv
	srv.Handle(w.metrics.HTTP.Unmatched(mux))
	httpserver.Listening(ctx, srv.URL())
	w.log.Info("worker listening", "url", srv.URL(), "db", w.store.Path(), "shards", shardsSetting(w.cfg.OwnShards), "read_api_keys", len(w.cfg.ReadKeys))
	if before := w.cfg.AcceptUnsignedCreatedBefore; !before.IsZero() {
		// The transition lets unsigned invoice.created through: say so at every start,
		// louder while the cutoff is still ahead (until then a NATS password alone can
		// create invoices).
		w.log.Warn("WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE is set: an unsigned invoice.created stored before it is applied; remove it once none is left on the inbox",
			"before", before.UTC().Format(time.RFC3339), "in_the_future", before.After(time.Now()))
	}
	if msrv != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		msrv.Handle(mmux)
		w.log.Info("metrics listening", "url", msrv.URL())
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	httpErr := make(chan error, 2)
	wg.Go(func() { httpErr <- srv.Serve(ctx) })
	if msrv != nil {
		wg.Go(func() { httpErr <- msrv.Serve(ctx) })
	} else {
		httpErr <- nil
	}
	err := w.consume(ctx, func() { routerUp.Store("up", true) })
	cancel()
	wg.Wait()
	return errors.Join(err, <-httpErr, <-httpErr)
}

// consume ensures the streams, then runs the router, the shards it consumes and the
// relay until ctx ends; then it lets the handlers in flight commit and ack, and gives
// back its shards and its membership.
func (w *service) consume(ctx context.Context, up func()) error {
	if err := w.ensureStreams(ctx); err != nil {
		return nil // cancelled while NATS was away
	}
	// on the run's context, not one attempt's 5 s: a big file takes longer, and what was
	// recorded stays recorded when an attempt fails
	if err := natsbus.EnsureUntil(ctx, w.log, "record the invoices from before the changelog", func(context.Context) error {
		return w.recordUnrecorded(ctx)
	}); err != nil {
		return nil // cancelled
	}
	ls := w.joinWorkers(ctx)
	if ls == nil {
		return nil // cancelled while NATS was away
	}
	rl := newRelay(w.store, w.js, w.cfg.EventSource, w.metrics, w.log)
	rl.signer = w.events
	router, sub, handle, err := w.newRouter(rl)
	if err != nil {
		return err
	}
	o := newShardOwner(w, ls, router, sub, handle)
	w.owner.Store(o)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		o.renew(ctx, func() {
			select {
			case kick <- struct{}{}:
			default:
			}
		})
	})
	wg.Go(func() { rl.Run(ctx) })
	wg.Go(func() { w.sample(ctx, sub) })
	if w.cfg.Retention > 0 {
		wg.Go(func() { w.prune(ctx, time.Hour) })
	}
	if w.checker != nil {
		wg.Go(func() { w.checker.Run(ctx) })
	}
	routerErr := make(chan error, 1)
	// The router runs until router.Close below, after o.run has returned, not until ctx
	// ends: its idle handler must outlive every shard handler. On ctx's end the shard
	// handlers stop while o.run may still be adding one; had the idle handler stopped with
	// them, Watermill's count of running handlers could reach zero as a handler was added,
	// a data race and a panic ("WaitGroup is reused before previous Wait has returned") seen
	// in a devstack test stopped as it started.
	go func() { routerErr <- router.Run(context.WithoutCancel(ctx)) }()
	select {
	case <-router.Running():
		up()
	case err := <-routerErr:
		if ctx.Err() != nil {
			return nil // stopped while starting: a clean shutdown, not a failure
		}
		return fmt.Errorf("router: %w", err)
	}
	w.log.Info("consuming", "shards", shardsSetting(w.cfg.OwnShards), "lease", w.cfg.ShardLease)
	ownErr := o.run(ctx, kick)
	stop()
	closeErr := router.Close()          // handlers in flight commit and ack first
	if err := sub.Close(); err != nil { // and their acks reach NATS before the leases go
		closeErr = errors.Join(closeErr, err)
	}
	if err := <-routerErr; err != nil {
		closeErr = errors.Join(closeErr, err)
	}
	if !w.cfg.abandonOnStop {
		o.close(ctx)
	}
	return errors.Join(ownErr, closeErr)
}

// shardsSetting is WORKER_SHARDS for the log: "auto" or the shards.
func shardsSetting(own []int) any {
	if own == nil {
		return "auto"
	}
	return own
}

// joinWorkers opens the leases bucket and makes the worker a member, retrying while NATS
// is away; nil once ctx ended.
func (w *service) joinWorkers(ctx context.Context) *leases {
	var ls *leases
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		var err error
		if ls == nil {
			ls, err = openLeases(ctx, w.js, !w.checksStreams(), w.store.ID(), w.store.Path(), w.cfg.AdvertiseURL, w.signer, w.cfg.ShardLease, w.cfg.Streams.Replicas, w.metrics, w.log)
			if ls != nil {
				ls.verify = w.cfg.StatusKey != "" // a key the workers share
			}
		}
		if ls != nil {
			if err = ls.join(ctx); err == nil {
				return ls
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		w.log.Warn("join the workers; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// ensureStreams retries until every stream and every bucket of the system exists,
// configured as asked, or ctx ends. Only the streams identity (natsbus.RoleStreams) may
// create or change them: with StreamsNATS set the worker makes them as that user on a
// second connection, closed once done (the local stacks); without, it waits for `worker
// streams` to have made them (Kubernetes: the worker's init container). Either way it
// then checks them with its own user, which may only look: EPAY_INBOX's recorded shard
// count against EPAY_SHARDS above all. On a NATS without authorization (no NATS_USER:
// the tests, a bare nats-server) there are no identities, and it makes them itself.
func (w *service) ensureStreams(ctx context.Context) error {
	streams := w.cfg.streamsConfig() // the count recorded on EPAY_INBOX, or checked against what is
	owners := ownersBucketConfig(w.cfg.ShardLease, w.cfg.Streams.Replicas)
	switch {
	case w.cfg.StreamsNATS.User != "":
		auth := w.cfg.StreamsNATS
		auth.CA = w.cfg.NATS.CA
		if err := ensureAllAs(ctx, w.cfg.NATSURL, auth, streams, owners, w.log); err != nil {
			return err
		}
	case !w.checksStreams():
		return natsbus.EnsureUntil(ctx, w.log, "ensure streams and buckets", func(ctx context.Context) error {
			return ensureAll(ctx, w.js, w.log, streams, owners)
		})
	}
	return natsbus.EnsureUntil(ctx, w.log, "check the streams and buckets (`worker streams` makes them as the NATS user streams; the worker's user may not)", func(ctx context.Context) error {
		return checkAll(ctx, w.js, streams, owners)
	})
}

// checksStreams says whether the worker's own NATS user may only look at the streams
// and buckets: any user (a NATS with authorization). Anonymous, on a NATS without
// authorization, it makes them.
func (w *service) checksStreams() bool { return w.cfg.NATS.User != "" }

// newRouter wires the router: handle, the applier, is the handler of each shard the
// worker takes (consumed through sub), with the poison queue, retries and metrics
// around it. Until then the router runs one idle handler: Watermill closes a router
// whose handlers all stopped, and a worker may own no shard for a while.
func (w *service) newRouter(rl *relay) (*message.Router, *jspubsub.Subscriber, message.NoPublishHandlerFunc, error) {
	wlog := newWatermillLogger(w.log)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: w.cfg.AckWait}, wlog)
	if err != nil {
		return nil, nil, nil, err
	}
	changes := w.changelog()
	if w.cfg.WithoutChangelog {
		changes = nil
	}
	a := &applier{store: w.store, dec: decoder{inbox: inbox.Decoder{Shards: w.cfg.Shards, Keys: w.cfg.Keys, Signer: w.signer,
		AcceptUnsignedCreated: acceptUnsignedBefore(w.cfg.AcceptUnsignedCreatedBefore)}, signatures: w.metrics.CreatedSignatures, log: w.log},
		metrics: w.metrics, log: w.log, relay: rl, now: func() time.Time { return time.Now().UTC() },
		eventsWait: eventsWait, dupWindow: w.cfg.Streams.DuplicateWindow, changes: changes, crash: crashHook(w.nc, w.log)}
	if w.checker != nil {
		a.dec.policy = confirmPolicy{all: w.cfg.ConfirmPayments, unverified: true}
		a.claimed = w.checker.Wake
	}
	poisonMW, err := middleware.PoisonQueueWithFilter(dlqPublisher{js: w.js}, poisonTopic, func(err error) bool {
		return errors.Is(err, ErrPoison)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	router.AddMiddleware(growStack, w.fence, middleware.CorrelationID)
	// Watermill's handler metrics, not its subscriber decorator: that one starts a
	// goroutine for every message to wait for its ack, one of three per message in flight
	// (bench/NOTES.md, session 10), to count what the handler metrics count already.
	router.AddMiddleware(wmmetrics.NewPrometheusMetricsBuilder(w.reg, "epayflow", "worker_watermill").NewRouterMiddleware().Middleware)
	router.AddMiddleware(
		poisonMW,
		a.countPoisoned,
		giveUp(w.cfg.MaxDeliveries),
		middleware.Retry{
			MaxRetries: 3, InitialInterval: 50 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2,
			RandomizationFactor: 0.2, Logger: wlog,
			ShouldRetry: func(p middleware.RetryParams) bool {
				return !errors.Is(p.Err, ErrPoison) && !errors.Is(p.Err, errLeaseLost)
			},
		}.Middleware,
		middleware.Recoverer,
	)
	sub, err := newInboxSubscriber(w.js, w.cfg, a.dec.orderKey, w.metrics, w.log)
	if err != nil {
		return nil, nil, nil, err
	}
	router.AddConsumerHandler("idle", "idle", idleSubscriber{}, func(*message.Message) error { return nil })
	return router, sub, a.handle, nil
}

// idleSubscriber delivers nothing until its subscription ends: the router's idle handler.
type idleSubscriber struct{}

func (idleSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	ch := make(chan *message.Message)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func (idleSubscriber) Close() error { return nil }
