package natscluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prefix starts the name of every namespace and link this package makes, so that
// leftovers of killed test processes can be recognised and removed.
const prefix = "epfc"

// lockDir holds a lock file per slot; a slot is in use while its file is locked.
var lockDir = filepath.Join(os.TempDir(), "epayflow-natscluster")

// network is the namespaces, links and addresses of one cluster.
type network struct {
	slot  int
	nodes int
	lock  *os.File // flock held while the slot is in use
}

func (n *network) hub() string          { return fmt.Sprintf("%s%d-hub", prefix, n.slot) }
func (n *network) node(i int) string    { return fmt.Sprintf("%s%d-n%d", prefix, n.slot, i) }
func (n *network) rootLink() string     { return fmt.Sprintf("%s%dr", prefix, n.slot) }
func (n *network) addr(i int) string    { return fmt.Sprintf("10.77.%d.%d", n.slot, i+1) }
func (n *network) hubPort(i int) string { return "n" + strconv.Itoa(i) }

// ip runs the ip command with args; its output is in the error.
func ip(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetwork takes a free slot (removing what a dead holder left of it) and builds
// the network of nodes nodes there. On an error nothing of it is left.
func newNetwork(ctx context.Context, nodes int) (*network, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, err
	}
	removeStale(ctx)
	for slot := 1; slot <= 250; slot++ {
		lock, ok, err := tryLock(slot)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		n := &network{slot: slot, nodes: nodes, lock: lock}
		n.remove(ctx) // leftovers of a holder that died between removeStale and here
		if err := n.build(ctx); err != nil {
			n.close(ctx)
			return nil, err
		}
		return n, nil
	}
	return nil, errors.New("natscluster: no free network slot (1..250)")
}

// tryLock locks the file of slot without waiting; ok is false when another holds it.
func tryLock(slot int) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(filepath.Join(lockDir, strconv.Itoa(slot)+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock slot %d: %w", slot, err)
	}
	return f, true, nil
}

// removeStale removes the namespaces of every slot whose lock nobody holds: what test
// processes that were killed left behind.
func removeStale(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return
	}
	slots := map[int]bool{}
	for line := range strings.SplitSeq(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, "-")
		if s, err := strconv.Atoi(num); err == nil {
			slots[s] = true
		}
	}
	for s := range slots {
		lock, ok, err := tryLock(s)
		if err != nil || !ok {
			continue
		}
		(&network{slot: s, nodes: 16, lock: lock}).close(ctx)
	}
}

// build makes the namespaces, the bridge, the veths and the addresses.
func (n *network) build(ctx context.Context) error {
	hub := n.hub()
	steps := [][]string{
		{"netns", "add", hub},
		{"-n", hub, "link", "set", "lo", "up"},
		{"-n", hub, "link", "add", "br0", "type", "bridge"},
		{"-n", hub, "link", "set", "br0", "up"},
		{"link", "add", n.rootLink(), "type", "veth", "peer", "name", "uplink", "netns", hub},
		{"-n", hub, "link", "set", "uplink", "master", "br0", "up"},
		{"addr", "add", fmt.Sprintf("10.77.%d.254/24", n.slot), "dev", n.rootLink()},
		{"link", "set", n.rootLink(), "up"},
	}
	for i := range n.nodes {
		ns := n.node(i)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", hub, "link", "add", n.hubPort(i), "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"-n", hub, "link", "set", n.hubPort(i), "master", "br0", "up"},
			[]string{"-n", ns, "addr", "add", n.addr(i) + "/24", "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"})
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return fmt.Errorf("natscluster: build the network: %w", err)
		}
	}
	return nil
}

// remove deletes the namespaces of the slot (their links go with them); what is not
// there is no error.
func (n *network) remove(ctx context.Context) error {
	var errs []error
	// The kernel removes a namespace's links after "netns del" returns; the root end of
	// the uplink is deleted here so that the next holder of the slot can make it anew.
	if _, err := os.Stat(filepath.Join("/sys/class/net", n.rootLink())); err == nil {
		errs = append(errs, ip(ctx, "link", "del", n.rootLink()))
	}
	names := []string{n.hub()}
	for i := range n.nodes {
		names = append(names, n.node(i))
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err != nil {
			continue
		}
		killAll(ctx, name)
		errs = append(errs, ip(ctx, "netns", "del", name))
	}
	return errors.Join(errs...)
}

// killAll kills every process in namespace name with SIGKILL: the nats-servers a test
// process that was killed left running. The nodes of a live cluster are gone already.
func killAll(ctx context.Context, name string) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// close removes the network and frees the slot.
func (n *network) close(ctx context.Context) error {
	err := n.remove(ctx)
	if n.lock != nil {
		n.lock.Close() // releases the flock
		n.lock = nil
	}
	return err
}

// partition adds (on) or removes blackhole routes between node i and every other node,
// in both directions.
func (n *network) partition(ctx context.Context, i int, on bool) error {
	verb := "add"
	if !on {
		verb = "del"
	}
	var errs []error
	for j := range n.nodes {
		if j == i {
			continue
		}
		errs = append(errs, ip(ctx, "-n", n.node(i), "route", verb, "blackhole", n.addr(j)+"/32"),
			ip(ctx, "-n", n.node(j), "route", verb, "blackhole", n.addr(i)+"/32"))
	}
	return errors.Join(errs...)
}

// link takes node i's port on the bridge up or down.
func (n *network) link(ctx context.Context, i int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip(ctx, "-n", n.hub(), "link", "set", n.hubPort(i), state)
}
