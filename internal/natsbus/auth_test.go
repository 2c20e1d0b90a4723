package natsbus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/internal/proctest"
)

func TestAuthFlagsAndTheirVariables(t *testing.T) {
	var a natsbus.Auth
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	a.BindFlags(fs)
	for name := range natsbus.AuthFlagEnvNames {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag %q", name)
		}
	}
	if err := fs.Parse([]string{"-nats-user", "ingest", "-nats-password", "pw", "-nats-ca", "/ca.pem"}); err != nil {
		t.Fatal(err)
	}
	if a != (natsbus.Auth{User: "ingest", Password: "pw", CA: "/ca.pem"}) {
		t.Fatalf("got %+v", a)
	}
	want := map[string]string{"nats-user": "NATS_USER", "nats-password": "NATS_PASSWORD", "nats-ca": "NATS_CA"}
	for k, v := range want {
		if natsbus.AuthFlagEnvNames[k] != v {
			t.Errorf("-%s: variable %q, want %s (the same in every service)", k, natsbus.AuthFlagEnvNames[k], v)
		}
	}
}

func TestAuthValidateNamesTheVariablesNeverThePassword(t *testing.T) {
	tests := []struct {
		name string
		auth natsbus.Auth
		want string
	}{
		{"anonymous", natsbus.Auth{}, ""},
		{"user and password", natsbus.Auth{User: "ingest", Password: "s3cret-pw"}, ""},
		{"password alone", natsbus.Auth{Password: "s3cret-pw"}, "NATS_USER"},
		{"user alone", natsbus.Auth{User: "ingest"}, "NATS_PASSWORD_FILE"},
		{"user with a space", natsbus.Auth{User: "in gest", Password: "s3cret-pw"}, "white space"},
		{"missing CA file", natsbus.Auth{User: "ingest", Password: "s3cret-pw", CA: "/nonexistent/ca.pem"}, "NATS_CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.auth.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v, want an error naming %s", err, tt.want)
			case err != nil && (!errors.Is(err, natsbus.ErrAuthConfig) || strings.Contains(err.Error(), "s3cret-pw")):
				t.Fatalf("Validate: %v: must wrap ErrAuthConfig and never show the password", err)
			}
			if s := tt.auth.String(); strings.Contains(s, "s3cret-pw") {
				t.Errorf("String() = %q shows the password", s)
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	got := natsbus.RedactURLs("nats://u:pw@a:4222, nats://b:4222,tls://c")
	if strings.Contains(got, "pw") || !strings.Contains(got, "nats://u:xxxxx@a:4222") || !strings.Contains(got, "nats://b:4222") {
		t.Fatalf("RedactURLs = %q", got)
	}
}

func TestConnectAsRefusesBadCredentialsConfig(t *testing.T) {
	_, err := natsbus.ConnectAs("nats://127.0.0.1:1", "x", natsbus.RoleIngest, natsbus.Auth{User: "ingest"}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, natsbus.ErrAuthConfig) {
		t.Fatalf("ConnectAs with a user and no password: %v", err)
	}
}

// TestTLSWithCA: with -nats-ca the client requires TLS and verifies the server against
// the CA; without it, a server that requires TLS is never reached.
func TestTLSWithCA(t *testing.T) {
	dir := t.TempDir()
	serverTLS, caFile := testCerts(t, dir)
	users, auth := natstest.Users()
	ns, err := natsembed.Start(natsembed.Config{Dir: filepath.Join(dir, "js"), Port: -1, Users: users, TLS: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	a := auth[natsbus.RoleStreams]
	a.CA = caFile
	nc, err := natsbus.ConnectAs(ns.ClientURL(), "tls", natsbus.RoleStreams, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitConnected(t, nc.IsConnected)
	if !nc.TLSRequired() {
		t.Error("the server does not require TLS")
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Errorf("not a TLS connection: %v", err)
	}
	js, _ := jetstream.New(nc)
	if err := natsbus.EnsureStreams(ctx(t), js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamEvents); err != nil {
		t.Fatalf("JetStream over TLS: %v", err)
	}

	// Another CA: the server's certificate does not verify.
	_, otherCA := testCerts(t, t.TempDir())
	a.CA = otherCA
	bad, err := natsbus.ConnectAs(ns.ClientURL(), "tls", natsbus.RoleWorker, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	time.Sleep(time.Second)
	if bad.IsConnected() {
		t.Error("connected to a server whose certificate another CA signed")
	}
}

func waitConnected(t *testing.T, connected func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !connected() {
		if time.Now().After(deadline) {
			t.Fatal("not connected within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCerts makes a CA and a server certificate for 127.0.0.1 signed by it, and
// returns the server's TLS config and the CA's PEM file.
func testCerts(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}, caFile
}

// A service whose login NATS refuses keeps trying, and connects once NATS takes it
// (a password rotated on the servers after the service restarted).
func TestRefusedLoginIsRetriedUntilAccepted(t *testing.T) {
	dir := t.TempDir()
	users, auth := natstest.Users()
	port := proctest.Port(t)
	old := auth[natsbus.RoleIngest]
	for i := range users {
		if users[i].Name == "ingest" {
			users[i].Password = "the-new-password-123"
		}
	}
	ns, err := natsembed.Start(natsembed.Config{Dir: dir, Port: port, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := natsbus.ConnectAs(ns.ClientURL(), "x", natsbus.RoleIngest, old, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	time.Sleep(1500 * time.Millisecond) // several refused attempts
	if nc.IsConnected() || nc.IsClosed() {
		t.Fatalf("after refused logins: connected %v, closed %v; want still trying", nc.IsConnected(), nc.IsClosed())
	}
	// The servers take the old password again: the client gets in without a restart.
	ns.Shutdown()
	for i := range users {
		if users[i].Name == "ingest" {
			users[i].Password = old.Password
		}
	}
	ns, err = natsembed.Start(natsembed.Config{Dir: dir, Port: port, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	waitConnected(t, nc.IsConnected)
}
