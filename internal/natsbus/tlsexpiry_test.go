package natsbus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/internal/proctest"
)

// testCA is a certificate authority for tests: its certificate, key and expiry.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64 = 100

// issue makes a certificate valid until notAfter, signed by parent (nil: self-signed),
// a CA when ca is true, else a server certificate for 127.0.0.1.
func issue(t *testing.T, parent *testCA, cn string, notAfter time.Time, ca bool) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.Truncate(time.Second),
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// caIn makes a CA valid until notAfter and writes its certificate into dir, as NATS_CA.
func caIn(t *testing.T, dir string, notAfter time.Time) (*testCA, string) {
	t.Helper()
	ca := issue(t, nil, "test CA", notAfter, true)
	file := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, file
}

// expiries gathers TLSExpiryMetric from c: "server/cert" -> Unix seconds.
func expiries(t *testing.T, c prometheus.Collector) map[string]int64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, mf := range mfs {
		if mf.GetName() != natsbus.TLSExpiryMetric {
			t.Errorf("unexpected metric %s", mf.GetName())
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["server"]+"/"+labels["cert"]] = int64(m.GetGauge().GetValue())
		}
	}
	return got
}

// eventually gathers c until it exports want ("server/cert" -> expiry; a probe answers
// in the background), for at most 10 s.
func eventually(t *testing.T, when string, c prometheus.Collector, want map[string]time.Time) {
	t.Helper()
	w := map[string]int64{}
	for k, at := range want {
		w[k] = at.Unix()
	}
	got := expiries(t, c)
	for deadline := time.Now().Add(10 * time.Second); !maps.Equal(got, w); got = expiries(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: exports %v, want %v", when, got, w)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLSExpiryIsTheChainTheServerShows: the services export when the certificates
// NATS shows them expire (so a certificate renewed in its Secret but not yet loaded by
// nats-server still shows its old expiry), kept while the connection is down (an expired
// certificate makes every reconnection fail: its expiry must not vanish then), and the
// new one once a server shows another.
func TestTLSExpiryIsTheChainTheServerShows(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caFile := caIn(t, dir, now.Add(90*24*time.Hour))
	inter := issue(t, ca, "intermediate", now.Add(60*24*time.Hour), true)
	first := issue(t, inter, "nats", now.Add(10*24*time.Hour), false)
	serve := func(leaf *testCA) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{
			Certificate: [][]byte{leaf.cert.Raw, inter.cert.Raw}, PrivateKey: leaf.key}}}
	}
	users, auth := natstest.Users()
	port := proctest.Port(t)
	start := func(leaf *testCA) *natsembed.Server {
		ns, err := natsembed.Start(natsembed.Config{Dir: filepath.Join(dir, "js"), Port: port, Users: users, TLS: serve(leaf), ServerName: "nats-0"})
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	ns := start(first)
	a := auth[natsbus.RoleWorker]
	a.CA = caFile
	nc, err := natsbus.ConnectAs(ns.ClientURL(), "tls-expiry", natsbus.RoleWorker, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitConnected(t, nc.IsConnected)
	c := natsbus.NewTLSExpiry(nc, 0)
	chain := map[string]time.Time{"nats-0/server": first.cert.NotAfter, "nats-0/intermediate": inter.cert.NotAfter, "nats-0/ca": ca.cert.NotAfter}
	eventually(t, "connected", c, chain)

	ns.Shutdown()
	waitConnected(t, func() bool { return !nc.IsConnected() })
	for range 5 { // and probes that cannot reach it change nothing
		eventually(t, "disconnected", c, chain)
		time.Sleep(50 * time.Millisecond)
	}

	renewed := issue(t, inter, "nats", now.Add(70*24*time.Hour), false)
	ns = start(renewed)
	defer ns.Shutdown()
	waitConnected(t, nc.IsConnected)
	chain["nats-0/server"] = renewed.cert.NotAfter
	eventually(t, "reconnected to a server showing a renewed certificate", c, chain)
}

// TestTLSExpiryOfAPlainConnectionIsNothing: without TLS there is no certificate, and no
// series (a zero would read as "expired in 1970").
func TestTLSExpiryOfAPlainConnectionIsNothing(t *testing.T) {
	ns := natstest.Start(t)
	nc, err := natsbus.Connect(ns.URL(), "plain", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitConnected(t, nc.IsConnected)
	if got := expiries(t, natsbus.NewTLSExpiry(nc, 0)); len(got) != 0 {
		t.Errorf("a plain connection exports %v", got)
	}
}

// TestTLSExpiryFollowsAReloadWithoutReconnecting: a server that reloads a renewed
// certificate shows it to new connections only; a service's connection lives on with the
// old one. The collector's probe (a handshake of its own) sees the renewal without the
// service reconnecting: else the alert would page about a certificate long replaced,
// and never resolve.
func TestTLSExpiryFollowsAReloadWithoutReconnecting(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caFile := caIn(t, dir, now.Add(90*24*time.Hour))
	opts := func(leaf *testCA) *server.Options {
		return &server.Options{ServerName: "nats-r", Host: "127.0.0.1", NoLog: true, NoSigs: true, TLS: true, TLSTimeout: 2,
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}}}}
	}
	first := issue(t, ca, "nats", now.Add(10*24*time.Hour), false)
	o := opts(first)
	o.Port = -1
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := natsbus.ConnectAs(s.ClientURL(), "tls-expiry", "", natsbus.Auth{CA: caFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitConnected(t, nc.IsConnected)
	c := natsbus.NewTLSExpiry(nc, 0)
	eventually(t, "connected", c, map[string]time.Time{"nats-r/server": first.cert.NotAfter, "nats-r/ca": ca.cert.NotAfter})

	renewed := issue(t, ca, "nats", now.Add(70*24*time.Hour), false)
	o = opts(renewed)
	o.Port = s.Addr().(*net.TCPAddr).Port
	if err := s.ReloadOptions(o); err != nil {
		t.Fatal(err)
	}
	eventually(t, "after the server reloaded a renewed certificate", c, map[string]time.Time{"nats-r/server": renewed.cert.NotAfter, "nats-r/ca": ca.cert.NotAfter})
	if st, err := nc.TLSConnectionState(); err != nil || !st.PeerCertificates[0].NotAfter.Equal(first.cert.NotAfter) || nc.Stats().Reconnects != 0 {
		t.Errorf("the service's connection was made again (%v, %d reconnects): this test no longer shows the probe", err, nc.Stats().Reconnects)
	}
}

// TestTLSExpiryReadsEveryServerAndExpiredCertificates: every server of the pool is read,
// each under its own name, and one whose certificate has expired is read too (its date
// in the past), not dropped as a failed handshake: when a server's certificate expires
// every reconnection to it fails, and the figure must say so rather than vanish. A pod
// that could never connect (every certificate expired) exports the dates all the same.
func TestTLSExpiryReadsEveryServerAndExpiredCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caFile := caIn(t, dir, now.Add(90*24*time.Hour))
	start := func(name string, leaf *testCA) *natsembed.Server {
		ns, err := natsembed.Start(natsembed.Config{Dir: filepath.Join(dir, name), Port: -1, ServerName: name,
			TLS: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ns.Shutdown)
		return ns
	}
	valid := issue(t, ca, "nats", now.Add(10*24*time.Hour), false)
	expired := issue(t, ca, "nats", now.Add(-30*time.Minute), false) // valid from an hour ago to half an hour ago
	good, bad := start("nats-good", valid), start("nats-expired", expired)

	nc, err := natsbus.ConnectAs(good.ClientURL()+","+bad.ClientURL(), "tls-expiry", "", natsbus.Auth{CA: caFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitConnected(t, nc.IsConnected)
	eventually(t, "one server valid, one expired", natsbus.NewTLSExpiry(nc, 0), map[string]time.Time{
		"nats-good/server": valid.cert.NotAfter, "nats-good/ca": ca.cert.NotAfter,
		"nats-expired/server": expired.cert.NotAfter, "nats-expired/ca": ca.cert.NotAfter,
	})

	never, err := natsbus.ConnectAs(bad.ClientURL(), "tls-expiry", "", natsbus.Auth{CA: caFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer never.Close()
	eventually(t, "a client whose only server shows an expired certificate", natsbus.NewTLSExpiry(never, 0), map[string]time.Time{
		"nats-expired/server": expired.cert.NotAfter, "nats-expired/ca": ca.cert.NotAfter,
	})
	if never.IsConnected() {
		t.Error("connected to a server showing an expired certificate: the test no longer shows a pod that never connected")
	}

	// A certificate of another authority is no figure of ours: a probe reads nothing.
	other := issue(t, nil, "another CA", now.Add(90*24*time.Hour), true)
	stranger := start("nats-stranger", issue(t, other, "nats", now.Add(20*24*time.Hour), false))
	foreign, err := natsbus.ConnectAs(stranger.ClientURL(), "tls-expiry", "", natsbus.Auth{CA: caFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	c := natsbus.NewTLSExpiry(foreign, 0)
	for range 20 {
		if got := expiries(t, c); len(got) != 0 {
			t.Fatalf("a server whose certificate another CA signed: exports %v, want nothing", got)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
