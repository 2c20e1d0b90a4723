package initiator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoiceid"
	"github.com/epayflow/epayflow/internal/natsbus"
)

func defaultIDs() invoiceid.Config {
	return invoiceid.Config{Scheme: invoiceid.DefaultScheme(), Bucket: invoiceid.DefaultBucket}
}

// Run serves the initiator until ctx is cancelled, then drains HTTP and NATS.
// It starts while NATS is down and reports not ready until the stream and the
// invoiceId sequence are reachable.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The ports first: one that cannot be taken is said at once, before any NATS noise.
	srv, err := httpserver.Listen(cfg.Addr, nil, httpserver.Timeouts{}, log)
	if err != nil {
		return fmt.Errorf("%w: INITIATOR_ADDR: %w", ErrConfig, err)
	}
	defer srv.Close() // after Serve, a no-op
	var msrv *httpserver.Server
	if cfg.MetricsAddr != "" { // its own listener: the only port monitoring may reach
		if msrv, err = httpserver.Listen(cfg.MetricsAddr, nil, httpserver.Timeouts{}, log); err != nil {
			return fmt.Errorf("%w: INITIATOR_METRICS_ADDR: %w", ErrConfig, err)
		}
		defer msrv.Close()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	client, err := epayapi.New(cfg.EPay, epayapi.NewMetrics(reg), log.With("component", "epayapi"))
	if err != nil {
		return err
	}
	nc, err := natsbus.ConnectAs(cfg.NATSURL, "epayflow-initiator", natsbus.RoleInitiator, cfg.NATS, log)
	if err != nil {
		return err
	}
	reg.MustRegister(natsbus.NewTLSExpiry(nc, natsbus.TLSProbeEvery))
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ids, err := invoiceid.New(js, cfg.IDs)
	if err != nil {
		return err
	}
	msgs, err := inbox.NewBuilder(cfg.Shards)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	keys := &kvKeys{js: js, keyring: cfg.Keyring}
	shards := shardGuard{publisher: js, InboxShards: natsbus.NewInboxShards(js, cfg.Shards)}
	svc := &Service{
		IDs: ids, Tokens: client, Bus: shards, Keyring: cfg.Keyring, Terminal: cfg.EPay.Terminal,
		P2PTerminal: cfg.EPay.P2PTerminal, Msgs: msgs, PublicBaseURL: strings.TrimSuffix(cfg.PublicBaseURL, "/"),
		PayformJSURL: cfg.PayformJSURL, PublishTimeout: cfg.PublishTimeout, Now: time.Now,
		Keys:       keys,
		ReturnKeys: cfg.ReturnKeys, BackLinkHosts: cfg.BackLinkHosts, HTTPSLinks: cfg.EPayEnv == epay.EnvProd,
	}
	var streamsReady atomic.Bool
	var mainGatherer prometheus.Gatherer = reg // /metrics on Addr, unless it has a listener of its own
	if cfg.MetricsAddr != "" {
		mainGatherer = nil
	}
	mux := NewHandler(svc, cfg, NewMetrics(reg), log, mainGatherer, map[string]httpserver.Check{
		"nats": func(context.Context) error { return natsbus.NotConnected(nc, cfg.NATSURL) },
		"streams": func(ctx context.Context) error {
			if err := readyErr(streamsReady.Load(), "EPAY_INBOX or "+natsbus.IdempotencyBucket+" not there yet (`worker streams` creates them), or EPAY_SHARDS differs from the inbox's (the log says which)"); err != nil {
				return err
			}
			return shards.Look(ctx) // the count may be recorded after the initiator bound
		},
		"sequence": ids.Ready,
	})
	srv.Handle(mux)
	if msrv != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		msrv.Handle(mmux)
		log.Info("metrics listening", "url", msrv.URL())
	}
	svc.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if svc.PublicURL == "" {
		svc.PublicURL = srv.URL()
	}
	go func() {
		// `worker streams` makes the stream and the buckets (the initiator's NATS user may not: a
		// role that may create a stream may give it a RePublish into payments.>): wait for
		// them, saying so in the log and on /readyz (the sequence bucket: ids.Ready).
		err := natsbus.EnsureUntil(ctx, log, "bind EPAY_INBOX and "+natsbus.IdempotencyBucket, func(ctx context.Context) error {
			if err := shards.Look(ctx); err != nil {
				return err
			}
			_, err := keys.bucket(ctx)
			return err
		})
		streamsReady.Store(err == nil)
	}()
	log.Info("initiator listening", "url", srv.URL(), "epay_env", cfg.EPayEnv, "shop", cfg.Shop,
		"terminal", cfg.EPay.Terminal, "p2p_terminal", client.P2PTerminal(), "keyring", cfg.Keyring)
	httpserver.Listening(ctx, srv.URL())
	serveErr := serve(ctx, srv, msrv)
	if err := natsbus.Drain(nc, 10*time.Second); err != nil {
		log.Warn("nats drain", "err", err)
	}
	return serveErr
}

// NewHandler returns the initiator's routes. It is exported for in-process tests and
// the devstack; Run is the usual way in. gatherer serves /metrics (nil: no /metrics).
func NewHandler(svc *Service, cfg Config, m *Metrics, log *slog.Logger, gatherer prometheus.Gatherer, checks map[string]httpserver.Check) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keys := make([]string, 0, len(cfg.APIKeys)+len(cfg.OperateKeys))
	for _, k := range slices.Concat(cfg.APIKeys, cfg.OperateKeys) {
		keys = append(keys, string(k))
	}
	operateKeys := make([]string, len(cfg.OperateKeys))
	for i, k := range cfg.OperateKeys {
		operateKeys[i] = string(k)
	}
	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler, codes ...int) { m.http.Handle(mux, pattern, h, codes...) }
	// Each route's codes are its answers that a panel or an alert counts (the 5xx ones
	// above all): their series are there, at 0, before the first request.
	route("POST /v1/payments", &payments{svc: svc, keys: hashKeys(keys), m: m, log: log}, paymentCodes...)
	route("GET /v1/invoices/{invoiceId}", &invoices{svc: svc, keys: hashKeys(keys), workerURL: cfg.WorkerURL,
		workerKey: string(cfg.WorkerKey), client: &http.Client{}}, 200, 400, 401, 404, 500, 502, 503)
	for _, op := range operationRoutes {
		route("POST /v1/invoices/{invoiceId}/"+op, &operations{op: op, keys: hashKeys(keys), operate: hashKeys(operateKeys), workerURL: cfg.WorkerURL,
			workerKey: string(cfg.WorkerKey), client: &http.Client{}, log: log}, operationCodes...)
	}
	route("GET /return/success", returnPage(svc, "Payment complete"), 200, 404, 500)
	route("GET /return/failure", returnPage(svc, "Payment not completed"), 200, 404, 500)
	route("GET /static/", staticFiles(), 200, 404)
	if cfg.Shop {
		route("GET /{$}", shopPage(cfg.EPayEnv, cfg.PayformJSURL), 200)
		route("POST /shop/payments", &shopPayments{svc: svc, limit: newLimiter(cfg.ShopRate, time.Now), m: m, log: log},
			append([]int{http.StatusTooManyRequests}, paymentCodes...)...)
	}
	// Not counted: the probes and the scrapes would dilute the ratios of the alerts.
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	httpserver.Health(mux, checks)
	return secure(m.http.Unmatched(mux), cfg.PublicURL)
}

// paymentCodes are the answers of the routes that start a payment (the table of fail).
var paymentCodes = []int{200, 201, 400, 401, 409, 413, 499, 500, 502, 503, 504}

// serve serves srv and, when not nil, msrv until ctx ends, then drains both. Either
// failing stops the other.
func serve(ctx context.Context, srv, msrv *httpserver.Server) error {
	if msrv == nil {
		return srv.Serve(ctx)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	metricsErr := make(chan error, 1)
	go func() {
		defer stop()
		metricsErr <- msrv.Serve(ctx)
	}()
	err := srv.Serve(ctx)
	stop()
	return errors.Join(err, <-metricsErr)
}

func readyErr(ok bool, msg string) error {
	if ok {
		return nil
	}
	return errors.New(msg)
}

// shardGuard publishes invoice.created only while the initiator's EPAY_SHARDS is the
// count EPAY_INBOX records (Look, at the start and at each readiness probe): one cut
// otherwise would go where the worker dead-letters it, and a replay would send it to the
// same wrong shard. While the counts differ, a payment is refused with ErrBus (503).
type shardGuard struct {
	publisher
	*natsbus.InboxShards
}

func (g shardGuard) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := g.Differ(); err != nil {
		return nil, err
	}
	return g.publisher.PublishMsg(ctx, msg, opts...)
}
