package natsbus

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
// a NATS server shows expires, in Unix seconds, by server (its server_name) and cert:
// "server" (the certificate the server shows), "intermediate" (the earliest of any
// between it and the CA) and "ca" (the authority of NATS_CA that signed the chain).
const TLSExpiryMetric = "epayflow_nats_tls_cert_expiry_timestamp_seconds"

// TLSProbeEvery is how often the services look again at the certificates the NATS
// servers show (NewTLSExpiry).
const TLSProbeEvery = 5 * time.Minute

// NewTLSExpiry returns the collector of TLSExpiryMetric for nc, a connection that
// verifies its servers with TLS (it exports nothing for one without).
//
// A TLS connection keeps the certificate of its handshake for as long as it lives, while
// a server that reloads shows a renewed certificate to new connections only: the one
// that matters, as every reconnection is a new handshake. So at most every `every`, a
// scrape starts a probe in the background (it never holds the scrape up): a TLS
// handshake with each server nc knows of (those of NATS_URL, those the cluster told it
// of, the one it is connected to), connected or not, that sends nothing and is closed at
// once. The chain is verified as nc verifies it (NATS_CA, the server's name) except for
// the dates: a certificate that has expired is read and exported, in the past, rather
// than refused and dropped, so that neither a server showing an expired certificate nor
// a pod started after the expiry (never connected) makes the figure vanish while every
// reconnection fails. A probe that no server answers keeps the last figures; before the
// first answer there are none. (nc's own connection is not read: nats.go's
// TLSConnectionState races with a reconnection.)
func NewTLSExpiry(nc *nats.Conn, every time.Duration) prometheus.Collector {
	return &tlsExpiry{nc: nc, every: every, desc: prometheus.NewDesc(TLSExpiryMetric,
		"When the certificates a NATS server shows this process expire (Unix seconds), by server and cert: server, intermediate (the earliest) or ca.",
		[]string{"server", "cert"}, nil)}
}

type tlsExpiry struct {
	nc    *nats.Conn
	every time.Duration
	desc  *prometheus.Desc

	mu      sync.Mutex
	last    map[expiryKey]float64 // of the last chains read
	probing bool
	next    time.Time // the earliest start of the next probe
}

type expiryKey struct{ server, cert string }

func (c *tlsExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tlsExpiry) Collect(ch chan<- prometheus.Metric) {
	if !c.secure() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); !c.probing && !now.Before(c.next) {
		c.probing, c.next = true, now.Add(c.every)
		go c.probe()
	}
	for k, at := range c.last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, at, k.server, k.cert)
	}
}

// secure reports whether nc verifies its servers with TLS.
func (c *tlsExpiry) secure() bool {
	o := &c.nc.Opts
	return o.Secure || o.TLSConfig != nil || o.RootCAsCB != nil
}

// probe reads the chain each server shows a new connection now; with no answer at all
// it keeps what it had.
func (c *tlsExpiry) probe() {
	got := map[expiryKey]float64{}
	base := c.baseTLSConfig()
	for _, addr := range c.servers() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		name, chain, err := probeChain(ctx, addr, c.tlsConfig(base, addr))
		cancel()
		if err == nil {
			addChain(got, name, chain)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(got) > 0 {
		c.last = got
	}
	c.probing = false
}

// maxProbed bounds the servers a probe reads: a cluster's, not what a server could claim.
const maxProbed = 16

// servers are the addresses (host:port) of the server nc is connected to and of every
// server in its pool: NATS_URL's and those the cluster told it of.
func (c *tlsExpiry) servers() []string {
	addrs := []string{c.nc.ConnectedAddr()}
	for _, s := range c.nc.Servers() {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			addrs = append(addrs, u.Host)
		}
	}
	seen := map[string]bool{"": true}
	var out []string
	for _, a := range addrs {
		if !seen[a] && len(out) < maxProbed {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// baseTLSConfig is nc's TLS configuration with the CAs of NATS_CA read again (as nats.go
// does at each connection): once a probe, for every server it reads.
func (c *tlsExpiry) baseTLSConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.nc.Opts.TLSConfig != nil {
		cfg = c.nc.Opts.TLSConfig.Clone()
	}
	if c.nc.Opts.RootCAsCB != nil {
		if pool, err := c.nc.Opts.RootCAsCB(); err == nil {
			cfg.RootCAs = pool
		}
	}
	return cfg
}

// tlsConfig is how nc verifies the server at addr: base, naming the server as nats.go
// does: addr's host, or for an IP address the host name of NATS_URL (an address the
// cluster gives is an IP; the certificate names the Service).
func (c *tlsExpiry) tlsConfig(base *tls.Config, addr string) *tls.Config {
	cfg := base.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		if net.ParseIP(host) != nil {
			for _, s := range append([]string{c.nc.Opts.Url}, c.nc.Opts.Servers...) {
				for _, one := range strings.Split(s, ",") {
					if u, err := url.Parse(strings.TrimSpace(one)); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
						cfg.ServerName = u.Hostname()
						break
					}
				}
				if cfg.ServerName != "" {
					break
				}
			}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
	}
	return cfg
}

// probeChain opens a connection to the NATS server at addr, reads its INFO line (NATS
// speaks first, then the client upgrades to TLS), makes the TLS handshake and returns
// the server's name and its chain, leaf first, verified against cfg's roots for cfg's
// server name at a time when every certificate of the chain was valid: the dates are
// what it measures, not what it checks. It sends no credentials and closes at once.
func probeChain(ctx context.Context, addr string, cfg *tls.Config) (string, []*x509.Certificate, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	line, err := bufio.NewReaderSize(conn, 32<<10).ReadSlice('\n') // an INFO line is a few hundred bytes; a cluster's list of addresses adds some
	if err != nil {
		return "", nil, fmt.Errorf("%s: reading INFO: %w", addr, err)
	}
	info, ok := bytes.CutPrefix(line, []byte("INFO "))
	if !ok {
		return "", nil, fmt.Errorf("%s: not a NATS server", addr)
	}
	var server struct {
		Name string `json:"server_name"`
	}
	if err := json.Unmarshal(info, &server); err != nil {
		return "", nil, fmt.Errorf("%s: INFO: %w", addr, err)
	}
	var chain []*x509.Certificate
	cfg = cfg.Clone()
	roots, name := cfg.RootCAs, cfg.ServerName
	cfg.InsecureSkipVerify = true // verified below, the dates aside
	cfg.VerifyConnection = nil
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		chain, err = verifyIgnoringDates(raw, roots, name)
		return err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", nil, err
	}
	if len(chain) == 0 {
		return "", nil, errors.New("no certificate")
	}
	return server.Name, chain, nil
}

// verifyIgnoringDates verifies the certificates raw (leaf first) against roots for the
// server name, as of the latest NotBefore among them, and returns the chain verified.
func verifyIgnoringDates(raw [][]byte, roots *x509.CertPool, name string) ([]*x509.Certificate, error) {
	if len(raw) == 0 {
		return nil, errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, err
		}
		certs[i] = c
	}
	when := certs[0].NotBefore
	for _, c := range certs[1:] {
		if c.NotBefore.After(when) {
			when = c.NotBefore
		}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name,
		CurrentTime: when.Add(time.Second)})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

// addChain records the expiry of each part of chain (leaf first) as server's, keeping
// the earliest: the leaf is "server", the last (a chain longer than one) "ca", the
// earliest of those between "intermediate".
func addChain(m map[expiryKey]float64, server string, chain []*x509.Certificate) {
	put := func(cert string, c *x509.Certificate) {
		k, at := expiryKey{server, cert}, float64(c.NotAfter.Unix())
		if v, ok := m[k]; !ok || at < v {
			m[k] = at
		}
	}
	put("server", chain[0])
	if len(chain) > 1 {
		put("ca", chain[len(chain)-1])
	}
	for _, c := range chain[1:max(len(chain)-1, 1)] {
		put("intermediate", c)
	}
}
