// Package natstest starts embedded NATS JetStream servers for tests.
package natstest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/proctest"
)

// Server is a test server that can be stopped and started again on the same port and
// data directory, the way a real server restarts.
type Server struct {
	*natsembed.Server
	t    testing.TB
	cfg  natsembed.Config
	down bool
	auth map[natsbus.Role]natsbus.Auth
}

// Start starts a JetStream server on a free loopback port with its data in a temp dir,
// and shuts it down when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	cfg := natsembed.Config{Dir: t.TempDir(), Port: proctest.Port(t)}
	s := &Server{t: t, cfg: cfg}
	s.start()
	t.Cleanup(func() {
		if !s.down {
			s.Server.Shutdown()
		}
	})
	return s
}

// StartSecure is Start with authorization on, as in production: one user per
// natsbus.Role with a random password and the role's permissions, and no anonymous
// clients. Auth gives each role's credentials.
func StartSecure(t testing.TB) *Server {
	t.Helper()
	cfg := natsembed.Config{Dir: t.TempDir(), Port: proctest.Port(t)}
	var auth map[natsbus.Role]natsbus.Auth
	cfg.Users, auth = Users()
	s := &Server{t: t, cfg: cfg, auth: auth}
	s.start()
	t.Cleanup(func() {
		if !s.down {
			s.Server.Shutdown()
		}
	})
	return s
}

// Users returns a natsembed user per natsbus.Role, with a new random password and the
// role's permissions, and the credentials each role connects with.
func Users() ([]natsembed.User, map[natsbus.Role]natsbus.Auth) { return natsembed.RoleUsers() }

// Auth is the credentials of role on a server from StartSecure (none on one from Start).
func (s *Server) Auth(role natsbus.Role) natsbus.Auth { return s.auth[role] }

// URL is the server's client URL; it stays the same across Stop and Restart.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.cfg.Port) }

// Stop shuts the server down.
func (s *Server) Stop() {
	s.t.Helper()
	if !s.down {
		s.Server.Shutdown()
		s.down = true
	}
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := natsembed.Start(s.cfg)
	if err != nil {
		s.t.Fatalf("start NATS: %v", err)
	}
	s.Server, s.down = srv, false
}

// JetStream connects to url (one URL or several, comma-separated) with opts for the test,
// closing the connection when it ends, and returns its JetStream.
func JetStream(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// EnsureAll does what `worker streams` does: it makes every stream and bucket
// (natsbus.EnsureAll with the default configuration), as the streams identity
// (natsbus.RoleStreams) on a server with the permissions on. It fails the test after 10s.
func (s *Server) EnsureAll(t testing.TB) {
	t.Helper()
	js := s.StreamsJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureAll(ctx, js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatalf("the streams and buckets: %v", err)
	}
}

// StreamsJetStream connects as natsbus.RoleStreams, the identity that alone may create
// and update streams and buckets (anonymously on a server from Start), for the test.
func (s *Server) StreamsJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	opts := []nats.Option{nats.CustomInboxPrefix(natsbus.RoleStreams.InboxPrefix())}
	if a, ok := s.auth[natsbus.RoleStreams]; ok {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	return JetStream(t, s.URL(), opts...)
}
