package k8s_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// What an overlay says must work together, for real: a nats-server with the overlay's own
// nats.conf (its JetStream limits, users and permissions) takes the streams the services
// create with the overlay's settings (epayflow-config: NATS_STREAM_MAX_BYTES, ...) and the
// key-value buckets, each as its own NATS user. Each stream reserves its max bytes of every
// server's file store, so a cluster of three with R3 streams needs per server what this one
// server needs with R1. (Found missing: 3 x 16 GiB streams on an 18 GB store made
// nats-server refuse PAYMENT_EVENTS and EPAY_DLQ with 10047 insufficient storage.)
func TestStreamsFitTheNATSStorageOfEachOverlay(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		p := parseNATSConfig(t, b)
		o := *p.opts
		if o.JetStreamMaxStore <= 0 {
			t.Fatalf("nats.conf sets no max_file_store")
		}
		// one server on loopback, with the overlay's limits and users; no cluster, no TLS
		o.Host, o.Port, o.HTTPPort, o.StoreDir = "127.0.0.1", -1, 0, t.TempDir()
		o.Cluster, o.Routes, o.TLSConfig, o.TLS, o.TLSVerify = server.ClusterOpts{}, nil, nil, false, false
		o.NoLog, o.NoSigs, o.LameDuckDuration, o.PidFile, o.PortsFileDir = true, true, 0, "", ""
		s, err := server.NewServer(&o)
		if err != nil {
			t.Fatal(err)
		}
		s.ConfigureLogger()
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server with the overlay's nats.conf not ready")
		}

		cm := configMap(t, b, "epayflow-config").Data
		cfg := natsbus.DefaultStreamsConfig()
		if v, ok := cm["NATS_STREAM_MAX_BYTES"]; ok {
			if cfg.MaxBytes, err = strconv.ParseInt(v, 10, 64); err != nil {
				t.Fatalf("NATS_STREAM_MAX_BYTES %q: %v", v, err)
			}
		}
		if v, ok := cm["NATS_DUPLICATE_WINDOW"]; ok {
			if cfg.DuplicateWindow, err = time.ParseDuration(v); err != nil {
				t.Fatal(err)
			}
		}
		cfg.Replicas = 1
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		as := func(r natsbus.Role) jetstream.JetStream {
			nc, err := natsbus.ConnectAs(s.ClientURL(), "overlay-"+string(r), r, natsbus.Auth{User: string(r), Password: p.passwords[r]}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			return js
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// `worker streams` (the worker's init container) makes every stream and bucket
		if err := natsbus.EnsureAll(ctx, as(natsbus.RoleStreams), nil, cfg); err != nil {
			t.Fatalf("worker streams cannot create the streams and buckets with NATS_STREAM_MAX_BYTES=%d on a %d-byte file store: %v",
				cfg.MaxBytes, o.JetStreamMaxStore, err)
		}
		if _, err := as(natsbus.RoleStreams).CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: natsbus.ShardOwnersBucket, History: 1, TTL: 15 * time.Second}); err != nil {
			t.Fatalf("shard owners bucket: %v", err)
		}
	})
}
