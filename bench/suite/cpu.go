package suite

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user and system) process pid has used so far, from
// /proc/<pid>/stat, to the clock tick.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so the fields are
	// counted after the last ')'; utime and stime are the 14th and 15th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// CPUShare is the CPU time each process of a run used: the HTTP server measured, the
// nats-server behind it and the load generator (this process).
type CPUShare struct {
	Server, NATS, Load time.Duration
}

func (c CPUShare) add(o CPUShare) CPUShare {
	return CPUShare{c.Server + o.Server, c.NATS + o.NATS, c.Load + o.Load}
}

func (c CPUShare) sub(o CPUShare) CPUShare {
	return CPUShare{c.Server - o.Server, c.NATS - o.NATS, c.Load - o.Load}
}

func (c CPUShare) total() time.Duration { return c.Server + c.NATS + c.Load }

// cpuMeter reads the CPU times of a server, its nats-server and this process.
type cpuMeter struct{ server, nats int }

func (m cpuMeter) read() (CPUShare, error) {
	var c CPUShare
	var err error
	for _, x := range []struct {
		pid int
		to  *time.Duration
	}{{m.server, &c.Server}, {m.nats, &c.NATS}, {os.Getpid(), &c.Load}} {
		if *x.to, err = cpuTime(x.pid); err != nil {
			return c, err
		}
	}
	return c, nil
}

// during returns what run cost each process in CPU time.
func (m cpuMeter) during(run func() error) (CPUShare, error) {
	before, err := m.read()
	if err != nil {
		return CPUShare{}, err
	}
	if err := run(); err != nil {
		return CPUShare{}, err
	}
	after, err := m.read()
	if err != nil {
		return CPUShare{}, err
	}
	return after.sub(before), nil
}

// perRequest is d spread over n requests, in microseconds.
func perRequest(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// cpuSplit is c per request as "server + nats + load = total" microseconds.
func cpuSplit(c CPUShare, n int) string {
	return fmt.Sprintf("%.0f + %.0f + %.0f = %.0f", perRequest(c.Server, n), perRequest(c.NATS, n), perRequest(c.Load, n), perRequest(c.total(), n))
}
