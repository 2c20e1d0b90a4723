package natscluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/proctest"
)

// Ports every node listens on, each at its own address.
const (
	ClientPort  = 4222
	RoutePort   = 6222
	MonitorPort = 8222
)

// Options configure Start.
type Options struct {
	Nodes int    // how many nats-servers; 3 when 0
	Dir   string // configs, stores and logs go here (t.TempDir()); required
	// Bin is the nats-server binary. When empty Start builds it into Dir with
	// proctest.Builder (the version go.mod pins); the go command then runs in the
	// current directory, which must be inside this module.
	Bin string
	// Authorization is a config block placed at the top of every node's config, such
	// as natsbus.AuthorizationConf's "authorization { users = [...] }". Routes are not
	// subject to it. Empty: no users, anyone may connect.
	Authorization string
	Name          string // the cluster's name; "epayflow" when empty
}

// Validate reports what is wrong with the options.
func (o Options) Validate() error {
	if o.Dir == "" {
		return errors.New("natscluster: Options.Dir is required")
	}
	if o.Nodes < 0 || o.Nodes > 16 {
		return fmt.Errorf("natscluster: Options.Nodes %d, want 1..16", o.Nodes)
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Name == "" {
		o.Name = "epayflow"
	}
}

// Cluster is a running cluster. Its methods take a node's index (0..Nodes-1) and are
// safe to call from several goroutines.
type Cluster struct {
	opts  Options
	net   *network
	procs []*proctest.Proc

	mu          sync.Mutex
	partitioned map[int]bool // Partition in force
	isolated    map[int]bool // Isolate in force
}

// Start builds the network, writes the configs and starts every node; it does not wait
// for JetStream (call Wait). On an error nothing of it is left running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	if opts.Bin == "" {
		bins, err := proctest.Builder{Dir: filepath.Join(opts.Dir, "bin")}.Build(ctx, proctest.NATSServer)
		if err != nil {
			return nil, err
		}
		opts.Bin = bins[proctest.NATSServer]
	}
	n, err := newNetwork(ctx, opts.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, net: n, partitioned: map[int]bool{}, isolated: map[int]bool{}}
	for i := range opts.Nodes {
		p, err := c.newProc(i)
		if err == nil {
			err = p.Start()
		}
		c.procs = append(c.procs, p)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("natscluster: node %d: %w", i, err)
		}
	}
	return c, nil
}

// StartT starts a cluster for a test and closes it in the test's cleanup; it fails
// the test when Start or the first Wait fails.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := c.Wait(context.Background(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	return c
}

// newProc writes node i's config and makes its process, run in its namespace.
func (c *Cluster) newProc(i int) (*proctest.Proc, error) {
	dir := filepath.Join(c.opts.Dir, fmt.Sprintf("n%d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(c.config(i, filepath.Join(dir, "store"))), 0o600); err != nil {
		return nil, err
	}
	return &proctest.Proc{Name: fmt.Sprintf("nats-%d", i), Path: "ip",
		Args: []string{"netns", "exec", c.net.node(i), c.opts.Bin, "-c", conf},
		Env:  []string{"PATH=" + os.Getenv("PATH")}, Log: filepath.Join(dir, "nats.log")}, nil
}

// config is node i's nats-server configuration. Pings are frequent so that a cut
// route or client is noticed within seconds.
func (c *Cluster) config(i int, store string) string {
	var routes []string
	for j := range c.opts.Nodes {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats-route://%s:%d", c.net.addr(j), RoutePort))
		}
	}
	a := c.net.addr(i)
	return fmt.Sprintf(`server_name: %s
listen: "%s:%d"
http: "%s:%d"
ping_interval: "1s"
ping_max: 3
jetstream {
  store_dir: %q
}
cluster {
  name: %s
  listen: "%s:%d"
  ping_interval: "1s"
  ping_max: 3
  routes: [
    %s
  ]
}
%s
`, c.ServerName(i), a, ClientPort, a, MonitorPort, store, c.opts.Name, a, RoutePort,
		strings.Join(routes, "\n    "), c.opts.Authorization)
}

// Nodes is the number of nodes.
func (c *Cluster) Nodes() int { return c.opts.Nodes }

// ServerName is node i's server_name, as JetStream reports leaders and replicas.
func (c *Cluster) ServerName(i int) string { return fmt.Sprintf("n%d", i) }

// Node is the index of the node named name (a ServerName); -1 when there is none.
func (c *Cluster) Node(name string) int {
	for i := range c.opts.Nodes {
		if c.ServerName(i) == name {
			return i
		}
	}
	return -1
}

// URL is node i's client URL.
func (c *Cluster) URL(i int) string { return fmt.Sprintf("nats://%s:%d", c.net.addr(i), ClientPort) }

// URLs is every node's client URL, comma-joined as nats.Connect takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, c.opts.Nodes)
	for i := range urls {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// MonitorURL is node i's monitoring address ("http://10.77.S.i:8222").
func (c *Cluster) MonitorURL(i int) string {
	return fmt.Sprintf("http://%s:%d", c.net.addr(i), MonitorPort)
}

// Proc is node i's process, for its log (Output) and peak memory.
func (c *Cluster) Proc(i int) *proctest.Proc { return c.procs[i] }

// Kill kills node i with SIGKILL, a crash it cannot see coming.
func (c *Cluster) Kill(i int) error { return c.procs[i].Kill(10 * time.Second) }

// Stop stops node i with SIGTERM (nats-server's orderly shutdown; SIGKILL after 30 s).
func (c *Cluster) Stop(i int) error { return c.procs[i].Stop(30 * time.Second) }

// Restart starts node i again, with its store and address, after Kill or Stop. It
// does not wait for it to rejoin (call Wait).
func (c *Cluster) Restart(i int) error { return c.procs[i].Start() }

// Partition cuts node i off the other nodes in both directions; its clients stay
// connected to it (see the package's doc). It fails when node i is partitioned already.
func (c *Cluster) Partition(ctx context.Context, i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.partitioned[i] {
		return fmt.Errorf("natscluster: node %d is partitioned already", i)
	}
	c.partitioned[i] = true
	return c.net.partition(ctx, i, true)
}

// Isolate cuts node i off everything: the other nodes and every client.
func (c *Cluster) Isolate(ctx context.Context, i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isolated[i] {
		return fmt.Errorf("natscluster: node %d is isolated already", i)
	}
	c.isolated[i] = true
	return c.net.link(ctx, i, false)
}

// Heal undoes Partition and Isolate of node i; healing a connected node does nothing.
// It does not wait for the node to catch up (call Wait).
func (c *Cluster) Heal(ctx context.Context, i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.partitioned[i] {
		errs = append(errs, c.net.partition(ctx, i, false))
		delete(c.partitioned, i)
	}
	if c.isolated[i] {
		errs = append(errs, c.net.link(ctx, i, true))
		delete(c.isolated, i)
	}
	return errors.Join(errs...)
}

// cutOff reports whether node i is partitioned or isolated.
func (c *Cluster) cutOff(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.partitioned[i] || c.isolated[i]
}

// Close kills every node and removes the network. It may be called more than once.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range c.procs {
		errs = append(errs, p.Kill(10*time.Second))
	}
	c.mu.Lock()
	n := c.net
	c.net = nil // a second Close must not remove the namespaces of the slot's next holder
	c.mu.Unlock()
	if n != nil {
		errs = append(errs, n.close(context.Background()))
	}
	return errors.Join(errs...)
}
