package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/epayflow/epayflow/internal/httpserver"
)

// Sandbox is the ePay imitation. Make one with New, serve Handler, and Close it to stop
// the callback deliveries in flight.
type Sandbox struct {
	cfg     Config
	log     *slog.Logger
	store   *store
	metrics *Metrics
	reg     *prometheus.Registry
	pages   *pages
	client  *http.Client

	deliveries *deliveries
	ctx        context.Context // cancelled by Close; deliveries run under it
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// New returns a sandbox for cfg (zero fields take their defaults) logging to log
// (slog.Default when nil). It fails with an
// error wrapping ErrConfig when cfg does not validate.
func New(cfg Config, log *slog.Logger) (*Sandbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cfg.CallbackTimeout}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctx, cancel := context.WithCancel(context.Background())
	return &Sandbox{
		cfg:        cfg,
		log:        log,
		store:      newStore(cfg.MaxInvoices),
		metrics:    NewMetrics(reg),
		reg:        reg,
		pages:      pg,
		client:     client,
		deliveries: newDeliveries(cfg.MaxInvoices, cfg.MaxInFlight),
		ctx:        ctx,
		cancel:     cancel,
	}, nil
}

// Close stops retrying callbacks and waits for the deliveries in flight to return.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() {
		s.deliveries.mu.Lock()
		s.deliveries.closed = true
		s.deliveries.mu.Unlock()
		s.cancel()
	})
	s.wg.Wait()
}

// Handler serves every route of the sandbox (see docs/SANDBOX.md).
func (s *Sandbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleIndex)
	for _, p := range []string{"/oauth2/token", "/epay2/oauth2/token"} {
		mux.HandleFunc("POST "+p, s.handleToken)
	}
	for _, p := range []string{"/payform/payment-api.js", "/redesign-payform/payment-api.js"} {
		mux.HandleFunc("GET "+p, s.handlePaymentJS)
	}
	mux.HandleFunc("GET /payform", s.handlePayformGet)
	mux.HandleFunc("POST /payform", s.handlePayform)
	mux.HandleFunc("POST /payform/card", s.handleCard)
	mux.HandleFunc("GET /sandbox/callbacks", s.handleCallbacks)
	mux.HandleFunc("GET /sandbox/callbacks/{invoiceId}", s.handleCallbacks)
	api := s.apiHandler()
	mux.Handle("/check-status/", api)
	mux.Handle("/operation/", api)
	mux.Handle("/api/", http.StripPrefix("/api", api))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	httpserver.Health(mux, nil)
	return mux
}

// apiHandler serves the status and operations API, also under /api as on ePay's test host.
func (s *Sandbox) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /check-status/payment/transaction/{invoiceId}", s.handleStatus)
	mux.HandleFunc("GET /check-status/p2p/transaction/{order}", s.handleP2PStatus)
	mux.HandleFunc("POST /operation/{id}/{op}", s.handleOperation)
	return mux
}

// Run serves the sandbox on cfg.Addr until ctx is cancelled, then drains requests and
// stops deliveries. cfg.OnListen, when set, gets the base URL once the port is bound.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	srv, err := httpserver.Listen(s.cfg.Addr, s.Handler(), httpserver.Timeouts{}, log)
	if err != nil {
		return fmt.Errorf("%w: -addr (SANDBOX_ADDR): %w", ErrConfig, err)
	}
	url := reachableURL(srv.Addr())
	log.Info("ePay sandbox listening", "url", url, "client_id", s.cfg.ClientID,
		"terminals", s.cfg.Terminals, "two_step", s.cfg.TwoStep)
	if cfg.OnListen != nil {
		cfg.OnListen(url)
	}
	return srv.Serve(ctx)
}

// reachableURL is the base URL a browser on this machine can open: a listener on
// every interface (":8090") is reached through localhost.
func reachableURL(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return "http://" + net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return "http://" + addr.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
