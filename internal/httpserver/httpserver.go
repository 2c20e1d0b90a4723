// Package httpserver runs an HTTP server the way every epayflow service needs it: with
// timeouts against slow clients, health routes, and a shutdown that finishes the requests
// in flight.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrAddrInUse is wrapped by Listen's error when another process listens on the address.
var ErrAddrInUse = errors.New("address in use")

// CheckAddr reports a listen address Listen cannot take, whatever the machine: one that
// is not host:port (the host may be empty: every interface), or a port that is not a
// number from 0 to 65535 (0: any free port).
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (such as :8080 or 127.0.0.1:8080)", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: the port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// Timeouts of a server. Zero fields take the defaults of New.
type Timeouts struct {
	ReadHeader time.Duration
	Read       time.Duration
	Write      time.Duration
	Idle       time.Duration
	Shutdown   time.Duration
}

// Server is an http.Server with its listener and shutdown budget.
type Server struct {
	srv      *http.Server
	ln       net.Listener
	shutdown time.Duration
	log      *slog.Logger
}

// Listen binds addr (":0" picks a port) and prepares a server for h. Its error names
// addr, and wraps ErrAddrInUse when another process listens there.
func Listen(addr string, h http.Handler, t Timeouts, log *slog.Logger) (*Server, error) {
	def := func(d, v time.Duration) time.Duration {
		if d == 0 {
			return v
		}
		return d
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s: %w (another process listens there)", addr, ErrAddrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: def(t.ReadHeader, 5*time.Second),
			ReadTimeout:       def(t.Read, 10*time.Second),
			WriteTimeout:      def(t.Write, 15*time.Second),
			IdleTimeout:       def(t.Idle, 60*time.Second),
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:       ln,
		shutdown: def(t.Shutdown, 20*time.Second),
		log:      log,
	}, nil
}

// Handle sets the handler of a server bound with a nil one (Listen(addr, nil, ...)):
// a service binds its ports first, so that a port it cannot take is said before it
// connects anywhere, and builds its routes after.
func (s *Server) Handle(h http.Handler) { s.srv.Handler = h }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is http://<addr>, with localhost for a listener on every interface (":8080"), the
// URL a browser on this machine can open.
func (s *Server) URL() string { return ReachableURL(s.ln.Addr()) }

// ReachableURL is http://<addr>, with localhost in place of an unspecified host
// (0.0.0.0, [::]).
func ReachableURL(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return "http://" + net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return "http://" + addr.String()
}

// Close releases the listener of a server that will not be served (a start that failed
// after Listen); a served one stops through Serve's context instead.
func (s *Server) Close() error { return s.ln.Close() }

// HTTPServer exposes the underlying server, for TLS settings and the like.
func (s *Server) HTTPServer() *http.Server { return s.srv }

// Serve serves until ctx is cancelled, then stops taking connections and waits up to the
// shutdown budget for requests in flight.
func (s *Server) Serve(ctx context.Context) error {
	return s.serve(ctx, func() error { return s.srv.Serve(s.ln) })
}

// ServeTLS is Serve with TLS from certFile and keyFile.
func (s *Server) ServeTLS(ctx context.Context, certFile, keyFile string) error {
	return s.serve(ctx, func() error { return s.srv.ServeTLS(s.ln, certFile, keyFile) })
}

func (s *Server) serve(ctx context.Context, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Check is one readiness condition: nil when ready.
type Check func(ctx context.Context) error

// Health adds GET /livez (the process serves) and GET /readyz (every check passes,
// each within 2 seconds) to mux. /readyz names the failing checks in its body. Its answer
// is made at most once a ReadyFor, whoever asks: the checks ask NATS (JetStream's API
// among them), and a flood of /readyz must not become a flood there, nor make every
// replica's probe time out at once.
func Health(mux *http.ServeMux, checks map[string]Check) {
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	rd := &readiness{checks: checks}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if failed := rd.answer(); failed != "" {
			http.Error(w, failed, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
}

// ReadyFor is how long a /readyz answer stands for every caller.
const ReadyFor = time.Second

// readiness is the last /readyz answer: the failing checks ("" when ready) and when.
type readiness struct {
	checks map[string]Check
	mu     sync.Mutex
	at     time.Time
	failed string
}

// answer runs the checks unless an answer younger than ReadyFor stands; callers that
// come while they run wait for that answer. The checks run on a context of their own: a
// caller that goes away does not fail the answer the others share.
func (rd *readiness) answer() string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && time.Since(rd.at) < ReadyFor {
		return rd.failed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var failed string
	for name, check := range rd.checks {
		if err := check(ctx); err != nil {
			failed += name + ": " + err.Error() + "\n"
		}
	}
	rd.failed, rd.at = failed, time.Now()
	return failed
}

type listenHookKey struct{}

// WithListenHook returns ctx carrying hook: a service run with it calls hook with its base
// URL once its listener is bound (Listening). It is how something that embeds a service
// (the local stack, a test) learns the port :0 got, without it being part of the
// service's configuration (as net/http/httptrace carries its hooks).
func WithListenHook(ctx context.Context, hook func(url string)) context.Context {
	return context.WithValue(ctx, listenHookKey{}, hook)
}

// Listening tells ctx's listen hook, if any, that the service listens at url.
func Listening(ctx context.Context, url string) {
	if hook, ok := ctx.Value(listenHookKey{}).(func(string)); ok && hook != nil {
		hook(url)
	}
}
