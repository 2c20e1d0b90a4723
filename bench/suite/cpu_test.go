package suite

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestCPUTimeCountsThisProcesssWork burns CPU for a while and wants /proc to have counted
// what the kernel's own account of this process (getrusage) counted, to a few clock
// ticks, and not more than the wall time on every core. The CPU the spinning gets is the
// machine's to give (a loaded CI host gave it 90 ms of 300): the two accounts are
// compared with each other, not with the wall time.
func TestCPUTimeCountsThisProcesssWork(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ruBefore := rusage()
	start := time.Now()
	x := 0
	for time.Since(start) < 300*time.Millisecond {
		x++
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ru := rusage() - ruBefore
	wall := time.Since(start)
	used := after - before
	if ru < 20*time.Millisecond || x == 0 {
		t.Skipf("the spinning got %s of CPU in %s: nothing to compare", ru, wall)
	}
	if diff := used - ru; diff < -4*clockTick || diff > 4*clockTick || used > wall*time.Duration(runtime.NumCPU())+2*clockTick {
		t.Fatalf("/proc counted %s of CPU, getrusage %s, in %s of spinning", used, ru, wall)
	}
	if _, err := cpuTime(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
