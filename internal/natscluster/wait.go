package natscluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// jsz is the little of nats-server's /jsz this package reads.
type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Name    string         `json:"name"`
		Streams []streamDetail `json:"stream_detail"`
	} `json:"account_details"`
}

type streamDetail struct {
	Name    string `json:"name"`
	Cluster *struct {
		Leader   string `json:"leader"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
			Offline bool   `json:"offline"`
			Lag     uint64 `json:"lag"`
		} `json:"replicas"`
	} `json:"cluster"`
	State StreamState `json:"state"`
}

// StreamState is a stream's state in one node's own store.
type StreamState struct {
	Msgs     uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

var client = &http.Client{Timeout: 2 * time.Second}

// get decodes the JSON of node i's monitoring path into v; a status other than 200 is
// an error.
func (c *Cluster) get(ctx context.Context, i int, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.MonitorURL(i)+path, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var body struct {
			Error string `json:"error"`
		}
		json.NewDecoder(res.Body).Decode(&body)
		return fmt.Errorf("%s: %s %s", path, res.Status, body.Error)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// Wait polls until the cluster is settled: every node that is running and not cut off
// answers /healthz (JetStream enabled, current with the meta leader, its streams and
// consumers current), all of them name the same meta leader, and every replica of
// every stream that lives on them is current with no lag, as its stream leader reports
// it. Nodes that are down or cut off are left out, so Wait also says "the majority is
// working" during a partition. It fails after timeout with the last reason, or when
// ctx ends.
func (c *Cluster) Wait(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error // the last reason that was not the deadline cutting a request short
	for {
		err := c.settled(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natscluster: not settled within %s: %w", timeout, last)
		case <-tick.C:
		}
	}
}

// settled is nil when the cluster is settled (see Wait), else the first reason not.
func (c *Cluster) settled(ctx context.Context) error {
	leader, up := "", 0
	for i := range c.opts.Nodes {
		if c.procs[i].Pid() == 0 || c.cutOff(i) {
			continue
		}
		up++
		if c.procs[i].Exited() {
			return fmt.Errorf("node %d exited:\n%s", i, c.procs[i].Output())
		}
		if err := c.get(ctx, i, "/healthz", nil); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		var z jsz
		if err := c.get(ctx, i, "/jsz?accounts=true&streams=true", &z); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		if z.Meta == nil || z.Meta.Leader == "" {
			return fmt.Errorf("node %d knows no meta leader", i)
		}
		if leader != "" && z.Meta.Leader != leader {
			return fmt.Errorf("node %d names meta leader %s, another %s", i, z.Meta.Leader, leader)
		}
		leader = z.Meta.Leader
		if err := c.replicasCurrent(i, z); err != nil {
			return err
		}
	}
	if up == 0 {
		return errors.New("no node is running and connected")
	}
	return nil
}

// replicasCurrent checks the replicas of the streams node i leads, as it reports them,
// leaving out replicas on nodes that are down or cut off.
func (c *Cluster) replicasCurrent(i int, z jsz) error {
	for _, a := range z.Accounts {
		for _, s := range a.Streams {
			if s.Cluster == nil || s.Cluster.Leader != c.ServerName(i) {
				continue
			}
			for _, r := range s.Cluster.Replicas {
				j := c.Node(r.Name)
				if j >= 0 && (c.procs[j].Pid() == 0 || c.cutOff(j)) {
					continue
				}
				if !r.Current || r.Offline || r.Lag > 0 {
					return fmt.Errorf("stream %s/%s: replica %s current %v offline %v lag %d", a.Name, s.Name, r.Name, r.Current, r.Offline, r.Lag)
				}
			}
		}
	}
	return nil
}

// StreamState is the state of stream (in any account) in node i's own store, which may
// lag the others' while it catches up. It returns an error wrapping ErrNoStream when
// node i holds no replica of it.
func (c *Cluster) StreamState(ctx context.Context, i int, stream string) (StreamState, error) {
	var z jsz
	if err := c.get(ctx, i, "/jsz?accounts=true&streams=true", &z); err != nil {
		return StreamState{}, fmt.Errorf("node %d: %w", i, err)
	}
	for _, a := range z.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return s.State, nil
			}
		}
	}
	return StreamState{}, fmt.Errorf("node %d: %w: %s", i, ErrNoStream, stream)
}

// ErrNoStream: the node holds no replica of the stream.
var ErrNoStream = errors.New("natscluster: no such stream on the node")
