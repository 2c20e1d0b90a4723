package proctest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
