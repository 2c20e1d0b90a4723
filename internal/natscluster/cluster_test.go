package natscluster_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natscluster"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/internal/proctest"
)

// natsServer is the nats-server binary TestMain built, shared by the tests.
var natsServer string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse() // for testing.Short
	dir, err := os.MkdirTemp("", "natscluster-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if !testing.Short() && os.Geteuid() == 0 {
		bins, err := proctest.Builder{Dir: dir}.Build(context.Background(), proctest.NATSServer)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		natsServer = bins[proctest.NATSServer]
	}
	return m.Run()
}

// mustStart starts a settled 3-node cluster for t (in parallel with the other tests).
func mustStart(t *testing.T) *natscluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	t.Parallel()
	return natscluster.StartT(t, natscluster.Options{Dir: t.TempDir(), Bin: natsServer})
}

func mustConnect(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	return natstest.JetStream(t, urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
}

// mustCreateR3 makes stream name (subjects name.>) with three replicas; the cluster
// may still be electing, so it retries until its deadline.
func mustCreateR3(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Replicas: 3, Storage: jetstream.FileStorage})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("create stream %s: %v", name, err)
		}
	}
}

// mustPublish publishes id until the stream acknowledges it (a message id makes the
// retries of one whose acknowledgement was lost no duplicate), within a minute.
func mustPublish(t *testing.T, js jetstream.JetStream, stream, id string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, stream+".m", []byte(id), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
}

func mustPublishN(t *testing.T, js jetstream.JetStream, stream, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for k := range n {
		id := prefix + "-" + strconv.Itoa(k)
		mustPublish(t, js, stream, id)
		ids = append(ids, id)
	}
	return ids
}

// leader is the index of the node that leads stream.
func leader(t *testing.T, c *natscluster.Cluster, js jetstream.JetStream, stream string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || c.Node(info.Cluster.Leader) < 0 {
		t.Fatalf("stream %s info: %v %+v", stream, err, info)
	}
	return c.Node(info.Cluster.Leader)
}

// contents is every message's body in stream order, read from the stream.
func contents(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %s seq %d: %v", stream, seq, err)
		}
		bodies = append(bodies, string(m.Data))
	}
	return bodies
}

// assertSameOnEveryNode checks that every node's own store holds want messages, the
// same on all nodes.
func assertSameOnEveryNode(t *testing.T, c *natscluster.Cluster, stream string, want int) {
	t.Helper()
	var first natscluster.StreamState
	for i := range c.Nodes() {
		st, err := c.StreamState(context.Background(), i, stream)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st
		}
		if st.Msgs != uint64(want) || st != first {
			t.Errorf("node %d holds %+v of %s, node 0 %+v; want %d messages on each", i, st, stream, first, want)
		}
	}
}

func TestR3StreamLosesNothingWhenItsLeaderIsKilledAndRestarted(t *testing.T) {
	c := mustStart(t)
	js := mustConnect(t, c.URLs())
	mustCreateR3(t, js, "KILL")
	want := mustPublishN(t, js, "KILL", "before", 20)
	victim := leader(t, c, js, "KILL")
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	want = append(want, mustPublishN(t, js, "KILL", "during", 20)...)
	if got := leader(t, c, js, "KILL"); got == victim {
		t.Fatalf("the killed node %d still leads the stream", victim)
	}
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(context.Background(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	want = append(want, mustPublishN(t, js, "KILL", "after", 20)...)
	if err := c.Wait(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, js, "KILL"); !slices.Equal(got, want) {
		t.Errorf("stream holds %d messages %v, want the %d published %v", len(got), got, len(want), want)
	}
	assertSameOnEveryNode(t, c, "KILL", len(want))
}

func TestPartitionedNodeTakesNoWritesWhileTheMajorityDoesAndCatchesUpAfterHeal(t *testing.T) {
	c := mustStart(t)
	js := mustConnect(t, c.URLs())
	mustCreateR3(t, js, "PART")
	want := mustPublishN(t, js, "PART", "before", 10)
	cut := leader(t, c, js, "PART") // the leader's side loses: the harder case
	var others []string
	for i := range c.Nodes() {
		if i != cut {
			others = append(others, c.URL(i))
		}
	}
	minority := mustConnect(t, c.URL(cut))
	majority := mustConnect(t, others[0]+","+others[1])
	if err := c.Partition(context.Background(), cut); err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := minority.Publish(ctx, "PART.m", []byte("minority-"+strconv.Itoa(k)))
		cancel()
		if err == nil {
			t.Fatalf("the partitioned node %d acknowledged a write to an R3 stream", cut)
		}
	}
	want = append(want, mustPublishN(t, majority, "PART", "majority", 10)...)
	if err := c.Wait(context.Background(), time.Minute); err != nil {
		t.Fatalf("the majority did not settle: %v", err)
	}
	if st, err := c.StreamState(context.Background(), cut, "PART"); err != nil || st.Msgs >= uint64(len(want)) {
		t.Errorf("the partitioned node holds %+v (%v), want fewer than the %d messages written to the majority", st, err, len(want))
	}
	if err := c.Heal(context.Background(), cut); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(context.Background(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	assertSameOnEveryNode(t, c, "PART", len(want))
	if got := contents(t, majority, "PART"); !slices.Equal(got, want) {
		t.Errorf("stream holds %v, want %v: nothing written to the minority", got, want)
	}
}

func TestIsolatedNodeLosesItsClients(t *testing.T) {
	c := mustStart(t)
	lost := make(chan struct{}, 1)
	nc, err := nats.Connect(c.URL(1), nats.NoReconnect(), nats.PingInterval(500*time.Millisecond), nats.MaxPingsOutstanding(2),
		nats.ClosedHandler(func(*nats.Conn) { lost <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := c.Isolate(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Fatal("a client of the isolated node is still connected after a minute")
	}
	if err := c.Wait(context.Background(), time.Minute); err != nil {
		t.Fatalf("the other two did not settle: %v", err)
	}
	if err := c.Heal(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	again, err := nats.Connect(c.URL(1))
	if err != nil {
		t.Fatalf("connect to the healed node: %v", err)
	}
	again.Close()
}
