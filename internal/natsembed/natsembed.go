// Package natsembed runs a NATS server with JetStream inside the current process, on a
// data directory of its own. The local stack (`make run`) and the tests use it;
// production points NATS_URL at a real cluster instead.
package natsembed

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// Config says where the embedded server keeps its data and where it listens.
type Config struct {
	// Dir holds JetStream's files. Required.
	Dir string
	// Host and Port to listen on; Port -1 picks a free port. Defaults: 127.0.0.1 and 4222.
	Host string
	Port int
	// ServerName names the server in logs and in JetStream's metadata.
	ServerName string
	// SyncAlways fsyncs every JetStream write before the PubAck instead of every
	// SyncInterval: slower, but an acknowledged message survives a power cut.
	SyncAlways bool
	// ReadyTimeout bounds the wait for the server to accept clients. Default 10s.
	ReadyTimeout time.Duration
	// Users, when not empty, turns authorization on: only they may connect (an
	// anonymous client is refused), each with its permissions. Empty: anyone may
	// connect and do anything (benchmarks, tests that are not about permissions).
	Users []User
	// TLS, when set, makes the server require TLS from every client.
	TLS *tls.Config
	// MonitorPort, when not 0, serves NATS's monitoring endpoints (/healthz, /varz,
	// /jsz...) over HTTP on Host: what prometheus-nats-exporter and an operator's curl
	// read. -1 picks a free port (Server.MonitorURL says which).
	MonitorPort int
}

// User is one NATS user of the embedded server: a name, a password and the subjects it
// may publish and subscribe to (anything else is a permissions violation; nil lists
// allow nothing).
type User struct {
	Name, Password     string
	Publish, Subscribe []string
	PublishDeny        []string // carved out of Publish
}

// Validate reports the first problem with the config.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("natsembed: Dir is required")
	}
	seen := map[string]bool{}
	for _, u := range c.Users {
		switch {
		case u.Name == "" || u.Password == "":
			return fmt.Errorf("natsembed: user %q needs a name and a password", u.Name)
		case seen[u.Name]:
			return fmt.Errorf("natsembed: user %q given twice", u.Name)
		}
		seen[u.Name] = true
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 4222
	}
	if c.ServerName == "" {
		c.ServerName = "epayflow-embedded"
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Second
	}
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts a server and waits until it accepts clients.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 1 << 20,
		// The streams reserve their max bytes (3 x 16 GiB and more by default); left to
		// itself the server allows 75% of the disk's free space, which on a machine with
		// less than about 70 GB free refused the last stream made (10047). A local server
		// is bounded by its disk, not by a reservation.
		JetStreamMaxStore: 1 << 40,
		HTTPHost:          cfg.Host,
		HTTPPort:          cfg.MonitorPort,
	}
	for _, u := range cfg.Users {
		opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: &server.Permissions{
			// An empty allow list would allow everything: a nil one denies it all.
			Publish:   &server.SubjectPermission{Allow: orNone(u.Publish), Deny: append(denyAll(u.Publish), u.PublishDeny...)},
			Subscribe: &server.SubjectPermission{Allow: orNone(u.Subscribe), Deny: denyAll(u.Subscribe)},
		}})
	}
	if cfg.TLS != nil {
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, cfg.TLS, 2
	}
	// A port another process holds is said at once: the server itself would only not be
	// ready after ReadyTimeout.
	if cfg.Port > 0 {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("natsembed: cannot listen on %s: %w", addr, err)
		}
		ln.Close()
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("natsembed: server on %s:%d not ready within %s", cfg.Host, cfg.Port, cfg.ReadyTimeout)
	}
	return &Server{ns: ns}, nil
}

// RoleUsers returns a user for each natsbus.Role, named like the role, with the role's
// permissions and a new random password (24 random bytes), and the credentials each
// role connects with.
func RoleUsers() ([]User, map[natsbus.Role]natsbus.Auth) {
	var users []User
	auth := map[natsbus.Role]natsbus.Auth{}
	for _, r := range natsbus.Roles() {
		b := make([]byte, 24)
		rand.Read(b) // never fails (crypto/rand)
		pw := base64.RawURLEncoding.EncodeToString(b)
		p := r.Permissions()
		users = append(users, User{Name: string(r), Password: pw, Publish: p.Publish, PublishDeny: p.PublishDeny, Subscribe: p.Subscribe})
		auth[r] = natsbus.Auth{User: string(r), Password: pw}
	}
	return users, auth
}

// orNone is subjects, or nil when there are none.
func orNone(subjects []string) []string {
	if len(subjects) == 0 {
		return nil
	}
	return subjects
}

// denyAll is ">" when subjects is empty: the server reads no allow list as "allow all".
func denyAll(subjects []string) []string {
	if len(subjects) == 0 {
		return []string{">"}
	}
	return nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// MonitorURL is the http:// URL of the monitoring endpoints; empty without
// Config.MonitorPort.
func (s *Server) MonitorURL() string {
	addr := s.ns.MonitorAddr()
	if addr == nil {
		return ""
	}
	return "http://" + addr.String()
}

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
