package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/worker"
)

// serveProfiled runs the ingest or the worker exactly as cmd/ingest and cmd/worker do
// (configuration from the environment), with a CPU profile written to path when it
// stops (path not empty), and the heap and goroutines at their peaks beside it
// (keepPeaks): the services have no pprof endpoint, and the suite's -profile needs one.
// noChangelog runs the worker without its changelog (the suite's measure of what the
// changelog costs).
func serveProfiled(ctx context.Context, service, path string, noChangelog bool, stderr io.Writer) error {
	log, err := logging.New(stderr, envOr("LOG_FORMAT", "json"), envOr("LOG_LEVEL", "info"))
	if err != nil {
		return err
	}
	var run func() error
	switch service {
	case "ingest":
		cfg, err := ingest.ParseFlags("ingest", nil, os.Getenv)
		if err != nil {
			return err
		}
		run = func() error { return ingest.Run(ctx, cfg, log) }
	case "worker":
		cfg, err := worker.ParseFlags("worker", nil, os.Getenv)
		if err != nil {
			return err
		}
		cfg.WithoutChangelog = noChangelog
		run = func() error { return worker.Run(ctx, cfg, log) }
	default:
		return fmt.Errorf("%w: serve-profiled ingest|worker", errUsage)
	}
	if path == "" {
		return run()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	defer keepPeaks(strings.TrimSuffix(path, ".pprof"), stderr)()
	return run()
}

// memoryClasses are the runtime's measures whose peaks keepPeaks prints: together they
// make up the resident set of a Go process (bench/NOTES.md, session 10).
var memoryClasses = []string{"/gc/heap/live:bytes", "/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/stacks:bytes", "/memory/classes/heap/free:bytes", "/memory/classes/total:bytes"}

// keepPeaks samples the runtime every 10 ms until stop is called. It writes the heap
// profile to prefix-heap.pprof each time the live heap grows a tenth past the largest
// profiled, and the goroutine profile to prefix-goroutines.txt each time their number
// does: the profiles of the process at its largest, which a profile at exit would
// miss. At stop it prints the peak of each of memoryClasses and of the goroutines.
func keepPeaks(prefix string, stderr io.Writer) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	sample := make([]metrics.Sample, len(memoryClasses)+1)
	for i, n := range memoryClasses {
		sample[i].Name = n
	}
	const goroutines = "/sched/goroutines:goroutines"
	sample[len(memoryClasses)].Name = goroutines
	go func() {
		defer close(finished)
		peaks := make([]uint64, len(sample))
		var heapAt, goroutinesAt uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				for i, x := range sample {
					fmt.Fprintf(stderr, "peak %s %d\n", x.Name, peaks[i])
				}
				return
			case <-t.C:
			}
			metrics.Read(sample)
			for i := range sample {
				peaks[i] = max(peaks[i], sample[i].Value.Uint64())
			}
			if live := sample[0].Value.Uint64(); live > heapAt+heapAt/10 {
				heapAt = live
				writeProfile(prefix+"-heap.pprof", "heap", 0, stderr)
			}
			if n := sample[len(memoryClasses)].Value.Uint64(); n > goroutinesAt+goroutinesAt/10 {
				goroutinesAt = n
				writeProfile(prefix+"-goroutines.txt", "goroutine", 1, stderr)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// writeProfile writes the named profile to path; a failure is printed, not fatal.
func writeProfile(path, name string, debug int, stderr io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = errors.Join(pprof.Lookup(name).WriteTo(f, debug), f.Close())
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s profile: %v\n", name, err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
