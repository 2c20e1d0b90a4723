package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Connect connects to NATS without credentials (a server with authorization on refuses
// it); ConnectAs is how the services connect.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	return ConnectAs(url, name, "", Auth{}, log)
}

// ConnectAs connects to NATS as role with auth, the way every service does: it keeps
// retrying in the background forever (a service starts, and reports not ready, while
// NATS is down or refuses its login), and logs disconnects and reconnects. Its reply subjects
// are under role.InboxPrefix(), the only ones its NATS user may subscribe to.
//
// A refused login is logged at error with the user and the URL (never the password):
// at once, then at most every 30 s while it goes on. So is a permissions violation
// (a publish or subscription the user may not make). A server that cannot be reached is
// logged at warn the same way, naming the URL (NATS_URL) without its credentials.
func ConnectAs(url, name string, role Role, auth Auth, log *slog.Logger) (*nats.Conn, error) {
	if err := auth.Validate(); err != nil {
		return nil, err
	}
	where := RedactURLs(url)
	user := auth.User
	if user == "" {
		user = "(anonymous)"
	}
	refused, unreachable := throttle{every: 30 * time.Second}, throttle{every: 30 * time.Second}
	logAuth := func(err error) {
		if refused.ok() {
			log.Error("NATS refused the login: check NATS_USER and its password (NATS_PASSWORD_FILE) against the server's users",
				"user", user, "url", where, "err", err)
		}
	}
	opts := append([]nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		// A refused login is retried too (nats.go gives up after the same one twice): the
		// password may be changed on the servers before or after the service restarts.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.Timeout(2 * time.Second),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("nats connected", "url", c.ConnectedUrlRedacted(), "user", user)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err, "user", user)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted(), "user", user)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			switch {
			case IsAuthError(err):
				logAuth(err)
			case unreachable.ok():
				log.Warn("cannot reach NATS: check NATS_URL and that the server runs; retrying",
					"url", where, "user", user, "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			switch {
			case IsAuthError(err):
				logAuth(err)
			case IsPermissionError(err):
				log.Error("NATS refused a publish or subscription of this user", "user", user, "url", where, "err", err)
			case sub != nil: // a slow consumer above all: which subscription dropped messages
				log.Error("nats async error", "err", err, "user", user, "subject", sub.Subject)
			default:
				log.Error("nats async error", "err", err, "user", user)
			}
		}),
	}, auth.options(role)...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s as %s: %w", where, user, err)
	}
	return nc, nil
}

// NotConnected is nil while nc is connected, else an error naming where it tries to
// connect (urls, without credentials): the readiness check of every service.
func NotConnected(nc *nats.Conn, urls string) error {
	if nc.IsConnected() {
		return nil
	}
	return fmt.Errorf("not connected to %s (NATS_URL; %s)", RedactURLs(urls), strings.ToLower(nc.Status().String()))
}

// throttle lets an event through at once, then at most once per every.
type throttle struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (t *throttle) ok() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.last.IsZero() || now.Sub(t.last) >= t.every {
		t.last = now
		return true
	}
	return false
}

// Drain drains nc: its subscriptions stop taking messages, what it published is flushed,
// then it closes. Drain waits for the close at most timeout, then closes nc itself and
// says so. A connection already closed is nil; one that is reconnecting is closed (there
// is nothing it could still flush).
func Drain(nc *nats.Conn, timeout time.Duration) error {
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	prev := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		close(closed)
	})
	if err := nc.Drain(); err != nil {
		nc.Close()
		if errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("drain NATS: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-time.After(timeout):
		nc.Close()
		return fmt.Errorf("drain NATS: not done in %s", timeout)
	}
}

// EnsureUntil runs ensure (which sets up streams or buckets) until it succeeds or ctx
// ends, backing off from 250ms to 5s between attempts and logging each failure. It
// returns nil once ensure succeeded, ctx's error otherwise. Each attempt gets at most 5s.
func EnsureUntil(ctx context.Context, log *slog.Logger, what string, ensure func(context.Context) error) error {
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := ensure(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+" failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}
