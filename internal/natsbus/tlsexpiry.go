package natsbus

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// TLSExpiryMetric is the gauge NewTLSExpiry exports: when each certificate of the chain
// the NATS servers show this process expires, in Unix seconds, by cert: "server" (the
// certificate the servers show), "intermediate" (the earliest of any between it and the
// CA) and "ca" (the authority of NATS_CA that signed the chain); the earliest over the
// servers.
const TLSExpiryMetric = "epayflow_nats_tls_cert_expiry_timestamp_seconds"

// TLSProbeEvery is how often the services look again at the certificates the NATS
// servers show (NewTLSExpiry).
const TLSProbeEvery = 5 * time.Minute

// NewTLSExpiry returns the collector of TLSExpiryMetric for nc.
//
// A TLS connection keeps the certificate of its handshake for as long as it lives, while
// a server that reloads shows a renewed certificate to new connections only: the one
// that matters, as every reconnection is a new handshake. So at most every `every`, a
// scrape starts a probe in the background (it never holds the scrape up): a TLS
// handshake with the server nc is connected to and each one it learnt of, verified as nc
// verifies them, that sends nothing and is closed at once. Until the first probe answers,
// the chain of nc's own connection stands in. A probe that fails (a server down, or a
// certificate expired: the handshake refuses it) keeps the last dates read, so an expired
// certificate stays visible, in the past, rather than vanishing. A connection without TLS
// exports nothing.
func NewTLSExpiry(nc *nats.Conn, every time.Duration) prometheus.Collector {
	return &tlsExpiry{nc: nc, every: every, desc: prometheus.NewDesc(TLSExpiryMetric,
		"When the certificates the NATS servers show this process expire (Unix seconds), by cert: server, intermediate (the earliest) or ca; the earliest over the servers.",
		[]string{"cert"}, nil)}
}

type tlsExpiry struct {
	nc    *nats.Conn
	every time.Duration
	desc  *prometheus.Desc

	mu      sync.Mutex
	last    map[string]float64 // cert -> NotAfter, of the last chain read
	probed  bool               // last is a probe's (not the connection's own chain)
	probing bool
	next    time.Time // the earliest start of the next probe
}

func (c *tlsExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tlsExpiry) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, err := c.nc.TLSConnectionState(); err == nil {
		if !c.probed {
			if chain := verifiedChain(st); len(chain) > 0 {
				c.last = chainExpiry(chain)
			}
		}
		if now := time.Now(); !c.probing && !now.Before(c.next) {
			c.probing, c.next = true, now.Add(c.every)
			go c.probe()
		}
	}
	for cert, at := range c.last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, at, cert)
	}
}

// probe reads the chain each server shows a new connection now and keeps the earliest
// expiry of each part; with no answer it keeps what it had.
func (c *tlsExpiry) probe() {
	var got map[string]float64
	for _, addr := range c.servers() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		chain, err := probeChain(ctx, addr, c.tlsConfig(addr))
		cancel()
		if err != nil {
			continue
		}
		for cert, at := range chainExpiry(chain) {
			if v, ok := got[cert]; !ok || at < v {
				if got == nil {
					got = map[string]float64{}
				}
				got[cert] = at
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if got != nil {
		c.last, c.probed = got, true
	}
	c.probing = false
}

// maxProbed bounds the servers a probe reads: a cluster's, not what a server could claim.
const maxProbed = 16

// servers are the addresses (host:port) of the server nc is connected to and of those
// it learnt of from the cluster.
func (c *tlsExpiry) servers() []string {
	addrs := []string{c.nc.ConnectedAddr()}
	for _, s := range c.nc.DiscoveredServers() {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			addrs = append(addrs, u.Host)
		}
	}
	seen := map[string]bool{"": true}
	out := addrs[:0]
	for _, a := range addrs {
		if !seen[a] && len(out) < maxProbed {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// tlsConfig is how nc verifies a server: its TLS configuration with the CAs of NATS_CA
// read again (as nats.go does at each connection), for the name of the configured URL
// (an address learnt from the cluster is an IP; the certificate names the Service).
func (c *tlsExpiry) tlsConfig(addr string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.nc.Opts.TLSConfig != nil {
		cfg = c.nc.Opts.TLSConfig.Clone()
	}
	if c.nc.Opts.RootCAsCB != nil {
		if pool, err := c.nc.Opts.RootCAsCB(); err == nil {
			cfg.RootCAs = pool
		}
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		for _, s := range append([]string{c.nc.Opts.Url}, c.nc.Opts.Servers...) {
			if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
				host = u.Hostname()
				break
			}
		}
		cfg.ServerName = host
	}
	return cfg
}

// probeChain opens a connection to the NATS server at addr, reads its INFO line (NATS
// speaks first, then the client upgrades to TLS), makes the TLS handshake with cfg and
// returns the verified chain, leaf first. It sends no credentials and closes at once.
func probeChain(ctx context.Context, addr string, cfg *tls.Config) ([]*x509.Certificate, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	line, err := bufio.NewReaderSize(conn, 4096).ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: reading INFO: %w", addr, err)
	}
	if !strings.HasPrefix(string(line), "INFO ") {
		return nil, fmt.Errorf("%s: not a NATS server", addr)
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	chain := verifiedChain(tc.ConnectionState())
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	return chain, nil
}

// verifiedChain is the chain a handshake verified (its CA at the end), else the
// certificates the peer sent.
func verifiedChain(st tls.ConnectionState) []*x509.Certificate {
	if len(st.VerifiedChains) > 0 {
		return st.VerifiedChains[0]
	}
	return st.PeerCertificates
}

// chainExpiry is the expiry of each part of chain (leaf first): the leaf is "server",
// the last (a chain longer than one) "ca", the earliest of those between "intermediate".
func chainExpiry(chain []*x509.Certificate) map[string]float64 {
	at := func(c *x509.Certificate) float64 { return float64(c.NotAfter.Unix()) }
	m := map[string]float64{"server": at(chain[0])}
	if len(chain) > 1 {
		m["ca"] = at(chain[len(chain)-1])
	}
	for _, c := range chain[1:max(len(chain)-1, 1)] {
		if v, ok := m["intermediate"]; !ok || at(c) < v {
			m["intermediate"] = at(c)
		}
	}
	return m
}
