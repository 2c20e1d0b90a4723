package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/epayflow/epayflow/internal/jspubsub"
)

func TestParseShardsReadsAllListsAndRanges(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []int
		err  bool
	}{
		"all":          {in: "all", want: []int{0, 1, 2, 3}},
		"list":         {in: "0-1,3", want: []int{0, 1, 3}},
		"overlap":      {in: "1-2,2", want: []int{1, 2}},
		"out of range": {in: "0-4", err: true},
		"backwards":    {in: "3-1", err: true},
		"junk":         {in: "x", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseShards(tc.in, 4)
			if tc.err {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseFlagsTakesEnvAndFlagsWin(t *testing.T) {
	env := map[string]string{"WORKER_DB": "/data/w.db", "EPAY_SHARDS": "4", "WORKER_SHARDS": "1-2", "WORKER_ADDR": ":9000",
		"EPAY_SECRET_KEYS": "A:worker-config-test-key-0001", "WORKER_RETENTION": "2160h", "WORKER_MAX_IN_FLIGHT_TOTAL": "512"}
	cfg, err := parseFlags("worker", []string{"-addr", ":9100", "-ack-wait", "5s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "/data/w.db" || cfg.Shards != 4 || !slices.Equal(cfg.OwnShards, []int{1, 2}) || cfg.Addr != ":9100" || cfg.AckWait != 5*time.Second ||
		cfg.Retention != 90*24*time.Hour || cfg.MaxInFlightTotal != 512 {
		t.Fatalf("config %+v", cfg)
	}
}

// The bound on messages in flight over every shard defaults to DefaultMaxInFlightTotal,
// and one that would let nothing through, or more than any worker could hold, is refused
// by name.
func TestMaxInFlightTotalDefaultsAndBounds(t *testing.T) {
	env := map[string]string{"EPAY_SECRET_KEYS": "A:worker-config-test-key-0001"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseFlags("worker", nil, getenv, io.Discard)
	if err != nil || cfg.MaxInFlightTotal != DefaultMaxInFlightTotal {
		t.Fatalf("default: %d, %v; want %d", cfg.MaxInFlightTotal, err, DefaultMaxInFlightTotal)
	}
	for _, v := range []string{"0", "-1", "65537"} {
		env["WORKER_MAX_IN_FLIGHT_TOTAL"] = v
		if _, err := parseFlags("worker", nil, getenv, io.Discard); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "WORKER_MAX_IN_FLIGHT_TOTAL") {
			t.Errorf("WORKER_MAX_IN_FLIGHT_TOTAL=%s: %v, want an ErrConfig naming it", v, err)
		}
	}
}

func TestParseFlagsRejectsBadConfigWithOneLine(t *testing.T) {
	tests := map[string][]string{
		"bad number":         {"-shards", "x"},
		"shard out of list":  {"-shards", "2", "-own-shards", "3"},
		"short ack wait":     {"-ack-wait", "10ms"},
		"short retention":    {"-retention", "1h"},
		"negative retention": {"-retention", "-48h"},
		"extra argument":     {"run"},
		"empty db":           {"-db", ""},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseFlags("worker", args, func(string) string { return "" }, io.Discard)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := parseFlags("worker", []string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestOrdinalShardsSplitsShardsByPodOrdinal(t *testing.T) {
	tests := []struct {
		spec, pod string
		want      string
		ok        bool
	}{
		{"ordinal:1", "worker-0", "[0 1 2 3 4 5 6 7]", true},
		{"ordinal:2", "worker-0", "[0 2 4 6]", true},
		{"ordinal:2", "worker-1", "[1 3 5 7]", true},
		{"ordinal:3", "epayflow-worker-2", "[2 5]", true},
		{"ordinal:2", "worker-2", "", false}, // ordinal not below replicas
		{"ordinal:2", "worker", "", false},   // no ordinal
		{"ordinal:2", "", "", false},
		{"ordinal:0", "worker-0", "", false},
		{"ordinal:x", "worker-0", "", false},
		{"ordinal:9", "worker-0", "", false}, // more replicas than shards
	}
	for _, tt := range tests {
		got, err := OrdinalShards(tt.spec, tt.pod, 8)
		if (err == nil) != tt.ok {
			t.Errorf("OrdinalShards(%q, %q) error = %v, want ok=%v", tt.spec, tt.pod, err, tt.ok)
			continue
		}
		if tt.ok && fmt.Sprint(got) != tt.want {
			t.Errorf("OrdinalShards(%q, %q) = %v, want %s", tt.spec, tt.pod, got, tt.want)
		}
	}
	env := map[string]string{"WORKER_SHARDS": "ordinal:2", "POD_NAME": "worker-1", "EPAY_SHARDS": "8", "WORKER_DB": "/data/w.db",
		"EPAY_SECRET_KEYS": "A:worker-config-test-key-0001"}
	cfg, err := parseFlags("worker", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || fmt.Sprint(cfg.OwnShards) != "[1 3 5 7]" {
		t.Fatalf("parseFlags with WORKER_SHARDS=ordinal:2 POD_NAME=worker-1: %v %v", cfg.OwnShards, err)
	}
}

// The inbox's subscriber is bounded as configured: per shard and over every shard.
func TestInboxSubscriberTakesTheInFlightBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxInFlight, cfg.MaxInFlightTotal = 7, 300
	sc := inboxSubscriberConfig(cfg, nil, nil, nil)
	if sc.MaxInFlight != 7 || sc.MaxInFlightTotal != 300 {
		t.Fatalf("MaxInFlight %d, MaxInFlightTotal %d; want 7 and 300", sc.MaxInFlight, sc.MaxInFlightTotal)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The inbox's subscriber counts its consumers' takeovers by reason.
func TestInboxSubscriberCountsItsTakeovers(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	sc := inboxSubscriberConfig(DefaultConfig(), nil, m, nil)
	if !sc.Takeover || sc.OnTakeover == nil {
		t.Fatalf("Takeover %v, OnTakeover set %v; want both", sc.Takeover, sc.OnTakeover != nil)
	}
	sc.OnTakeover(jspubsub.TakeoverLostDelivery)
	if got := testutil.ToFloat64(m.Takeovers.WithLabelValues(jspubsub.TakeoverLostDelivery)); got != 1 {
		t.Fatalf("takeovers{reason=%q} = %v, want 1", jspubsub.TakeoverLostDelivery, got)
	}
	if got := testutil.ToFloat64(m.Takeovers.WithLabelValues(jspubsub.TakeoverStart)); got != 0 {
		t.Fatalf("takeovers{reason=%q} = %v, want 0", jspubsub.TakeoverStart, got)
	}
}
