package chaos

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChaos runs the short form in `make test` (300 invoices, a few kills) and the long
// form with CHAOS=long (`make chaos`: 2,000 invoices, 20,000+ callbacks, the worker
// SIGKILLed every 2 to 5 seconds).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test starts real processes; not with -short")
	}
	runChaos(t, false)
}

// TestChaosCluster is TestChaos on a 3-node NATS cluster with R3 streams, each node in a
// network namespace of its own (root only): the inbox's leader is SIGKILLed and
// restarted, then partitioned away and healed, while the worker and the ingest are
// killed as in TestChaos. It runs with CHAOS_CLUSTER=1: `make chaos-cluster` (the long
// form; CHAOS_CLUSTER=1 go test -run TestChaosCluster ./internal/chaos/ for the short).
// Not in `make test` yet: its first runs found a worker that stopped consuming after a
// leader election (fixed: jspubsub retries transient JetStream errors), and it should
// pass many more runs before it can gate every change.
func TestChaosCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test starts real processes; not with -short")
	}
	if os.Getenv("CHAOS_CLUSTER") == "" {
		t.Skip("set CHAOS_CLUSTER=1 (make chaos-cluster)")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	runChaos(t, true)
}

func runChaos(t *testing.T, cluster bool) {
	cfg := Config{
		Invoices: 300, MinCallbacks: 1500, Load: 20 * time.Second, Senders: 24,
		WorkerKillEvery: [2]time.Duration{5 * time.Second, 8 * time.Second},
		IngestKillEvery: [2]time.Duration{8 * time.Second, 12 * time.Second},
		NATSRestart:     true, Drain: 90 * time.Second, LoseWorkerFile: 2,
	}
	if os.Getenv("CHAOS") == "long" {
		cfg = Config{
			Invoices: 2000, MinCallbacks: 20000, Load: 100 * time.Second, Senders: 48,
			WorkerKillEvery: [2]time.Duration{2 * time.Second, 5 * time.Second},
			IngestKillEvery: [2]time.Duration{8 * time.Second, 15 * time.Second},
			NATSRestart:     true, Drain: 2 * time.Minute, LoseWorkerFile: 3,
		}
	}
	cfg.Dir, cfg.Go, cfg.Progress, cfg.Cluster = t.TempDir(), os.Getenv("CHAOS_GO"), testWriter{t}, cluster
	if d := os.Getenv("CHAOS_DIR"); d != "" { // keep the logs and files of the run
		cfg.Dir = filepath.Join(d, t.Name()+"-"+time.Now().UTC().Format("150405")) // one per run of -count=N
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cluster { // issue 15's form: three workers sharing the shards, two ingests, a worker joining and two leaving
		cfg.Workers, cfg.Ingests, cfg.Scale = 3, 2, true
		// 16 shards: each is an R3 consumer, a Raft group of its own; 64 of them on three
		// nats-servers sharing two cores with seven services took minutes to elect their
		// leaders after a partition healed (the test is about shards moving, not their count)
		cfg.Shards, cfg.Drain = 16, 3*time.Minute
	}
	// The services are built with the race detector when the test is (go test -race, as
	// make test runs it), or as CHAOS_BUILD_FLAGS says (CHAOS_BUILD_FLAGS=-race for make
	// chaos; CHAOS_BUILD_FLAGS=" " for none under -race). A race in a service's log is a
	// problem of the run; race builds' slower handlers also meet orderings the plain
	// builds rarely do (they found an invoice's message applied after its successor).
	cfg.BuildFlags = chaosBuildFlags(os.LookupEnv("CHAOS_BUILD_FLAGS"))
	if v := os.Getenv("CHAOS_SEED"); v != "" { // a failed run's seed, printed in its first line
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", v, err)
		}
		cfg.Seed = seed
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Load+12*time.Minute)
	defer cancel()
	sum, err := Run(ctx, cfg)
	t.Log(sum.Line())
	t.Log(sum.Details())
	if err != nil || !sum.OK() {
		for _, p := range sum.Problems {
			t.Log(p)
		}
		if os.Getenv("CHAOS_DIR") != "" {
			os.WriteFile(filepath.Join(cfg.Dir, "problems.txt"), []byte(strings.Join(sum.AllProblems(), "\n")+"\n"), 0o644)
		}
		logTails(t, cfg.Dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() {
		t.Fatalf("%s: %d problems", sum.Line(), len(sum.Problems))
	}
	if sum.Kills < 3 || sum.WorkerKills < 2 || sum.IngestKills < 1 || sum.NATSKills != 1 || sum.WorkerFilesLost < 1 {
		t.Fatalf("too few kills: %s", sum.Details())
	}
	if len(sum.Webhooks) != 3 || sum.WebhookKills != 1 {
		t.Fatalf("webhooks: %d endpoints judged, %d kills; want 3 and 1", len(sum.Webhooks), sum.WebhookKills)
	}
	if !cluster && sum.HeldAtNATSKill == 0 {
		t.Fatalf("NATS was killed with the outbox empty: the fault proves nothing about the outbox: %s", sum.Details())
	}
	if sum.Reordered != 0 {
		t.Fatalf("%d invoices had messages applied out of stream order", sum.Reordered)
	}
	if cfg.Scale && (sum.WorkersJoined != 1 || sum.WorkersRemoved != 2) {
		t.Fatalf("scaling: %d joined, %d removed; want 1 and 2: %s", sum.WorkersJoined, sum.WorkersRemoved, sum.Details())
	}
	// the summary line goes to stdout as well, for `make chaos` to show
	os.Stdout.WriteString(sum.Line() + "\n" + sum.Details() + "\n" + sum.Failovers() + "\n" + webhooksLine(sum.Webhooks) + "\n")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// logTails shows the end of each service's log.
func logTails(t *testing.T, dir string) {
	for _, name := range []string{"nats.log", "cluster/n0.log", "cluster/n1.log", "cluster/n2.log", "ingest.log", "worker.log", "webhooks.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("---- last lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-25):], "\n"))
	}
}

// chaosBuildFlags are the services' build flags: CHAOS_BUILD_FLAGS's when it is set,
// else -race in a race-built test.
func chaosBuildFlags(env string, set bool) []string {
	if set {
		return strings.Fields(env)
	}
	if raceBuild {
		return []string{"-race"}
	}
	return nil
}
