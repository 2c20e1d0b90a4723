package compose_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/deploy/compose"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
	"github.com/epayflow/epayflow/internal/worker"
)

// TestComposeStackRuns runs what the compose file describes, without Docker: three
// nats-servers with the compose nats.conf, auth.conf and generated users.conf (addresses
// moved to loopback ports, store in a temporary directory), and the ingest, the worker and
// the initiator with their compose environment and secrets (listen addresses and NATS_URL
// moved the same way). Every service must become ready, the three streams must exist with
// three replicas, and a signed callback must go through the ingest to the worker.
func TestComposeStackRuns(t *testing.T) {
	s := load(t, nil, nil)
	clients := startCluster(t, s)
	natsURL := strings.Join(clients, ",")

	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	urls := map[string]string{}
	var stopped []chan error
	t.Cleanup(func() {
		cancel()
		for _, done := range stopped {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("a service stopped with: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("a service did not stop within 30s")
			}
		}
	})
	for _, name := range []string{"ingest", "worker", "initiator"} {
		base := s.env(t, s.service(t, name))
		prefix := strings.ToUpper(name) + "_"
		over := map[string]string{
			"NATS_URL": natsURL, prefix + "ADDR": "127.0.0.1:0", prefix + "METRICS_ADDR": "127.0.0.1:0",
			"WORKER_DB": filepath.Join(t.TempDir(), "worker.db"), "WORKER_URL": urls["worker"],
		}
		getenv := func(k string) string {
			if v, ok := over[k]; ok {
				return v
			}
			return base(k)
		}
		listening := make(chan string, 1)
		var run func(context.Context) error
		switch name {
		case "ingest":
			c, err := ingest.ParseFlags(name, nil, getenv)
			if err != nil {
				t.Fatal(err)
			}
			run = func(ctx context.Context) error { return ingest.Run(ctx, c, log) }
		case "worker":
			c, err := worker.ParseFlags(name, nil, getenv)
			if err != nil {
				t.Fatal(err)
			}
			run = func(ctx context.Context) error { return worker.Run(ctx, c, log) }
		case "initiator":
			c, err := initiator.ParseFlags(name, nil, getenv)
			if err != nil {
				t.Fatal(err)
			}
			run = func(ctx context.Context) error { return initiator.Run(ctx, c, log) }
		}
		done := make(chan error, 1)
		stopped = append(stopped, done)
		go func() { done <- run(httpserver.WithListenHook(ctx, func(u string) { listening <- u })) }()
		select {
		case urls[name] = <-listening:
		case err := <-done:
			t.Fatalf("%s stopped before it listened: %v", name, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not listen within 30s", name)
		}
	}
	for name, u := range urls {
		waitReady(t, name, u+"/readyz")
	}

	// The streams, as the NATS user admin sees them: three replicas each.
	nc, err := natsbus.ConnectAs(natsURL, "compose-test", natsbus.RoleAdmin,
		natsbus.Auth{User: string(natsbus.RoleAdmin), Password: s.values[compose.NATSPasswordFile(natsbus.RoleAdmin)]}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ} {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := js.Stream(sctx, name)
		scancel()
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		info := st.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas configured, cluster %+v: want 3 on three servers", name, info.Config.Replicas, info.Cluster)
		}
	}

	// ePay's sample callback, signed with the generated keys, through the ingest to the worker.
	sample, err := os.ReadFile("../../internal/epay/testdata/success.json")
	if err != nil {
		t.Fatal(err)
	}
	var cb struct{ Terminal, InvoiceID string }
	if err := json.Unmarshal(sample, &cb); err != nil {
		t.Fatal(err)
	}
	ring, err := epay.ParseKeyring(s.values["epay-secret-keys"])
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(sample), "{", fmt.Sprintf(`{"secret_hash":%q,`, ring.Sign(cb.Terminal, cb.InvoiceID)), 1)
	resp, err := http.Post(urls["ingest"]+"/epay/postlink", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest answered %s to a signed callback, want 200 (stored on the R3 stream)", resp.Status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, urls["worker"]+"/v1/invoices/"+cb.InvoiceID, nil)
		req.Header.Set("Authorization", "Bearer "+s.values["worker-operator-key"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var inv struct{ State string }
		json.NewDecoder(resp.Body).Decode(&inv)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && inv.State == "unmatched" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker: invoice %s is %s %q after 30s, want 200 unmatched", cb.InvoiceID, resp.Status, inv.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startCluster starts the compose file's NATS servers with their own configuration,
// moved to loopback ports, and returns their client URLs.
func startCluster(t *testing.T, s *stack) []string {
	t.Helper()
	clientPorts, routePorts := map[string]int{}, map[string]int{}
	for _, n := range natsServers {
		clientPorts[n], routePorts[n] = proctest.Port(t), proctest.Port(t)
	}
	var servers []*server.Server
	var clients []string
	for _, n := range natsServers {
		o := natsOptions(t, s, n)
		o.Host, o.Port, o.HTTPPort = "127.0.0.1", clientPorts[n], 0
		o.Cluster.Host, o.Cluster.Port = "127.0.0.1", routePorts[n]
		o.Routes = nil
		for _, m := range natsServers {
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[m])})
		}
		o.StoreDir = t.TempDir()
		o.NoSigs, o.NoLog, o.PidFile = true, true, ""
		ns, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		go ns.Start()
		servers = append(servers, ns)
		clients = append(clients, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[n]))
	}
	t.Cleanup(func() {
		for _, ns := range servers {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	for i, ns := range servers {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatalf("%s: not ready for connections within 20s", natsServers[i])
		}
	}
	return clients
}

func waitReady(t *testing.T, name, u string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s %s", resp.Status, strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 60s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
