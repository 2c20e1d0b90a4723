package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/envflag"
)

// CompactUsage is `worker compact`'s line in the worker's -h.
const CompactUsage = "worker compact [-db FILE]"

// ErrRunning: `worker compact` was refused because a worker holds the file.
var ErrRunning = errors.New("the worker is running on this file: stop it first")

// Compact is `worker compact`: it rewrites the worker's bbolt file (WORKER_DB) without
// its free pages (what the retention pruned and the deleted outbox entries left;
// epayflow_worker_store_reclaimable_bytes says how much) and upgrades records of an older
// schema. The worker must be stopped: the file's lock is taken for the whole rewrite,
// and a running worker holding it makes Compact fail with ErrRunning, leaving the file
// alone. The new file is written beside the old one and renamed over it. Bad flags wrap
// ErrConfig.
func Compact(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("worker compact", flag.ContinueOnError)
	fs.SetOutput(out)
	db := fs.String("db", DefaultConfig().DB, "bbolt file of the worker to compact (the worker must be stopped)")
	lockTimeout := fs.Duration("lock-timeout", DefaultConfig().LockTimeout, "wait this long for the file's lock")
	err := envflag.Parse(fs, args, getenv, map[string]string{"db": "WORKER_DB", "lock-timeout": "WORKER_LOCK_TIMEOUT"})
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || fs.NArg() > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, CompactUsage)
	}
	if _, err := os.Stat(*db); err != nil { // never a new, empty store
		return fmt.Errorf("%w: -db (WORKER_DB): %v", ErrConfig, err)
	}
	start := time.Now()
	before, after, err := bolt.CompactFile(*db, *lockTimeout)
	switch {
	case errors.Is(err, bolt.ErrLocked):
		return fmt.Errorf("%w: %v", ErrRunning, err)
	case err != nil:
		return err
	}
	fmt.Fprintf(out, "compacted %s: %d -> %d bytes (%.1f MiB given back) in %s\n", *db, before, after,
		float64(before-after)/(1<<20), time.Since(start).Round(time.Millisecond))
	return nil
}
