package k8s_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// TestOverlaysRunEndToEnd runs what each overlay renders, for real and without
// Kubernetes (pods_test.go says how, and what is rewritten): nats-server processes with
// the overlay's nats.conf and the files it includes (three for prod, a cluster over TLS
// routes), the ingest, the initiator and the worker with their containers' environment
// and the Secrets make-secrets.sh prints, ePay's sandbox over HTTPS, and the Ingress in
// front of the ingest. It requires every server and service ready by its own probes,
// every stream and key-value bucket created with the overlay's replicas, and one card
// payment to go from POST /v1/payments to its payments.paid event, read as the NATS user
// subscriber: what the manifests say works together.
func TestOverlaysRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the services and runs every pod of both overlays")
	}
	bins := buildRunBinaries(t)
	forEachOverlay(t, func(t *testing.T, b *build) { runOverlay(t, b, bins) })
}

// buildRunBinaries builds the services and nats-server (the version go.mod pins; the
// StatefulSet's image is the same release) into a directory.
func buildRunBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := (proctest.Builder{Dir: dir}).Build(ctx, "ingest", "initiator", "worker", "webhooks", proctest.NATSServer); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runOverlay(t *testing.T, b *build, bins string) {
	ns := b.namespaces[0].Name
	// ePay's credentials as Halyk would issue them: not its public test ones, which prod
	// refuses. The sandbox accepts exactly these.
	secrets := makeSecrets(t, ns, "EPAY_CLIENT_ID=k8s-run-"+randomText(8), "EPAY_CLIENT_SECRET="+randomText(32),
		"EPAY_TERMINAL="+randomUUID())
	// Two authorities, as in production: a public one, in every image's CA bundle, for
	// ePay's and the Ingress's certificates; the cluster's own (cert-manager's) for the
	// NATS certificates, trusted only where the manifests say (ca_file, NATS_CA).
	ca, clusterCA := newTestCA(t), newTestCA(t)
	// The out-of-band TLS Secrets, naming what docs/DEPLOY.md says they must, and
	// 127.0.0.1, where the test maps those names.
	secrets["nats-client-tls"] = clusterCA.tlsSecret(t, "nats", "nats."+ns, "nats."+ns+".svc", "127.0.0.1")
	secrets["nats-route-tls"] = clusterCA.tlsSecret(t, "*.nats-headless", "*.nats-headless."+ns+".svc", "127.0.0.1")

	c := newCluster(t, b, bins, secrets)
	t.Cleanup(c.stopAll)
	in := startIngress(t, c, ca)
	sandboxLog := startSandbox(t, c, ca, in)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.pods {
				if p.proc != nil {
					t.Logf("---- %s (exited: %v), the end of its log:\n%s", p.name, p.proc.Exited(), p.proc.Output())
				}
			}
			t.Logf("---- ePay sandbox, the end of its log:\n%s", tail(sandboxLog))
		}
	})
	startPods(t, c, ca)

	cm := configMap(t, b, "epayflow-config").Data
	replicas, _ := strconv.Atoi(cm["NATS_STREAM_REPLICAS"])
	maxBytes, _ := strconv.ParseInt(cm["NATS_STREAM_MAX_BYTES"], 10, 64)
	connect := c.natsClient(t, "worker")
	admin := connect(natsbus.RoleAdmin)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	for _, s := range []string{natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ} {
		checkStream(ctx, t, admin, s, replicas, maxBytes)
	}
	checkStream(ctx, t, admin, natsbus.StreamState, replicas, -1) // grows with the invoices: no bytes reserved
	for _, s := range []string{natsbus.SequenceBucket, natsbus.ShardOwnersBucket} {
		checkStream(ctx, t, admin, "KV_"+s, replicas, 0)
	}
	if t.Failed() {
		return
	}
	payOnce(t, c, in, ca, connect(natsbus.RoleSubscriber))
	checkNATSCertificateExpiry(t, c, secrets["nats-client-tls"]["tls.crt"])
	// Made by the POST's Idempotency-Key: the initiator's bucket, also with the replicas.
	checkStream(ctx, t, admin, "KV_"+natsbus.IdempotencyBucket, replicas, 0)
}

// startPods starts the NATS servers and waits for their probes, then every other pod,
// and waits for theirs: what the StatefulSet's podManagementPolicy Parallel and the
// services' retries make of the order in a cluster, without restarts. The public test
// CA is each process's CA bundle (SSL_CERT_FILE), as the images' bundle holds the
// public CAs.
func startPods(t *testing.T, c *cluster, ca *testCA) {
	t.Helper()
	bundle := filepath.Join(c.root, "ca-bundle.crt")
	if err := os.WriteFile(bundle, ca.pem, 0o444); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for _, nats := range []bool{true, false} {
		var started []*pod
		for _, p := range c.pods {
			if (p.workload == "nats") == nats {
				c.start(p, "SSL_CERT_FILE="+bundle)
				started = append(started, p)
			}
		}
		for _, p := range started {
			waitProbes(t, c, p, deadline)
		}
		if nats {
			for _, p := range started {
				waitJetStream(t, c, p, deadline)
			}
		}
	}
}

// waitJetStream waits for a NATS server's full health check (/healthz on the port of
// its probes): JetStream up and, in a cluster, in contact with a meta leader, which
// needs the routes between the servers (their addresses, TLS and certificates).
func waitJetStream(t *testing.T, c *cluster, p *pod, deadline time.Time) {
	t.Helper()
	u, err := url.Parse(c.probeURL(p, p.main.ReadinessProbe))
	if err != nil {
		t.Fatal(err)
	}
	u.Path, u.RawQuery = "/healthz", ""
	client := &http.Client{Timeout: time.Second}
	last := ""
	for time.Now().Before(deadline) && !p.proc.Exited() {
		resp, err := client.Get(u.String())
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: JetStream not healthy (%s): %s", p.name, u, last)
}

// natsClient returns how the test connects to NATS as a role: with the NATS_URL and
// NATS_CA of the pods of workload (rewritten as theirs are) and the role's password
// from its Secret nats-<role>.
func (c *cluster) natsClient(t *testing.T, workload string) func(natsbus.Role) jetstream.JetStream {
	t.Helper()
	p := c.podsOf(workload)[0]
	env, _ := c.env(p)
	var natsURL, ca string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "NATS_URL":
			natsURL = v
		case "NATS_CA":
			ca = v
		}
	}
	return func(r natsbus.Role) jetstream.JetStream {
		nc, err := natsbus.ConnectAs(natsURL, "k8s-run-"+string(r), r,
			natsbus.Auth{User: string(r), Password: c.secrets["nats-"+string(r)]["password"], CA: ca}, quietLog)
		if err != nil {
			t.Fatalf("connect to NATS as %s: %v", r, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
}

// payOnce is one card payment: the merchant's backend asks the initiator (through its
// Service), the customer pays on ePay's card form, ePay calls the postLink through the
// Ingress, and the payments.paid event reaches a merchant's system subscribed as the
// NATS user subscriber.
func payOnce(t *testing.T, c *cluster, in *ingress, ca *testCA, subscriber jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	paid := subscribePaid(ctx, t, subscriber)
	inv, raw, obj := createPayment(t, c)
	for _, link := range []string{obj.PostLink, obj.FailurePostLink} {
		if err := in.check(link); err != nil {
			t.Fatalf("ePay could not call the initiator's postLink (PUBLIC_BASE_URL): %v", err)
		}
	}
	payWithCard(t, "https://"+c.epayAddr, ca, raw)
	ev, ok := waitEvent(ctx, t, paid, inv)
	if !ok {
		t.Fatalf("no payments.paid event for invoice %s on %s within 30s; the worker's read API says: %s",
			inv, natsbus.StreamEvents, workerView(t, c, inv))
	}
	if got := ev.Data.Invoice; ev.Type != events.TypePrefix+"paid" || got.InvoiceID != inv || got.Amount != obj.Amount || got.State != "paid" {
		t.Errorf("event: type %s invoice %s state %s amount %s, want %spaid, invoice %s, paid, amount %s",
			ev.Type, got.InvoiceID, got.State, got.Amount, events.TypePrefix, inv, obj.Amount)
	}
}

// checkNATSCertificateExpiry: every service that connects to NATS over TLS (NATS_CA set
// in its pod) exports when the certificate NATS shows it expires, on its metrics port,
// equal to the certificate of the Secret the servers use: the figure the
// EpayflowNATSCertificateExpiring alert reads.
func checkNATSCertificateExpiry(t *testing.T, c *cluster, servedPEM string) {
	t.Helper()
	block, _ := pem.Decode([]byte(servedPEM))
	if block == nil {
		t.Fatal("nats-client-tls: tls.crt is not PEM")
	}
	served, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("every NATS server's certificate expires at %d", served.NotAfter.Unix())
	// One line a NATS server (label server); the exposition writes 1796337968 as
	// 1.796337968e+09: compare the numbers.
	read := func(metrics string) string {
		var at []int64
		for line := range strings.Lines(metrics) {
			if !strings.HasPrefix(line, natsbus.TLSExpiryMetric+`{cert="server",`) {
				continue
			}
			_, v, _ := strings.Cut(strings.TrimSpace(line), "} ")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return "unreadable: " + line
			}
			at = append(at, int64(f))
		}
		if len(at) == 0 || slices.Min(at) != slices.Max(at) {
			return fmt.Sprintf("the NATS servers' certificates expire at %v", at)
		}
		return fmt.Sprintf("every NATS server's certificate expires at %d", at[0])
	}
	checked := 0
	for _, p := range c.pods {
		env, _ := c.env(p)
		if p.workload == "nats" || !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "NATS_CA=") }) {
			continue
		}
		port, ok := p.portOf(intstr.FromString("metrics"))
		if !ok {
			t.Errorf("%s: no port named metrics", p.name)
			continue
		}
		checked++
		var last string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			resp, err := http.Get("http://" + p.addr(port) + "/metrics")
			if err != nil {
				last = err.Error()
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if last = read(string(b)); last == want {
				break
			}
		}
		if last != want {
			t.Errorf("%s exports %q, want %q", p.name, last, want)
		}
	}
	if tls := c.secrets["nats-client-tls"] != nil && strings.Contains(configMap(t, c.b, "nats-config").Data["client-tls.conf"], "cert_file"); tls && checked == 0 {
		t.Error("NATS requires TLS here, and no pod was found connecting to it with NATS_CA: nothing was checked")
	}
	t.Logf("%d pods connect to NATS over TLS and export the expiry of its certificate", checked)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitProbes waits for the pod's startup, readiness and liveness probes to answer 200.
func waitProbes(t *testing.T, c *cluster, p *pod, deadline time.Time) {
	t.Helper()
	for _, pr := range []*corev1.Probe{p.main.StartupProbe, p.main.ReadinessProbe, p.main.LivenessProbe} {
		if pr == nil {
			continue
		}
		u := c.probeURL(p, pr)
		if err := p.proc.WaitHTTP(context.Background(), u, time.Until(deadline)); err != nil {
			t.Fatalf("%s not ready (its probe %s): %v", p.name, pr.HTTPGet.Path, firstLine(err))
		}
	}
}

// stopAll stops the services, then the NATS servers, each group at once.
func (c *cluster) stopAll() {
	for _, nats := range []bool{false, true} {
		var wg sync.WaitGroup
		for _, p := range c.pods {
			if p.proc != nil && (p.workload == "nats") == nats {
				wg.Go(func() {
					if err := p.proc.Stop(25 * time.Second); err != nil {
						c.t.Logf("stop %s: %v", p.name, err)
					}
				})
			}
		}
		wg.Wait()
	}
}

// checkStream requires stream name with the replicas wanted, all of them placed on a
// server and current (a cluster of three really holds three copies), and maxBytes when
// not 0.
func checkStream(ctx context.Context, t *testing.T, js jetstream.JetStream, name string, replicas int, maxBytes int64) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		s, err := js.Stream(ctx, name)
		switch {
		case err != nil:
			last = err.Error()
		case s.CachedInfo().Config.Replicas != replicas:
			t.Errorf("stream %s: %d replicas, want %d (NATS_STREAM_REPLICAS)", name, s.CachedInfo().Config.Replicas, replicas)
			return
		case maxBytes != 0 && s.CachedInfo().Config.MaxBytes != maxBytes:
			t.Errorf("stream %s: max bytes %d, want %d (NATS_STREAM_MAX_BYTES)", name, s.CachedInfo().Config.MaxBytes, maxBytes)
			return
		case currentPeers(s.CachedInfo().Cluster) == replicas:
			return
		default:
			last = fmt.Sprintf("%d of %d replicas current", currentPeers(s.CachedInfo().Cluster), replicas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("stream %s: %s", name, last)
}

func currentPeers(ci *jetstream.ClusterInfo) int {
	if ci == nil || ci.Leader == "" {
		return 0
	}
	n := 1
	for _, p := range ci.Replicas {
		if p.Current && !p.Offline {
			n++
		}
	}
	return n
}

// subscribePaid reads payments.paid from the start of PAYMENT_EVENTS, as a merchant's
// system does with the subscriber's identity.
func subscribePaid(ctx context.Context, t *testing.T, js jetstream.JetStream) jetstream.Consumer {
	t.Helper()
	cons, err := js.CreateConsumer(ctx, natsbus.StreamEvents, jetstream.ConsumerConfig{
		FilterSubject: events.Subject(invoice.EventPaid), DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("consumer on %s as subscriber: %v", natsbus.StreamEvents, err)
	}
	return cons
}

// waitEvent returns the payments.paid event of the invoice; false when none came
// before ctx ended.
func waitEvent(ctx context.Context, t *testing.T, cons jetstream.Consumer, invoiceID string) (events.CloudEvent, bool) {
	t.Helper()
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			continue
		}
		if err != nil {
			t.Fatalf("read %s: %v", natsbus.StreamEvents, err)
		}
		var ev events.CloudEvent
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("event on %s: %v: %s", msg.Subject(), err, msg.Data())
		}
		if ev.Subject == invoiceID {
			return ev, true
		}
	}
	return events.CloudEvent{}, false
}

// workerView is the invoice as the worker Service's read API shows it, with the
// initiator's key (for a failure message: where the payment stopped).
func workerView(t *testing.T, c *cluster, invoiceID string) string {
	t.Helper()
	addrs, err := c.resolve("worker", servicePort(t, c.b, "worker", "http"))
	if err != nil {
		return err.Error()
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addrs[0]+"/v1/invoices/"+invoiceID, nil)
	req.Header.Set("Authorization", "Bearer "+c.secrets["initiator-worker-key"]["INITIATOR_WORKER_KEY"])
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// createPayment is a merchant backend's POST /v1/payments to the initiator Service, with
// the first key of the Secret initiator-api-keys: the invoice id and the payment object,
// raw (for the card form) and decoded.
func createPayment(t *testing.T, c *cluster) (string, json.RawMessage, initiator.PaymentObject) {
	t.Helper()
	addrs, err := c.resolve("initiator", servicePort(t, c.b, "initiator", "http"))
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := strings.Cut(c.secrets["initiator-api-keys"]["INITIATOR_API_KEYS"], ",")
	body := `{"amount":100,"currency":"KZT","description":"Order 42","kind":"payment","email":"a@example.kz"}`
	// As a merchant does (docs/API.md): a 503 while NATS is not ready yet (a fresh cluster
	// still electing its streams' leaders) is sent again with the same Idempotency-Key.
	var resp *http.Response
	var raw []byte
	for deadline := time.Now().Add(45 * time.Second); ; {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addrs[0]+"/v1/payments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k8s-run-"+c.b.name)
		var err error
		resp, err = (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		t.Logf("POST /v1/payments: 503 %s; again in a second", raw)
		time.Sleep(time.Second) // the initiator's Retry-After
	}
	var p struct {
		InvoiceID     string          `json:"invoiceId"`
		PaymentObject json.RawMessage `json:"paymentObject"`
	}
	var obj initiator.PaymentObject
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &p) != nil || json.Unmarshal(p.PaymentObject, &obj) != nil {
		t.Fatalf("POST /v1/payments: %d %s", resp.StatusCode, raw)
	}
	if want, _ := epay.ParseAmount("100"); obj.InvoiceID != p.InvoiceID || obj.Amount != want {
		t.Fatalf("payment object for invoice %s amount %s, want invoice %s amount 100", obj.InvoiceID, obj.Amount, p.InvoiceID)
	}
	return p.InvoiceID, p.PaymentObject, obj
}

func servicePort(t *testing.T, b *build, svc, name string) int32 {
	t.Helper()
	if s, ok := b.services[svc]; ok {
		for _, sp := range s.Spec.Ports {
			if sp.Name == name {
				return sp.Port
			}
		}
	}
	t.Fatalf("no Service %s with a port %s", svc, name)
	return 0
}

// payWithCard takes the payment object to the sandbox's card form, as payment-api.js
// and a customer do, and pays with ePay's published test card.
func payWithCard(t *testing.T, epayURL string, ca *testCA, obj json.RawMessage) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(client, epayURL, obj, sandbox.TestCard); err != nil {
		t.Fatalf("ePay's card form: %v", err)
	}
}

// startSandbox serves ePay's sandbox over HTTPS on loopback (c.epayAddr), accepting
// the credentials of the Secret epay-credentials, and sends its callbacks the way
// ePay's would arrive: through the Ingress. It returns the path of its log.
func startSandbox(t *testing.T, c *cluster, ca *testCA, in *ingress) string {
	t.Helper()
	creds := c.secrets["epay-credentials"]
	logPath := filepath.Join(c.root, "sandbox.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cfg := sandbox.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.ClientID, cfg.ClientSecret, cfg.Terminals = creds["EPAY_CLIENT_ID"], creds["EPAY_CLIENT_SECRET"], []string{creds["EPAY_TERMINAL"]}
	cfg.HTTPClient = in.client(ca)
	sb, err := sandbox.New(cfg, slog.New(slog.NewTextHandler(f, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(sb.Handler())
	srv.TLS = ca.serverTLS(t, "127.0.0.1")
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(sb.Close)
	c.epayAddr = srv.Listener.Addr().String()
	return logPath
}

// ingress is the overlay's Ingress rules (host, path and pathType, backend Service and
// port) served over TLS on loopback, proxying to the backend's pods in turn.
type ingress struct {
	c     *cluster
	rules map[string][]networkingv1.HTTPIngressPath // by host
	addr  string
	turn  atomic.Uint64
}

func startIngress(t *testing.T, c *cluster, ca *testCA) *ingress {
	t.Helper()
	in := &ingress{c: c, rules: map[string][]networkingv1.HTTPIngressPath{}}
	var hosts []string
	for _, ing := range c.b.ingresses {
		for _, r := range ing.Spec.Rules {
			if r.HTTP != nil {
				in.rules[r.Host] = append(in.rules[r.Host], r.HTTP.Paths...)
				hosts = append(hosts, r.Host)
			}
		}
	}
	srv := httptest.NewUnstartedServer(in)
	srv.TLS = ca.serverTLS(t, hosts...)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	in.addr = srv.Listener.Addr().String()
	return in
}

// backend returns the addresses of the pods the Ingress sends https://host/path to.
func (in *ingress) backend(host, path string) ([]string, error) {
	for _, p := range in.rules[host] {
		if !ingressMatch(p, path) || p.Backend.Service == nil {
			continue
		}
		svc := p.Backend.Service
		port := svc.Port.Number
		if port == 0 {
			s, ok := in.c.b.services[svc.Name]
			if !ok {
				return nil, fmt.Errorf("the Ingress names Service %s, which the overlay lacks", svc.Name)
			}
			for _, sp := range s.Spec.Ports {
				if sp.Name == svc.Port.Name {
					port = sp.Port
				}
			}
		}
		return in.c.resolve(svc.Name, port)
	}
	hosts := slices.Sorted(maps.Keys(in.rules))
	return nil, fmt.Errorf("no rule of the Ingress (hosts %v) takes https://%s%s", hosts, host, path)
}

// check is what ePay needs of a postLink: https, on port 443, to a host and path the
// Ingress takes.
func (in *ingress) check(link string) error {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Port() != "" && u.Port() != "443" {
		return fmt.Errorf("%q: want https://host/path, port 443, served by the Ingress", link)
	}
	_, err = in.backend(u.Hostname(), u.Path)
	return err
}

func (in *ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	addrs, err := in.backend(host, r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	target := &url.URL{Scheme: "http", Host: addrs[in.turn.Add(1)%uint64(len(addrs))]}
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
		pr.Out.Host = pr.In.Host
	}}).ServeHTTP(w, r)
}

// client is how ePay reaches the merchant: every Ingress host on port 443 is the
// Ingress's listener, and no other host is reachable (a postLink elsewhere would never
// arrive).
func (in *ingress) client(ca *testCA) *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool()},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if _, ok := in.rules[host]; !ok || port != "443" {
				return nil, fmt.Errorf("%s is not an Ingress host of the overlay on port 443", addr)
			}
			return d.DialContext(ctx, network, in.addr)
		},
	}}
}

// ingressMatch is the Ingress API's path matching: Exact, or Prefix by path elements
// (ImplementationSpecific is read as Prefix).
func ingressMatch(p networkingv1.HTTPIngressPath, path string) bool {
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		return path == p.Path
	}
	prefix := strings.TrimSuffix(p.Path, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/") || prefix == ""
}

// testCA is a certificate authority of the test's own: it stands for cert-manager's
// (the NATS certificates) and for the public CAs of ePay's and the Ingress's
// certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{CommonName: "epayflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func serial(t *testing.T) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// issue returns a certificate (PEM) and its key (PEM) for names, DNS names or IP
// addresses, for servers and clients both (NATS routes are both).
func (ca *testCA) issue(t *testing.T, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issueUntil(t, time.Now().Add(time.Hour), names...)
}

// issueUntil is issue of a certificate valid until notAfter.
func (ca *testCA) issueUntil(t *testing.T, notAfter time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// tlsSecret is a kubernetes.io/tls Secret with ca.crt (cert-manager's layout) for names.
func (ca *testCA) tlsSecret(t *testing.T, names ...string) map[string]string {
	t.Helper()
	cert, key := ca.issue(t, names...)
	return map[string]string{"ca.crt": string(ca.pem), "tls.crt": string(cert), "tls.key": string(key)}
}

func (ca *testCA) serverTLS(t *testing.T, names ...string) *tls.Config {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, names...)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	return string(b[max(0, len(b)-4096):])
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
