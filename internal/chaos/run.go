package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natscluster"
	"github.com/epayflow/epayflow/internal/proctest"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// Config sizes a chaos run.
type Config struct {
	Dir          string   // scratch: binaries, NATS store, bbolt file, logs
	Go           string   // the go command; default "go"
	BuildFlags   []string // more go build flags of the services and NATS, such as -race
	Invoices     int
	MinCallbacks int           // the run fails when fewer callbacks were sent
	Load         time.Duration // invoices start evenly over this long; the kills go on as long
	Senders      int           // concurrent ePay senders
	// Kill intervals, drawn uniformly between the two bounds.
	WorkerKillEvery, IngestKillEvery [2]time.Duration
	// NATSRestart: SIGKILL NATS once and start it again; with one server, while the
	// worker's outbox holds events (natsOutageWithBacklog)
	NATSRestart bool
	// LoseWorkerFile: every LoseWorkerFile-th worker kill also deletes the worker's bbolt
	// file for good (its disk lost); the worker starts on an empty file and restores its
	// shards from the changelog. 0: never.
	LoseWorkerFile int
	// Workers and Ingests run that many of each (default 1): the workers share the
	// shards (assigned at run time), the load spreads over the ingests. With more than
	// one worker the verdict reads each invoice's state from EPAY_STATE, the workers'
	// changelog, and their files' histories only for the failover times.
	Workers, Ingests int
	// Scale: a worker joins at 45% of the load, and the workers are scaled down to two
	// at 70% (the highest ones stopped with SIGTERM, as a StatefulSet does).
	Scale bool
	// Cluster runs NATS as three nats-servers (internal/natscluster, each in a network
	// namespace of its own; root only) with R3 streams: NATSRestart then SIGKILLs the inbox
	// stream's leader and starts it again, and a node is partitioned away and healed.
	Cluster    bool
	Shards     int
	AckWait    time.Duration // WORKER_ACK_WAIT: redelivery after a SIGKILL
	Drain      time.Duration // the longest wait for the worker to catch up
	CheckEvery time.Duration // WORKER_CHECK_EVERY: how often the worker looks for claims to confirm
	Seed       uint64
	Progress   io.Writer
}

func (c *Config) setDefaults() {
	c.Workers, c.Ingests = max(c.Workers, 1), max(c.Ingests, 1)
	if c.Senders == 0 {
		c.Senders = 32
	}
	if c.Shards == 0 {
		c.Shards = inbox.DefaultShards
	}
	if c.AckWait == 0 {
		c.AckWait = 5 * time.Second
	}
	if c.CheckEvery == 0 {
		c.CheckEvery = 200 * time.Millisecond
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// stack is the three processes of a run, and the ePay sandbox, in process, whose status
// API the worker asks.
type stack struct {
	nats       *proctest.Proc // nil with a cluster
	cluster    *natscluster.Cluster
	natsURL    string // comma-separated with a cluster
	ingests    []*svc
	workers    fleet
	js         jetstream.JetStream // the verifier's, once connected
	sandbox    *sandbox.Sandbox
	sandboxURL string
	users      map[natsbus.Role]natsbus.Auth // each service's NATS user
	verifier   natsbus.Auth                  // the test's, reading every stream

	// faults is held by a fault that must not be disturbed by a worker's kill (the NATS
	// outage of natsOutageWithBacklog); a worker's kill waits for it.
	faults sync.Mutex

	killsMu     sync.Mutex
	killedAt    map[string][]time.Time // when each kill happened, by what was killed
	workerKills []workerKill
}

// killed records a kill of what ("worker", "ingest", "nats") now.
func (st *stack) killed(what string) {
	st.killsMu.Lock()
	defer st.killsMu.Unlock()
	if st.killedAt == nil {
		st.killedAt = map[string][]time.Time{}
	}
	st.killedAt[what] = append(st.killedAt[what], time.Now())
}

// failovers are, for the worker's kills and NATS's, the time from each kill to the
// next change applied (the tap of EPAY_STATE says when): for a worker's kill, until
// every shard it owned had a change applied again (by whichever worker took it); for
// NATS's, until any change was.
func (st *stack) failovers(byShard map[int][]time.Time, all []time.Time) map[string][]time.Duration {
	st.killsMu.Lock()
	defer st.killsMu.Unlock()
	out := map[string][]time.Duration{}
	for _, k := range st.workerKills {
		if len(k.shards) == 0 { // shards unknown (one worker owning them all): the next change anywhere
			if t, found := firstAfter(all, k.at); found {
				out["worker"] = append(out["worker"], t.Sub(k.at))
			}
			continue
		}
		var worst time.Duration
		measured := true
		for _, s := range k.shards {
			t, found := firstAfter(byShard[s], k.at)
			if !found { // no change of that shard came after (the load's end): not a failover to time
				measured = false
				break
			}
			worst = max(worst, t.Sub(k.at))
		}
		if measured {
			out["worker"] = append(out["worker"], worst)
		}
	}
	for _, k := range st.killedAt["nats"] {
		if t, found := firstAfter(all, k); found {
			out["nats"] = append(out["nats"], t.Sub(k))
		}
	}
	return out
}

// Run builds and starts the stack, runs the load under the kills, lets the worker
// drain and checks everything. The error is about the harness (a build that failed, a
// service that never came up); what the checks found is in the Summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.setDefaults()
	var sum Summary
	bins, err := proctest.Builder{Go: cfg.Go, Dir: filepath.Join(cfg.Dir, "bin"), Flags: cfg.BuildFlags}.
		Build(ctx, proctest.NATSServer, "ingest", "worker", "webhooks")
	if err != nil {
		return sum, err
	}
	keys, keySpec, err := newKeys()
	if err != nil {
		return sum, err
	}
	sb, sbURL, stopSandbox, err := startSandbox()
	if err != nil {
		return sum, err
	}
	defer stopSandbox()
	st, err := newStack(cfg, bins, keySpec, sb, sbURL)
	if err != nil {
		return sum, err
	}
	defer st.stopAll()
	if err := st.startAll(ctx); err != nil {
		return sum, err
	}
	hk, err := newHooks(cfg, st, bins["webhooks"])
	if err != nil {
		return sum, err
	}
	defer hk.stop()
	if err := hk.start(ctx); err != nil {
		return sum, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := natsbus.ConnectAs(st.natsURL, "chaos-verifier", natsbus.RoleAdmin, st.verifier, quiet)
	if err != nil {
		return sum, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return sum, err
	}
	// invoice.created is published as the initiator does, with the initiator's user
	inc, err := natsbus.ConnectAs(st.natsURL, "chaos-initiator", natsbus.RoleInitiator, st.users[natsbus.RoleInitiator], quiet)
	if err != nil {
		return sum, err
	}
	defer inc.Close()
	ijs, err := jetstream.New(inc)
	if err != nil {
		return sum, err
	}
	fmt.Fprintf(cfg.Progress, "chaos: seed %d, %d invoices over %s, stack up\n", cfg.Seed, cfg.Invoices, cfg.Load)

	st.js = js
	tap, err := tapApplied(ctx, js)
	if err != nil {
		return sum, err
	}
	var ingestURLs []string
	for _, in := range st.ingests {
		ingestURLs = append(ingestURLs, in.url)
	}
	l := &load{ingestURLs: ingestURLs, sandbox: st.sandbox, shards: cfg.Shards, keys: keys, js: ijs, ledger: newLedger(),
		deadline: 90 * time.Second, created: map[string]bool{}}
	l.client = &http.Client{Transport: &epaytest.Deliverer{Base: &http.Transport{MaxIdleConnsPerHost: cfg.Senders},
		Attempt: 5 * time.Second, Deadline: l.deadline, Delivered: l.ledger.delivered}}
	plans := makePlans(cfg.Invoices, mrand.New(mrand.NewPCG(cfg.Seed, 1)))

	start := time.Now()
	chaosCtx, stopChaos := context.WithCancel(ctx)
	kills := st.unleash(chaosCtx, cfg, &sum)
	kills.Go(func() { hk.killOnce(chaosCtx, cfg) })
	runLoad(ctx, cfg, l, plans)
	stopChaos()
	kills.Wait()
	sum.LoadTime = time.Since(start)
	sum.Kills = sum.WorkerKills + sum.IngestKills + sum.NATSKills
	fmt.Fprintf(cfg.Progress, "chaos: load done in %s, %d kills\n", sum.LoadTime.Round(time.Second), sum.Kills)
	for _, p := range l.problems {
		sum.problem("load: %s", p)
	}
	sum.Retries += int(l.createdRetries.Load())

	if err := st.ensureUp(ctx); err != nil {
		return sum, err
	}
	drainStart := time.Now()
	if err := waitDrained(ctx, js, st.workers.live(), cfg.Shards, cfg.Drain, cfg.CheckEvery); err != nil {
		sum.problem("drain: %v", err)
	}
	sum.DrainTime = time.Since(drainStart)
	sum.Failover = st.failovers(tap.stop())
	ev, err := gather(ctx, js, st, cfg, keys, plans)
	if err != nil {
		return sum, err
	}
	ev.posts, ev.created = l.ledger.all(), l.created
	verify(ev, &sum)
	hk.judge(ctx, cfg, js, &sum)
	fmt.Fprintln(cfg.Progress, sum.Failovers())
	fmt.Fprintf(cfg.Progress, "chaos: %d status answers applied; %d double payments, %d flagged with a review event, "+
		"missed: %d paid on the second transaction's status, %d with the second success applied while the first's claim waited\n",
		sum.StatusAnswers, sum.DoublePayments, sum.DoublesFlagged, sum.MissedSecondNamed, sum.MissedWhileClaim)
	if cfg.Invoices > 0 && sum.Sent < cfg.MinCallbacks {
		sum.problem("only %d callbacks sent, want at least %d", sum.Sent, cfg.MinCallbacks)
	}
	// every service did its job within its NATS permissions
	for _, p := range st.natsProcs() {
		if b, err := os.ReadFile(p.Log); err != nil {
			sum.problem("nats log: %v", err)
		} else if n := strings.Count(string(b), "Publish Violation") + strings.Count(string(b), "Subscription Violation"); n > 0 {
			sum.problem("nats-server logged %d permissions violations (see %s)", n, p.Log)
		}
	}
	for _, r := range dataRaces(cfg.Dir) {
		sum.problem("%s", r)
	}
	return sum, nil
}

// dataRaces lists the logs of dir in which the race detector reported a data race (the
// services built with -race: a race is reported and the process goes on, so only its
// log tells).
func dataRaces(dir string) []string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var out []string
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			out = append(out, fmt.Sprintf("data races: %v", err))
			continue
		}
		if n := bytes.Count(b, []byte("WARNING: DATA RACE")); n > 0 {
			out = append(out, fmt.Sprintf("%d data races reported in %s", n, l))
		}
	}
	return out
}

// newKeys makes a signing key for the run.
func newKeys() (*epay.Keyring, string, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", err
	}
	spec := "C:" + hex.EncodeToString(secret)
	keys, err := epay.ParseKeyring(spec)
	return keys, spec, err
}

// startSandbox serves an ePay sandbox with its default (ePay's published test)
// credentials on a loopback port.
func startSandbox() (*sandbox.Sandbox, string, func(), error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sb, err := sandbox.New(sandbox.Config{}, quiet)
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sb.Close()
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		sb.Close()
	}
	return sb, "http://" + ln.Addr().String(), stop, nil
}

// newStack makes (does not start) the processes of a run: bins are their binaries by
// name, as proctest.Builder.Build returns them.
func newStack(cfg Config, bins map[string]string, keySpec string, sb *sandbox.Sandbox, sandboxURL string) (*stack, error) {
	spares := 0
	if cfg.Scale {
		spares = 1
	}
	ports := make([]int, 1+cfg.Ingests+cfg.Workers+spares) // NATS (unless a cluster), the ingests, the workers
	for i := range ports {
		p, err := proctest.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	url := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	statusKey := randomPassword()
	st := &stack{natsURL: "nats://127.0.0.1:" + strconv.Itoa(ports[0]), sandbox: sb, sandboxURL: sandboxURL}
	env := append(baseEnv(), "EPAY_SHARDS="+strconv.Itoa(cfg.Shards), "LOG_LEVEL=warn", "LOG_FORMAT=json",
		// 1 GiB a stream, not 16: each stream reserves its bound of the server's store, which
		// nats-server sets to 75% of the free disk; on a machine with 64 GB free the last
		// stream was refused and the worker never became ready
		"NATS_STREAM_MAX_BYTES=1073741824")
	// NATS as in production: a user per role with its permissions (natsbus roles), and
	// the test's own verifier, which reads every stream.
	st.users, st.verifier = map[natsbus.Role]natsbus.Auth{}, natsbus.Auth{User: "chaos-verifier", Password: randomPassword()}
	for _, r := range natsbus.Roles() {
		st.users[r] = natsbus.Auth{User: string(r), Password: randomPassword()}
	}
	auth := natsbus.AuthorizationConf(func(r natsbus.Role) string { return strconv.Quote(st.users[r].Password) },
		natsbus.ConfUser{Name: st.verifier.User, Password: strconv.Quote(st.verifier.Password),
			Permissions: natsbus.Permissions{Publish: []string{">"}, Subscribe: []string{">"}}})
	if cfg.Cluster {
		c, err := natscluster.Start(context.Background(), natscluster.Options{Dir: filepath.Join(cfg.Dir, "cluster"),
			Bin: bins[proctest.NATSServer], Authorization: auth})
		if err != nil {
			return nil, err
		}
		st.cluster, st.natsURL = c, c.URLs()
		env = append(env, "NATS_STREAM_REPLICAS=3")
	}
	env = append(env, "NATS_URL="+st.natsURL)
	conf := filepath.Join(cfg.Dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(auth), 0o600); err != nil {
		return nil, err
	}
	as := func(r natsbus.Role, more ...string) []string {
		return append(append(env[:len(env):len(env)], "NATS_USER="+st.users[r].User, "NATS_PASSWORD="+st.users[r].Password), more...)
	}
	if st.cluster == nil {
		st.nats = &proctest.Proc{Name: "nats-server", Path: bins[proctest.NATSServer], Log: filepath.Join(cfg.Dir, "nats.log"), Env: baseEnv(),
			Args: []string{"-c", conf, "-js", "-sd", filepath.Join(cfg.Dir, "nats"), "-a", "127.0.0.1", "-p", strconv.Itoa(ports[0])}}
	}
	name := func(what string, i, n int) string {
		if n == 1 {
			return what
		}
		return what + "-" + strconv.Itoa(i)
	}
	for i := range cfg.Ingests {
		port := ports[1+i]
		n := name("ingest", i, cfg.Ingests)
		st.ingests = append(st.ingests, &svc{url: url(port), p: &proctest.Proc{Name: n, Path: bins["ingest"], Log: filepath.Join(cfg.Dir, n+".log"),
			Env: as(natsbus.RoleIngest, "EPAY_SECRET_KEYS="+keySpec, "INGEST_ADDR=127.0.0.1:"+strconv.Itoa(port))}})
	}
	for i := range cfg.Workers + spares {
		port := ports[1+cfg.Ingests+i]
		n := name("worker", i, cfg.Workers+spares)
		w := &svc{url: url(port), db: filepath.Join(cfg.Dir, n+".db"), started: i < cfg.Workers}
		w.p = &proctest.Proc{Name: n, Path: bins["worker"], Log: filepath.Join(cfg.Dir, n+".log"),
			Env: as(natsbus.RoleWorker, "WORKER_ADDR=127.0.0.1:"+strconv.Itoa(port), "WORKER_DB="+w.db,
				// the streams identity, as in the local stacks: the worker makes the streams and
				// buckets at its start as the user streams (its own may not)
				"WORKER_STREAMS_NATS_USER="+st.users[natsbus.RoleStreams].User, "WORKER_STREAMS_NATS_PASSWORD="+st.users[natsbus.RoleStreams].Password,
				"WORKER_ADVERTISE_URL="+w.url,                                        // reads of another worker's shard are forwarded there
				"WORKER_ACK_WAIT="+cfg.AckWait.String(), "EPAY_SECRET_KEYS="+keySpec, // the worker checks secret_hash itself
				// confirmation on against the sandbox, wired as the devstack does
				"EPAY_ENV=sandbox", "EPAY_API_URL="+sandboxURL, "EPAY_TOKEN_URL="+sandboxURL+"/oauth2/token",
				"EPAY_CLIENT_ID="+sandbox.TestClientID, "EPAY_CLIENT_SECRET="+sandbox.TestClientSecret,
				"EPAY_TERMINAL="+sandbox.TestTerminal, "WORKER_CONFIRM_PAYMENTS=on", "WORKER_READ_KEYS=chaos:pii:"+readKey,
				"WORKER_CHECK_EVERY="+cfg.CheckEvery.String(),
				// one status key for every worker, as the Secret worker-status-key gives them: a
				// status answer one worker signed is applied by whichever owns the shard then
				// (with a key per file, a moved shard's answers were refused as forged)
				"WORKER_STATUS_KEY="+statusKey)}
		st.workers.workers = append(st.workers.workers, w)
	}
	return st, nil
}

// baseEnv is the little of the test's environment the services get: nothing that could
// change their configuration (an EPAY_API_URL would turn on confirmation, for one).
func baseEnv() []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// natsProcs are the nats-server processes: one, or the cluster's.
func (st *stack) natsProcs() []*proctest.Proc {
	if st.cluster == nil {
		return []*proctest.Proc{st.nats}
	}
	var out []*proctest.Proc
	for i := range st.cluster.Nodes() {
		out = append(out, st.cluster.Proc(i))
	}
	return out
}

// natsUp waits until NATS takes clients: the one server's port, or a settled cluster.
func (st *stack) natsUp(ctx context.Context) error {
	if st.cluster != nil {
		return st.cluster.Wait(ctx, 2*time.Minute)
	}
	return st.nats.WaitTCP(ctx, strings.TrimPrefix(st.natsURL, "nats://"), 30*time.Second)
}

func (st *stack) startAll(ctx context.Context) error {
	if st.nats != nil {
		if err := st.nats.Start(); err != nil {
			return err
		}
	}
	if err := st.natsUp(ctx); err != nil {
		return err
	}
	for _, s := range append(st.ingests, st.workers.live()...) {
		if err := s.p.Start(); err != nil {
			return err
		}
	}
	return st.serving(ctx)
}

// ensureUp checks that no process died on its own, and that all serve.
func (st *stack) ensureUp(ctx context.Context) error {
	procs := st.natsProcs()
	for _, s := range append(st.ingests, st.workers.live()...) {
		procs = append(procs, s.p)
	}
	for _, p := range procs {
		if p.Exited() {
			return fmt.Errorf("%s exited on its own; see %s", p.Name, p.Log)
		}
	}
	if err := st.natsUp(ctx); err != nil {
		return err
	}
	return st.serving(ctx)
}

// serving waits until the ingests and the live workers are ready.
func (st *stack) serving(ctx context.Context) error {
	for _, s := range append(st.ingests, st.workers.live()...) {
		if err := s.p.WaitHTTP(ctx, s.url+"/readyz", 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (st *stack) stopAll() {
	for _, s := range append(st.workers.all(), st.ingests...) {
		s.p.Stop(20 * time.Second)
	}
	if st.cluster != nil {
		st.cluster.Close()
	} else {
		st.nats.Stop(20 * time.Second)
	}
}

// unleash starts the kills; they go on until ctx ends.
func (st *stack) unleash(ctx context.Context, cfg Config, sum *Summary) *sync.WaitGroup {
	var wg sync.WaitGroup
	var workerKills, ingestKills, natsKills atomic.Int64
	r := mrand.New(mrand.NewPCG(cfg.Seed, 2))
	var rmu sync.Mutex
	draw := func(b [2]time.Duration) time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return b[0] + time.Duration(r.Int64N(int64(b[1]-b[0])+1))
	}
	var filesLost atomic.Int64
	pick := func(of []*svc) *svc {
		rmu.Lock()
		defer rmu.Unlock()
		return of[r.IntN(len(of))]
	}
	// a worker's kill: SIGKILL, the shards it owned noted, its file deleted every
	// LoseWorkerFile-th time, and started again (unless it was scaled away meanwhile)
	killWorker := func() {
		st.faults.Lock()
		defer st.faults.Unlock()
		live := st.workers.live()
		if len(live) == 0 {
			return
		}
		w := pick(live)
		var shards []int
		if st.js != nil && len(live) > 1 {
			shards = ownedShards(ctx, st.js, w.db)
		}
		if err := w.p.Kill(5 * time.Second); err != nil {
			fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
		}
		st.killsMu.Lock()
		st.workerKills = append(st.workerKills, workerKill{at: time.Now(), shards: shards})
		st.killsMu.Unlock()
		st.killed("worker")
		if k := workerKills.Add(1); cfg.LoseWorkerFile > 0 && k%int64(cfg.LoseWorkerFile) == 0 {
			if err := removeFile(w.db); err != nil {
				fmt.Fprintf(cfg.Progress, "chaos: lose %s's file: %v\n", w.p.Name, err)
			} else {
				filesLost.Add(1)
				st.killed("worker file")
				fmt.Fprintf(cfg.Progress, "chaos: %s killed, its file deleted\n", w.p.Name)
			}
		}
		sleep(ctx, draw([2]time.Duration{0, 500 * time.Millisecond})) // even when ctx ends: start it again
		if err := st.workers.restart(w); err != nil {
			fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
		}
	}
	if cfg.WorkerKillEvery[1] > 0 {
		wg.Go(func() {
			for sleep(ctx, draw(cfg.WorkerKillEvery)) {
				killWorker()
			}
		})
	}
	if cfg.IngestKillEvery[1] > 0 {
		wg.Go(func() {
			for sleep(ctx, draw(cfg.IngestKillEvery)) {
				in := pick(st.ingests)
				if err := in.p.Kill(5 * time.Second); err != nil {
					fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
				}
				st.killed("ingest")
				ingestKills.Add(1)
				sleep(ctx, draw([2]time.Duration{100 * time.Millisecond, time.Second})) // even when ctx ends
				if err := in.p.Start(); err != nil {
					fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
					return
				}
			}
		})
	}
	if cfg.Scale {
		wg.Go(func() {
			if !sleep(ctx, cfg.Load*45/100) {
				return
			}
			if w, err := st.workers.join(); err != nil {
				fmt.Fprintf(cfg.Progress, "chaos: join: %v\n", err)
			} else {
				sum.WorkersJoined++
				fmt.Fprintf(cfg.Progress, "chaos: %s joined (%d workers)\n", w.p.Name, len(st.workers.live()))
			}
			if !sleep(ctx, cfg.Load*25/100) {
				return
			}
			for _, w := range st.workers.scaleTo(2) {
				sum.WorkersRemoved++
				fmt.Fprintf(cfg.Progress, "chaos: %s scaled away (SIGTERM)\n", w.p.Name)
			}
		})
	}
	if cfg.NATSRestart && st.cluster != nil {
		wg.Go(func() { st.clusterFaults(ctx, cfg, &natsKills) })
	}
	var heldAtKill atomic.Int64
	if cfg.NATSRestart && st.cluster == nil {
		wg.Go(func() { heldAtKill.Store(int64(st.natsOutageWithBacklog(ctx, cfg, &natsKills))) })
	}
	done := &sync.WaitGroup{}
	done.Go(func() {
		wg.Wait()
		sum.WorkerKills, sum.IngestKills, sum.NATSKills = int(workerKills.Load()), int(ingestKills.Load()), int(natsKills.Load())
		sum.WorkerFilesLost = int(filesLost.Load())
		sum.HeldAtNATSKill = int(heldAtKill.Load())
	})
	return done
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runLoad starts the invoices evenly over cfg.Load, each on a free sender, and waits
// (bounded) until every one is played out.
func runLoad(ctx context.Context, cfg Config, l *load, plans []plan) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Load+5*time.Minute)
	defer cancel()
	work := make(chan plan)
	var wg sync.WaitGroup
	for range cfg.Senders {
		wg.Go(func() {
			for p := range work {
				l.run(ctx, p)
			}
		})
	}
	start := time.Now()
	for i, p := range plans {
		at := start.Add(cfg.Load * time.Duration(i) / time.Duration(max(len(plans), 1)))
		if !sleep(ctx, time.Until(at)) {
			break
		}
		select {
		case work <- p:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

// waitDrained polls until every shard's consumer has nothing pending or unacked, the
// live workers consume every shard between them, the worker's outbox is empty and no
// claim waits for the status API, and all of it stayed so for several of the checker's
// scans (its gauge of claims is sampled once a scan, and reads 0 after a restart until
// the first scan ends).
func waitDrained(ctx context.Context, js jetstream.JetStream, workers []*svc, shards int, timeout, checkEvery time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	var since time.Time // drained since
	for time.Now().Before(deadline) {
		if last = drained(ctx, js, workers, shards); last != nil {
			since = time.Time{}
		} else if since.IsZero() {
			since = time.Now()
		} else if time.Since(since) >= max(5*checkEvery, time.Second) {
			return nil
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("not drained within %s: %w", timeout, last)
}

func drained(ctx context.Context, js jetstream.JetStream, workers []*svc, shards int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for shard := range shards {
		c, err := js.Consumer(ctx, natsbus.StreamInbox, natsbus.ShardConsumerPrefix+strconv.Itoa(shard))
		if err != nil {
			return fmt.Errorf("consumer of shard %d: %w", shard, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending+uint64(info.NumAckPending) != 0 {
			return fmt.Errorf("shard %d: %d pending, %d unacked", shard, info.NumPending, info.NumAckPending)
		}
	}
	// every shard consumed by a live worker: a worker started again after its file was
	// lost is a new member, ready while a dead one's leases still hold shards, and the
	// inbox shows nothing pending for shards nobody restored from the changelog yet
	const owned, backlog = "epayflow_worker_shards_owned", "epayflow_worker_outbox_backlog"
	claims := [...]string{`epayflow_worker_awaiting_final{confirmation="pending"}`, `epayflow_worker_awaiting_final{confirmation="not_final"}`}
	consumed := 0
	for _, w := range workers {
		m, err := metrics(ctx, w.url, append([]string{owned, backlog}, claims[:]...)...) // one scrape a worker
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(m[owned])
		if err != nil {
			return fmt.Errorf("%s: %s %q: %w", w.p.Name, owned, m[owned], err)
		}
		consumed += n
		if m[backlog] != "0" {
			return fmt.Errorf("%s: outbox backlog %s", w.p.Name, m[backlog])
		}
		for _, c := range claims {
			if m[c] != "0" {
				return fmt.Errorf("%s: claims waiting for the status API: %s %s", w.p.Name, c, m[c])
			}
		}
	}
	if consumed != shards {
		return fmt.Errorf("the live workers consume %d of the %d shards", consumed, shards)
	}
	return nil
}

// gather reads the streams and the read API while the stack runs, then stops the worker
// and reads its file.
func gather(ctx context.Context, js jetstream.JetStream, st *stack, cfg Config, keys *epay.Keyring, plans []plan) (evidence, error) {
	ev := evidence{plans: plans}
	raw, err := readStream(ctx, js, natsbus.StreamInbox)
	if err != nil {
		return ev, err
	}
	var problems []string
	ev.inbox, problems = parseInbox(raw, keys, cfg.Shards)
	raw, err = readStream(ctx, js, natsbus.StreamEvents)
	if err != nil {
		return ev, err
	}
	var more []string
	ev.events, more = parseEvents(raw)
	problems = append(problems, more...)
	if len(problems) > 0 {
		return ev, errors.New(problems[0])
	}
	if dlq, err := js.Stream(ctx, natsbus.StreamDLQ); err == nil {
		if info, err := dlq.Info(ctx); err == nil {
			ev.dlq = int(info.State.Msgs)
		}
	}
	ids := make([]string, len(plans))
	for i, p := range plans {
		ids[i] = p.ID
	}
	live := st.workers.live()
	if ev.api, err = readAPI(ctx, live[0].url, ids); err != nil { // any worker answers: it forwards to the owner
		return ev, fmt.Errorf("read API: %w", err)
	}
	state, err := readState(ctx, js)
	if err != nil {
		return ev, err
	}
	for _, w := range live {
		if err := w.p.Stop(30 * time.Second); err != nil {
			return ev, err
		}
	}
	var removedOutbox []string
	for _, w := range st.workers.all() {
		f, err := readBolt(w.db)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted by the last kill, before the worker wrote a new one
		}
		if err != nil {
			return ev, err
		}
		if w.removed { // scaled away for good: its outbox is checked against PAYMENT_EVENTS below
			removedOutbox = append(removedOutbox, f.OutboxIDs...)
			f.Outbox, f.OutboxIDs = 0, nil
		}
		ev.files = append(ev.files, f)
	}
	ev.removedOutbox = removedOutbox
	if len(st.workers.all()) == 1 && len(ev.files) == 1 {
		ev.bolt = ev.files[0] // one worker: its file, with every history, checked against the changelog
		ev.state = &state
		return ev, nil
	}
	ev.bolt = state // several: the changelog is the state of record
	for _, f := range ev.files {
		ev.bolt.Outbox += f.Outbox
	}
	return ev, nil
}

// metric reads one unlabelled sample from a service's /metrics.
func metric(ctx context.Context, baseURL, name string) (string, error) {
	m, err := metrics(ctx, baseURL, name)
	return m[name], err
}

// metrics reads the values of names (each a metric with its labels, as exposed) from
// one scrape of baseURL/metrics; every one must be there.
func metrics(ctx context.Context, baseURL string, names ...string) (map[string]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range names {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				out[name] = strings.TrimSpace(v)
			}
		}
	}
	for _, name := range names {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("no %s on %s/metrics", name, baseURL)
		}
	}
	return out, nil
}

// randomPassword is a fresh NATS password.
func randomPassword() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clusterFaults, with a cluster: at 30% of the load the inbox stream's leader is SIGKILLed
// and started again 1.5 s later; at 60% the leader of the moment is partitioned from the
// other nodes (its clients stay connected to it and get no acknowledgement) for 5 s, then
// healed. Each fault waits for the cluster to settle first.
func (st *stack) clusterFaults(ctx context.Context, cfg Config, kills *atomic.Int64) {
	leader := func() int {
		nc, err := natsbus.ConnectAs(st.natsURL, "chaos-faults", natsbus.RoleAdmin, st.verifier, slog.New(slog.DiscardHandler))
		if err != nil {
			return 0
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return 0
		}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := js.Stream(ictx, natsbus.StreamInbox)
		if err != nil {
			return 0
		}
		info, err := s.Info(ictx)
		if err != nil || info.Cluster == nil {
			return 0
		}
		return max(st.cluster.Node(info.Cluster.Leader), 0)
	}
	if !sleep(ctx, cfg.Load*30/100) {
		return
	}
	n := leader()
	if err := st.cluster.Kill(n); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
	}
	st.killed("nats")
	kills.Add(1)
	fmt.Fprintf(cfg.Progress, "chaos: NATS node %d (the inbox's leader) killed\n", n)
	time.Sleep(1500 * time.Millisecond)
	if err := st.cluster.Restart(n); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
	}
	if !sleep(ctx, cfg.Load*30/100) {
		return
	}
	if err := st.cluster.Wait(ctx, time.Minute); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: before the partition: %v\n", err)
	}
	n = leader()
	pctx := context.WithoutCancel(ctx)
	if err := st.cluster.Partition(pctx, n); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
		return
	}
	fmt.Fprintf(cfg.Progress, "chaos: NATS node %d (the inbox's leader) partitioned\n", n)
	time.Sleep(5 * time.Second)
	if err := st.cluster.Heal(pctx, n); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
	}
	fmt.Fprintf(cfg.Progress, "chaos: NATS node %d healed\n", n)
}
