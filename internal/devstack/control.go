package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/epayflow/epayflow/internal/natsembed"
)

// Control stops and starts parts of a running stack, as a crash or an operator would:
// the NATS server (its clients lose their connections and reconnect once it is back,
// on the same port, with the same data and users) and the worker (its port closes, its
// bbolt file is closed; it comes back on the same address with the same file). The
// tests of the alerts use it to make their faults real. Config.OnControl is given one.
type Control struct {
	mu      sync.Mutex
	natsCfg natsembed.Config // the first start's, its ports fixed
	nats    *natsembed.Server
	st      *stack
	// startWorker runs a new worker on the first one's address and returns once it listens.
	startWorker func() error
	stopWorker  context.CancelFunc // of the running worker; nil while it is stopped
	workerDone  chan struct{}      // closed when the running worker has returned
}

// ErrStopped: the stack is stopping, nothing more starts.
var ErrStopped = errors.New("devstack: the stack is stopping")

// startNATS starts the embedded server; the first start fixes the ports that a later
// StartNATS reuses.
func (c *Control) startNATS(cfg natsembed.Config) (*natsembed.Server, error) {
	ns, err := natsembed.Start(cfg)
	if err != nil {
		return nil, err
	}
	fixed, err := fixPorts(cfg, ns)
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	c.mu.Lock()
	c.natsCfg, c.nats = fixed, ns
	c.mu.Unlock()
	return ns, nil
}

func fixPorts(cfg natsembed.Config, ns *natsembed.Server) (natsembed.Config, error) {
	port := func(raw string) (int, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(u.Port())
	}
	var err error
	if cfg.Port, err = port(ns.ClientURL()); err != nil {
		return cfg, fmt.Errorf("devstack: NATS client URL %q: %w", ns.ClientURL(), err)
	}
	if cfg.MonitorPort != 0 {
		if cfg.MonitorPort, err = port(ns.MonitorURL()); err != nil {
			return cfg, fmt.Errorf("devstack: NATS monitor URL %q: %w", ns.MonitorURL(), err)
		}
	}
	return cfg, nil
}

// StopNATS shuts the NATS server down and waits until it has stopped. Stopping a
// stopped server does nothing.
func (c *Control) StopNATS() {
	c.mu.Lock()
	ns := c.nats
	c.nats = nil
	c.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
	}
}

// StartNATS starts the NATS server again where it was, with its data; nothing if it runs.
func (c *Control) StartNATS() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nats != nil {
		return nil
	}
	if c.st.ctx.Err() != nil {
		return ErrStopped
	}
	ns, err := natsembed.Start(c.natsCfg)
	if err != nil {
		return err
	}
	c.nats = ns
	return nil
}

// shutdownNATS is Run's last word: the server stops, whoever started it.
func (c *Control) shutdownNATS() { c.StopNATS() }

// workerRunning records the running worker's cancel; done is closed when it returns.
func (c *Control) workerRunning(cancel context.CancelFunc, done chan struct{}) {
	c.mu.Lock()
	c.stopWorker, c.workerDone = cancel, done
	c.mu.Unlock()
}

// StopWorker stops the worker as SIGTERM would (it drains and closes its file) and
// waits until it has returned, at most timeout. Stopping a stopped worker does nothing.
func (c *Control) StopWorker(timeout time.Duration) error {
	c.mu.Lock()
	cancel, done := c.stopWorker, c.workerDone
	c.stopWorker, c.workerDone = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("devstack: the worker did not stop within %s", timeout)
	}
}

// StartWorker starts the worker again on its address, with its file, and returns once it
// listens; nothing if it runs.
func (c *Control) StartWorker() error {
	c.mu.Lock()
	running := c.stopWorker != nil
	c.mu.Unlock()
	if running {
		return nil
	}
	return c.startWorker()
}
