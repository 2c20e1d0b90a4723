package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A second worker on the same shards with another file (issue: it silently split the
// invoices between two files) is refused loudly: it consumes nothing, is not ready,
// names the owner in /readyz and its log, and counts the conflict; it takes the shards
// once the first stops.
func TestASecondOwnerOfAShardIsRefusedUntilTheFirstStops(t *testing.T) {
	e := newEnv(t)
	first := e.start(e.config())
	cfg := e.config()
	cfg.DB = filepath.Join(t.TempDir(), "other.db")
	second := e.startListening(cfg)
	waitFor(t, 10*time.Second, "the conflict counted", func() bool {
		return metricValue(t, second.url, "epayflow_worker_shard_conflicts_total") >= 1
	})
	// /readyz says why once the worker tried every shard (64 of them: not at once)
	var code int
	var body string
	waitFor(t, 10*time.Second, "/readyz naming the owner", func() bool {
		code, body = readyz(t, second.url)
		return strings.Contains(body, "owned by another worker")
	})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "worker.db") {
		t.Fatalf("second worker /readyz: %d %q, want 503 naming the owner's file", code, body)
	}
	if v := metricValue(t, second.url, "epayflow_worker_shards_owned"); v != 0 {
		t.Errorf("second worker owns %v shards", v)
	}
	e.publishCreated(createdFor("191111111", 10000))
	waitState(t, first.url, "191111111", invoice.StateCreated)
	if code := localRead(t, second.url, "191111111"); code != http.StatusNotFound {
		t.Fatalf("the second worker applied a message of a shard it does not own: %d", code)
	}

	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the second worker ready once the first stopped", func() bool {
		code, _ := readyz(t, second.url)
		return code == http.StatusOK
	})
	if v := metricValue(t, second.url, "epayflow_worker_shards_owned"); v != float64(inbox.DefaultShards) {
		t.Errorf("second worker owns %v shards, want all %d", v, inbox.DefaultShards)
	}
}

// A worker restarted on its own file after a crash (its leases still live) takes its
// shards back at once: the owner is the file, not the process.
func TestAWorkerRestartedOnItsFileTakesItsShardsBack(t *testing.T) {
	e := newEnv(t)
	st, err := bolt.Open(e.db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner := st.ID()
	st.Close()
	// the leases a crashed worker left behind, live for another 15 s
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsbus.ShardOwnersBucket, History: 1, TTL: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	val, _ := json.Marshal(leaseOwner{Owner: owner, Host: "crashed", DB: e.db, Since: time.Now()})
	for s := range inbox.DefaultShards {
		if _, err := kv.Create(ctx, shardKey(s), val); err != nil {
			t.Fatal(err)
		}
	}
	// e.start waits 10 s at most for /readyz, less than the leases' 15 s: a worker that
	// waited for its own leases to run out would not be ready within it
	w := e.start(e.config())
	if v := metricValue(t, w.url, "epayflow_worker_shard_conflicts_total"); v != 0 {
		t.Errorf("%v conflicts with its own leases", v)
	}
}

// localRead is the status of a read of id answered from base's own store (a read
// forwarded by another worker is never forwarded again).
func localRead(t testing.TB, base, id string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/invoices/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+testReadKey)
	req.Header.Set(HeaderForwardedBy, "a-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The leases' bucket is made or updated only when its configuration changed: a worker's
// start in a busy cluster waited for the update's proposal through the meta leader.
func TestTheLeasesBucketIsUpdatedOnlyWhenItsConfigurationChanged(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	updated := e.requests("$JS.API.STREAM.UPDATE.KV_" + natsbus.ShardOwnersBucket)
	open := func(ttl time.Duration) {
		t.Helper()
		if _, err := newLeases(ctx, e.js, "owner", "db", "", inbox.StatusSigner{}, ttl, 1, NewMetrics(prometheus.NewRegistry()), e.log); err != nil {
			t.Fatal(err)
		}
	}
	open(15 * time.Second)
	first := updated()
	if first == 0 { // CreateOrUpdateKeyValue asks for an update first, then creates
		t.Fatal("no update request seen while the bucket was made: the test cannot see them")
	}
	open(15 * time.Second)
	if got := updated() - first; got != 0 {
		t.Fatalf("opening the bucket again with the same configuration made %d updates, want none", got)
	}
	open(20 * time.Second)
	kv, err := e.js.KeyValue(ctx, natsbus.ShardOwnersBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(ctx); err != nil || st.TTL() != 20*time.Second {
		t.Fatalf("the bucket's TTL after a changed lease: %v (%v), want 20s", st.TTL(), err)
	}
}

// A lease counts (genuine) only when signed with the workers' status key (or a previous
// one) for the key it is stored under, at a time within advertSkew of when the server
// stored it: a genuine value put back later (the last lease of a worker gone), or copied
// under another key (a live worker's membership onto every shard), names nothing. The
// verdict uses the server's time of the entry, so every worker reaches the same one.
func TestALeaseCountsOnlySignedAndFresh(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	signer, _ := inbox.NewStatusSigner([]byte(testStatusKey))
	other, _ := inbox.NewStatusSigner([]byte("another-status-key-0123456"))
	l, err := newLeases(ctx, e.js, "me", "db", "", signer, 15*time.Second, 1, NewMetrics(prometheus.NewRegistry()), e.log)
	if err != nil {
		t.Fatal(err)
	}
	l.verify = true
	written := time.Now().UTC().Truncate(time.Millisecond)
	value := func(s inbox.StatusSigner, key, owner string, at time.Time) []byte {
		v, _ := json.Marshal(leaseOwner{Owner: owner, Signed: at, LeaseSig: s.SignLease(key, owner, "", at)})
		return v
	}
	for name, c := range map[string]struct {
		key  string
		val  []byte
		want bool
	}{
		"signed as stored":                      {"shard-0", value(signer, "shard-0", "w1", written), true},
		"signed 29 s before it was stored":      {"shard-0", value(signer, "shard-0", "w1", written.Add(-29*time.Second)), true},
		"signed 29 s after (a clock ahead)":     {"shard-0", value(signer, "shard-0", "w1", written.Add(29*time.Second)), true},
		"signed 31 s before: put back":          {"shard-0", value(signer, "shard-0", "w1", written.Add(-31*time.Second)), false},
		"signed 31 s after":                     {"shard-0", value(signer, "shard-0", "w1", written.Add(31*time.Second)), false},
		"a membership copied onto a shard":      {"shard-0", value(signer, "member.w1", "w1", written), false},
		"another shard's lease copied":          {"shard-0", value(signer, "shard-1", "w1", written), false},
		"signed with another key":               {"shard-0", value(other, "shard-0", "w1", written), false},
		"unsigned":                              {"shard-0", []byte(`{"owner":"w1","host":"h","db":"d"}`), false},
		"signed for another owner":              {"shard-0", bytes.Replace(value(signer, "shard-0", "w1", written), []byte(`"w1"`), []byte(`"w2"`), 1), false},
		"not JSON":                              {"shard-0", []byte("x"), false},
		"this worker's own value for the shard": {"shard-0", l.value("shard-0"), true},
	} {
		if _, got := l.genuine(c.key, c.val, written); got != c.want {
			t.Errorf("%s: genuine %v, want %v", name, got, c.want)
		}
	}
	l.verify = false // no key the workers share: every value counts, as before
	if _, got := l.genuine("shard-0", []byte(`{"owner":"w1"}`), written); !got {
		t.Error("without verify an unsigned lease does not count")
	}
}
