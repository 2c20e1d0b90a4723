// Package natsembed runs a NATS server with JetStream inside the current process, on a
// data directory of its own. The local stack (`make run`) and the tests use it;
// production points NATS_URL at a real cluster instead.
package natsembed

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
}

// Validate reports the first problem with the config.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("natsembed: Dir is required")
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
	ns, err := server.NewServer(&server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 1 << 20,
	})
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

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
