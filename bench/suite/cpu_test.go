package suite

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestCPUTimeCountsThisProcesssWork burns CPU for a while and wants /proc to have counted
// at least most of it, and not more than the wall time on every core.
func TestCPUTimeCountsThisProcesssWork(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	x := 0
	for time.Since(start) < 300*time.Millisecond {
		x++
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	if used := after - before; used < 100*time.Millisecond || used > wall*time.Duration(runtime.NumCPU())+2*clockTick || x == 0 {
		t.Fatalf("used %s of CPU in %s of spinning", used, wall)
	}
	if _, err := cpuTime(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
