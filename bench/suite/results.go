package suite

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/epayflow/epayflow/bench/hist"
	"github.com/epayflow/epayflow/bench/load"
)

// Results are every figure of a run.
type Results struct {
	Quick    bool
	Command  string
	Started  time.Time
	Wall     time.Duration
	Machine  Machine
	BodySize int // mean callback body, bytes

	IngestConns []ConnRow
	Plain64     load.Result
	IngestFixed struct{ Ingest, Raw, Plain load.Result }
	Drain       DrainResult
	Growth      []GrowthRow
	// E2E: each side's median round by p99, and every round's p99s.
	E2E struct {
		Service, Pipeline E2EResult
		Rounds            []E2ERound
	}
	Restore RestoreResult
	Peer    PeerResult
	Storage StorageResult
	// StorageShapes are stores filled in a worker's transaction shapes (storageShapes).
	StorageShapes []ShapeResult
	Stalls        StallResult
	RSS           []RSS
	Micro         []MicroRow
	MicroCommand  string
	Phases        []Phase
	Notes         string
}

// ConnRow is the ingest and the raw publish baseline at one concurrency, and the naive
// handler (zero where it did not run: Requests 0).
type ConnRow struct {
	Conns       int
	Ingest, Raw load.Result
	Naive       load.Result
	// IngestCPU and NaiveCPU are the CPU time the ingest's and the naive handler's turns
	// cost, each process apart: where a turn's throughput went on shared cores.
	IngestCPU, NaiveCPU CPUShare
}

// DrainResult is the worker draining a pre-loaded inbox, beside bbolt's ceiling.
type DrainResult struct {
	Messages int
	Elapsed  time.Duration
	Commits  float64       // bbolt write transactions the worker made
	StartUp  time.Duration // the worker's start, until /readyz (every shard taken)
	Baseline BoltFigure
	// NoChangelog is the same drain by the worker with its changelog left out.
	NoChangelog DrainFigure
	// Floor is the same backlog drained by the least consumer fed by JetStream
	// (baseline.Floor, in the load generator: its CPU is the Server's).
	Floor DrainFigure
	// FloorChangelog is the floor with a changelog record a message (item 2's
	// shard-restore mechanism at its least).
	FloorChangelog DrainFigure
	CPU            DrainCPU
}

// DrainCPU is what a drain cost each process: the worker, its nats-server (storing the
// pre-loaded inbox included) and the load generator, from the pre-load until drained,
// and the messages handled in that time (all of the pre-load's).
type DrainCPU struct {
	CPUShare
	Messages int
}

// PerMessage is the CPU time of each process per message, as "worker + nats + load =
// total" microseconds.
func (c DrainCPU) PerMessage() string { return cpuSplit(c.CPUShare, c.Messages) }

// DrainFigure is one drain of the worker.
type DrainFigure struct {
	Messages int
	Elapsed  time.Duration
	Commits  float64
	CPU      DrainCPU
}

// Rate is messages reconciled per second.
func (d DrainFigure) Rate() float64 { return rate(d.Messages, d.Elapsed) }

// Rate is messages reconciled per second.
func (d DrainResult) Rate() float64 { return rate(d.Messages, d.Elapsed) }

// BoltFigure is a raw bbolt Batch run.
type BoltFigure struct {
	Messages   int
	Elapsed    time.Duration
	Commits    int64
	Goroutines int
	Records    string        // what each message wrote
	CPU        time.Duration // what the run cost this process (the baseline runs in it)
}

// Rate is messages written per second.
func (b BoltFigure) Rate() float64 { return rate(b.Messages, b.Elapsed) }

// GrowthRow is the worker with a store already holding Invoices invoices.
type GrowthRow struct {
	Invoices   int
	PrefillFor time.Duration
	DBBytes    int64
	Messages   int
	Elapsed    time.Duration
	Commits    float64         // bbolt write transactions of the worker, drain and relay
	Latency    *hist.Histogram // publish to the inbox -> event on PAYMENT_EVENTS, at workerRate
	Events     int
	Missing    int
	RSS        int64
	MaxPause   time.Duration // longest time without a message handled during the drain
	StartUp    time.Duration // the worker's start, until /readyz (every shard taken)
	CPU        DrainCPU      // the drain's
}

// Rate is messages reconciled per second.
func (g GrowthRow) Rate() float64 { return rate(g.Messages, g.Elapsed) }

// E2ERound is one end-to-end round's p99s: the service's, then the pipeline's.
type E2ERound struct{ Service, Pipeline time.Duration }

// E2EResult is callbacks at a fixed rate and the events they caused.
type E2EResult struct {
	Sent    load.Result
	Latency *hist.Histogram // intended send -> event received
	Hops    []Hop           // the same, hop by hop (the stored times in each stream)
	// Stages: the worker's own histograms of its steps over the run, and its garbage
	// collector's cycles and stop-the-world pauses (service only).
	Stages   []Stage
	GCCycles float64
	GCPause  time.Duration
	Events   int
	Missing  int
}

// RSS is a process's peak resident set.
type RSS struct {
	Name  string
	Bytes int64
}

// MicroRow is one Go benchmark.
type MicroRow struct {
	Package, Name                 string
	NsPerOp, BytesPerOp, AllocsOp float64
	Extra                         string // custom metrics (msgs/s, req/s)
}

// Phase is how long a part of the run took.
type Phase struct {
	Name string
	Took time.Duration
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemoryGiB float64
	GoVersion string
	Kernel    string
}

func newResults(cfg Config, start time.Time) *Results {
	return &Results{Quick: cfg.Quick, Command: cfg.Command, Started: start, Machine: machine()}
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb float64
				for _, f := range strings.Fields(v) {
					if n, err := strconv.ParseFloat(f, 64); err == nil {
						kb = n
						break
					}
				}
				m.MemoryGiB = kb / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
