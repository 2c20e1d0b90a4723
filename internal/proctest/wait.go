package proctest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FreePort returns a loopback port that was free a moment ago, for a process to bind
// later. It picks at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range): a port from that range, which listening on port 0
// gives, can be taken meanwhile by any outgoing connection of any process, and on a busy
// machine it is (a nats-server of a test once exited at start on such a port).
func FreePort() (int, error) {
	low := ephemeralLow()
	for range 64 {
		if low <= minPort+1000 {
			break
		}
		port := minPort + rand.IntN(low-minPort)
		if !handOut(port) { // never the same port twice in one process
			continue
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// handOut marks port as given by FreePort; false when it was given before.
func handOut(port int) bool {
	handedMu.Lock()
	defer handedMu.Unlock()
	if handed[port] {
		return false
	}
	handed[port] = true
	return true
}

// minPort is the lowest port FreePort picks: above the well-known and most registered
// services' ports.
const minPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when it cannot
// be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// WaitHTTP polls url until it answers 200. It fails when timeout passes (with the tail
// of the log), when ctx ends (ctx's error), or at once when the process ends or is not
// running (wrapping ErrExited).
func (p *Proc) WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	return p.wait(ctx, url+" not ready", timeout, func() bool {
		res, err := client.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// WaitTCP polls addr until it accepts a connection; it fails as WaitHTTP does.
func (p *Proc) WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	return p.wait(ctx, addr+" not accepting connections", timeout, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// wait calls ready every 20 ms until it is true, timeout passes, ctx ends or the
// process ends (the run that was current when the wait began: a stop ends the wait).
func (p *Proc) wait(ctx context.Context, what string, timeout time.Duration, ready func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	r := p.current()
	for {
		if r == nil || r.exited() {
			return p.exitError(r)
		}
		if ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s: %s within %s\n%s", p.Name, what, timeout, p.Output())
		case <-r.done:
		case <-tick.C:
		}
	}
}
