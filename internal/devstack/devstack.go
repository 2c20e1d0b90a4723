package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/internal/webhooks"
	"github.com/epayflow/epayflow/internal/worker"
)

// Local-only defaults. They are public, so they must never sign a real payment.
const (
	DevSecretKeys = "D:dev-only-signing-key-do-not-use-in-prod"
	DevAPIKey     = "dev-merchant-key"
	// DevEventsKey signs the local stack's payment events (WORKER_EVENTS_KEY): its
	// public key (URLs.EventsPublicKey) is in the ready banner. Published: never in prod.
	DevEventsKey = "whsk_ZGV2LW9ubHktZXZlbnRzLWtleS1ub3QtZm9yLXByb2Q="
)

// DevWebhooksAllowPrivate are the non-public addresses the local stack's webhooks may
// deliver to (WEBHOOKS_ALLOW_PRIVATE): loopback only, for a receiver on the laptop. A
// deployment leaves it empty, so deliveries reach public addresses only.
const DevWebhooksAllowPrivate = "127.0.0.0/8,::1/128"

// ErrDevKeysInProd is returned when the stack would run with its public keys in prod.
var ErrDevKeysInProd = fmt.Errorf("%w: refusing to run with the public local keys while EPAY_ENV=prod", ErrConfig)

// Config places the stack. Zero values take the defaults of a laptop: fixed ports
// 8080-8082, 8084, 8090 and NATS on 4222, data under ./var.
type Config struct {
	DataDir string
	Host    string
	// Ports on Host; 0 means the default, -1 a free port (tests).
	NATSPort, InitiatorPort, IngestPort, WorkerPort, SandboxPort, WebhooksPort int
	// Addresses (host:port, as the services' -addr), when set, win over Host and the
	// ports: NATS_ADDR, INITIATOR_ADDR, INGEST_ADDR, WORKER_ADDR, SANDBOX_ADDR and
	// WEBHOOKS_ADDR for cmd/devstack (ParseFlags).
	NATSAddr, InitiatorAddr, IngestAddr, WorkerAddr, SandboxAddr, WebhooksAddr string
	// LogFormat and LogLevel are for cmd/devstack's logger; Run does not read them.
	LogFormat, LogLevel string
	// Getenv overrides: every service reads its settings through it, so any variable a
	// service documents can be set for the devstack too.
	Getenv func(string) string
	// Out receives one line per service with its URL.
	Out io.Writer
	// OnReady is called once every service listens, with their URLs.
	OnReady func(URLs)
	// NATSMonitorAddr, when set (host:port, port 0 a free one), is where the embedded
	// server serves its monitoring endpoints (/healthz, /varz, /jsz): URLs.NATSMonitor.
	NATSMonitorAddr string
	// OnControl, when set, is given the stack's Control before OnReady: the means to stop
	// and start NATS and the worker while the stack runs.
	OnControl func(*Control)
}

// URLs are where the services of a running stack listen.
type URLs struct {
	NATS, Initiator, Ingest, Worker, Sandbox, Webhooks string
	// NATSMonitor is the embedded server's monitoring URL (Config.NATSMonitorAddr); empty
	// without one.
	NATSMonitor string
	// WorkerReadKey is a key of the worker's API (scope operate: it reads with personal
	// data masked, and may refund, charge and cancel), new on each start unless
	// WORKER_READ_KEYS is set: send it as Authorization: Bearer. The initiator uses it
	// too (INITIATOR_WORKER_KEY), for the return pages and the merchant's operations.
	WorkerReadKey string
	// WorkerOperatorKey is a key of scope operator of the worker's read API, new on each
	// start unless WORKER_READ_KEYS is set (then ""): it may resolve invoices in review or
	// unmatched (POST /v1/invoices/{invoiceId}/resolve).
	WorkerOperatorKey string
	// EventsPublicKey is the public key the payment events verify with
	// (merchant.NewEventVerifier), of WORKER_EVENTS_KEY or DevEventsKey.
	EventsPublicKey string
	// WebhooksAPIKey is a key of the webhooks API (WEBHOOKS_API_KEYS; by default the
	// local merchant key DevAPIKey): send it as Authorization: Bearer.
	WebhooksAPIKey string
	// NATSUsers are the credentials of each NATS user (natsbus.Role), new random
	// passwords on each start: NATS runs with a user per role and its permissions, as in
	// production, and refuses anonymous clients. Merchant systems connect as
	// natsbus.RoleSubscriber (printed in the ready banner); each service has its own.
	NATSUsers map[natsbus.Role]natsbus.Auth
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "var"
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	def := func(addr *string, port, v int) {
		switch {
		case *addr != "":
		case port < 0:
			*addr = c.Host + ":0"
		case port == 0:
			*addr = net.JoinHostPort(c.Host, strconv.Itoa(v))
		default:
			*addr = net.JoinHostPort(c.Host, strconv.Itoa(port))
		}
	}
	def(&c.NATSAddr, c.NATSPort, 4222)
	def(&c.InitiatorAddr, c.InitiatorPort, 8080)
	def(&c.IngestAddr, c.IngestPort, 8081)
	def(&c.WorkerAddr, c.WorkerPort, 8082)
	def(&c.SandboxAddr, c.SandboxPort, 8090)
	def(&c.WebhooksAddr, c.WebhooksPort, 8084)
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
}

// Run starts the stack and blocks until ctx is cancelled, then stops every service and
// the NATS server. It returns the first error of any service; a configuration error
// wraps one of ConfigErrors. Before anything starts it tries every address: those
// another process holds are named at once, each with its variable.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	cfg.setDefaults()
	if err := cfg.checkAddrs(); err != nil {
		return err
	}
	env := newEnv(cfg.Getenv)
	if env.get("EPAY_ENV") == "prod" && publicKeys(env.get("EPAY_SECRET_KEYS")) {
		return ErrDevKeysInProd
	}
	ls := cfg.listeners()
	for _, v := range []string{"INGEST_METRICS_ADDR", "WORKER_METRICS_ADDR", "INITIATOR_METRICS_ADDR"} {
		ls = append(ls, listener{v, env.get(v)})
	}
	if err := checkFree(ls, cfg.DataDir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("%w: -data (DEVSTACK_DATA) %s: %v", ErrConfig, cfg.DataDir, err)
	}
	natsHost, natsPort, err := hostPort(cfg.NATSAddr)
	if err != nil {
		return fmt.Errorf("%w: NATS_ADDR %v", ErrConfig, err)
	}
	users, natsUsers := natsembed.RoleUsers()
	natsCfg := natsembed.Config{Dir: filepath.Join(cfg.DataDir, "nats"), Host: natsHost, Port: natsPort, Users: users}
	if cfg.NATSMonitorAddr != "" {
		if natsCfg.MonitorPort, err = monitorPort(cfg.NATSMonitorAddr, natsHost); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &stack{ctx: ctx, cancel: cancel, log: log}
	ctl := &Control{st: st}
	ns, err := ctl.startNATS(natsCfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: NATS_ADDR %v", ErrConfig, err)
	}
	if err != nil {
		return err
	}
	defer ctl.shutdownNATS()
	urls := URLs{NATS: ns.ClientURL(), NATSMonitor: ns.MonitorURL(), NATSUsers: natsUsers}
	// as sets a service's NATS identity over whatever the process environment says.
	as := func(role natsbus.Role, vars map[string]string) map[string]string {
		a := natsUsers[role]
		vars["NATS_USER"], vars["NATS_PASSWORD"], vars["NATS_PASSWORD_FILE"], vars["NATS_CA"] = a.User, a.Password, "", ""
		return vars
	}

	// The sandbox first: the initiator needs its URL.
	urls.Sandbox, err = st.start("sandbox", cfg.Out, func(onListen func(string)) (func(context.Context) error, error) {
		sc, err := sandbox.ParseFlags("sandbox", nil, env.with(map[string]string{"SANDBOX_ADDR": cfg.SandboxAddr}).get)
		if err != nil {
			return nil, err
		}
		sc.OnListen = onListen
		return func(ctx context.Context) error { return sandbox.Run(ctx, sc, log.With("service", "sandbox")) }, nil
	})
	if err != nil {
		return st.fail(err)
	}
	urls.WorkerReadKey = or(env.get("INITIATOR_WORKER_KEY"), randomKey())
	readKeys := env.get("WORKER_READ_KEYS")
	if readKeys == "" {
		urls.WorkerOperatorKey = randomKey()
		readKeys = "devstack:operate:" + urls.WorkerReadKey + ",devstack-operator:operator:" + urls.WorkerOperatorKey
	}
	eventsKey, err := events.ParseSigningKey(or(env.get("WORKER_EVENTS_KEY"), DevEventsKey))
	if err != nil {
		return st.fail(fmt.Errorf("%w: WORKER_EVENTS_KEY: %v", ErrConfig, err))
	}
	urls.EventsPublicKey = eventsKey.PublicKey()
	env = env.with(map[string]string{
		"WORKER_EVENTS_KEY":    or(env.get("WORKER_EVENTS_KEY"), DevEventsKey),
		"WORKER_READ_KEYS":     readKeys,
		"INITIATOR_WORKER_KEY": urls.WorkerReadKey,
		"NATS_URL":             urls.NATS,
		"EPAY_SECRET_KEYS":     or(env.get("EPAY_SECRET_KEYS"), DevSecretKeys),
		"EPAY_ENV":             or(env.get("EPAY_ENV"), "sandbox"),
		"EPAY_TOKEN_URL":       or(env.get("EPAY_TOKEN_URL"), urls.Sandbox+"/oauth2/token"),
		"EPAY_API_URL":         or(env.get("EPAY_API_URL"), urls.Sandbox),
		"EPAY_PAYFORM_JS_URL":  or(env.get("EPAY_PAYFORM_JS_URL"), urls.Sandbox+"/payform/payment-api.js"),
		"INITIATOR_API_KEYS":   or(env.get("INITIATOR_API_KEYS"), DevAPIKey),
		// the local merchant key also refunds, charges and cancels (a laptop's one user)
		"INITIATOR_OPERATE_KEYS": or(env.get("INITIATOR_OPERATE_KEYS"), or(env.get("INITIATOR_API_KEYS"), DevAPIKey)),
		"WORKER_DB":              or(env.get("WORKER_DB"), filepath.Join(cfg.DataDir, "worker.db")),
	})

	urls.Ingest, err = st.start("ingest", cfg.Out, func(onListen func(string)) (func(context.Context) error, error) {
		ic, err := ingest.ParseFlags("ingest", nil, env.with(as(natsbus.RoleIngest, map[string]string{"INGEST_ADDR": cfg.IngestAddr})).get)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return ingest.Run(httpserver.WithListenHook(ctx, onListen), ic, log.With("service", "ingest"))
		}, nil
	})
	if err != nil {
		return st.fail(err)
	}
	workerAt := func(addr string) func(onListen func(string)) (func(context.Context) error, error) {
		return func(onListen func(string)) (func(context.Context) error, error) {
			// the streams identity too: the worker makes the streams and buckets as the user
			// streams at its start (the stack holds every password anyway), its own user may not
			streams := natsUsers[natsbus.RoleStreams]
			wc, err := worker.ParseFlags("worker", nil, env.with(as(natsbus.RoleWorker, map[string]string{"WORKER_ADDR": addr,
				"WORKER_STREAMS_NATS_USER": streams.User, "WORKER_STREAMS_NATS_PASSWORD": streams.Password, "WORKER_STREAMS_NATS_PASSWORD_FILE": ""})).get)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context) error {
				ctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				defer close(done)
				ctl.workerRunning(stop, done)
				return worker.Run(httpserver.WithListenHook(ctx, onListen), wc, log.With("service", "worker"))
			}, nil
		}
	}
	urls.Worker, err = st.start("worker", cfg.Out, workerAt(cfg.WorkerAddr))
	if err != nil {
		return st.fail(err)
	}
	ctl.startWorker = func() error {
		u, err := url.Parse(urls.Worker)
		if err != nil {
			return err
		}
		_, err = st.start("worker", io.Discard, workerAt(u.Host))
		return err
	}
	urls.Initiator, err = st.start("initiator", cfg.Out, func(onListen func(string)) (func(context.Context) error, error) {
		ic, err := initiator.ParseFlags("initiator", nil, env.with(as(natsbus.RoleInitiator, map[string]string{
			"INITIATOR_ADDR":       cfg.InitiatorAddr,
			"PUBLIC_BASE_URL":      or(env.get("PUBLIC_BASE_URL"), urls.Ingest),
			"WORKER_URL":           or(env.get("WORKER_URL"), urls.Worker),
			"INITIATOR_PUBLIC_URL": env.get("INITIATOR_PUBLIC_URL"),
		})).get)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return initiator.Run(httpserver.WithListenHook(ctx, onListen), ic, log.With("service", "initiator"))
		}, nil
	})
	if err != nil {
		return st.fail(err)
	}
	urls.WebhooksAPIKey = firstKey(or(env.get("WEBHOOKS_API_KEYS"), DevAPIKey))
	urls.Webhooks, err = st.start("webhooks", cfg.Out, func(onListen func(string)) (func(context.Context) error, error) {
		wc, _, err := webhooks.ParseCommand("webhooks", nil, env.with(as(natsbus.RoleWebhooks, map[string]string{
			"WEBHOOKS_ADDR":               cfg.WebhooksAddr,
			"WEBHOOKS_API_KEYS":           or(env.get("WEBHOOKS_API_KEYS"), DevAPIKey),
			"WEBHOOKS_ALLOW_PRIVATE":      or(env.get("WEBHOOKS_ALLOW_PRIVATE"), DevWebhooksAllowPrivate),
			"WEBHOOKS_ALLOW_HTTP":         or(env.get("WEBHOOKS_ALLOW_HTTP"), "true"),
			"WEBHOOKS_EVENTS_PUBLIC_KEYS": or(env.get("WEBHOOKS_EVENTS_PUBLIC_KEYS"), urls.EventsPublicKey),
		})).get, io.Discard)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			return webhooks.Run(httpserver.WithListenHook(ctx, onListen), wc, log.With("service", "webhooks"))
		}, nil
	})
	if err != nil {
		return st.fail(err)
	}
	fmt.Fprintf(cfg.Out, "nats       %s  (data in %s)\n", urls.NATS, cfg.DataDir)
	sub := natsUsers[natsbus.RoleSubscriber]
	fmt.Fprintf(cfg.Out, "subscriber NATS user %s, password %s  (reads payments.> only; new on each start; local only)\n", sub.User, sub.Password)
	fmt.Fprintf(cfg.Out, "events key %s  (the workers' public key: verify each event with it; DevEventsKey's unless WORKER_EVENTS_KEY is set)\n", urls.EventsPublicKey)
	fmt.Fprintf(cfg.Out, "           go run ./examples/subscriber -nats-url %s -nats-user %s -nats-password %s -events-public-key %s\n", urls.NATS, sub.User, sub.Password, urls.EventsPublicKey)
	fmt.Fprintf(cfg.Out, "api key    %s  (Authorization: Bearer …; payments and reads; refunds, charges, cancels with INITIATOR_OPERATE_KEYS, the same key here; local only)\n", env.get("INITIATOR_API_KEYS"))
	fmt.Fprintf(cfg.Out, "read key   %s  (the worker's API, scope operate: reads with personal data, refunds, charges, cancels; new on each start)\n", urls.WorkerReadKey)
	if urls.WorkerOperatorKey != "" {
		fmt.Fprintf(cfg.Out, "operator key %s  (the worker's read API, scope operator: resolves invoices in review; new on each start)\n", urls.WorkerOperatorKey)
	}
	fmt.Fprintf(cfg.Out, "hooks key  %s  (the webhooks API, Authorization: Bearer …; delivers to http:// and loopback here: local only)\n", urls.WebhooksAPIKey)
	fmt.Fprintf(cfg.Out, "ready: open %s and pay with card 4405 6397 0401 5096, 01/27, CVC 321. Ctrl-C stops.\n", urls.Initiator)
	if cfg.OnControl != nil {
		cfg.OnControl(ctl)
	}
	if cfg.OnReady != nil {
		cfg.OnReady(urls)
	}
	return st.wait()
}

// stack runs services side by side; the first to fail stops the others.
type stack struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	closed bool // wait has begun: nothing more starts (Control.StartWorker)
}

// start builds a service and runs it, and returns its URL once it listens.
func (s *stack) start(name string, out io.Writer, build func(onListen func(string)) (func(context.Context) error, error)) (string, error) {
	listening := make(chan string, 1)
	run, err := build(func(url string) { listening <- url })
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", ErrStopped
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer close(done)
		if err := run(s.ctx); err != nil {
			s.setErr(fmt.Errorf("%s: %w", name, err))
		}
	}()
	select {
	case url := <-listening:
		fmt.Fprintf(out, "%-10s %s\n", name, url)
		return url, nil
	case <-done:
		return "", s.firstErr(fmt.Errorf("%s stopped before it listened", name))
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("%s did not listen within 30s", name)
	}
}

func (s *stack) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.cancel()
}

func (s *stack) firstErr(fallback error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return fallback
}

func (s *stack) fail(err error) error {
	s.setErr(err)
	s.wg.Wait()
	return s.firstErr(err)
}

func (s *stack) wait() error {
	<-s.ctx.Done()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// monitorPort is the port of the NATS monitoring address for natsembed (-1: a free
// one); its host must be NATS's own.
func monitorPort(addr, natsHost string) (int, error) {
	host, port, err := hostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("%w: NATS monitor address %v", ErrConfig, err)
	}
	if host != natsHost {
		return 0, fmt.Errorf("%w: NATS monitor address %s: the host must be NATS_ADDR's (%s)", ErrConfig, addr, natsHost)
	}
	return port, nil
}

// hostPort splits a listen address for the embedded NATS server: an empty host is every
// interface, port 0 a free port (-1 for natsembed).
func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if port == 0 {
		port = -1
	}
	return host, port, nil
}

// publicKeys reports whether keys are missing (the stack would use DevSecretKeys) or
// include a documented example key.
func publicKeys(keys string) bool {
	if keys == "" {
		return true
	}
	ring, err := epay.ParseKeyring(keys)
	return err == nil && ring.CheckNotPublic() != nil
}

// randomKey is 24 random bytes, base64url.
func randomKey() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// firstKey is the first key of a comma-separated list.
func firstKey(keys string) string {
	k, _, _ := strings.Cut(keys, ",")
	return strings.TrimSpace(k)
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
