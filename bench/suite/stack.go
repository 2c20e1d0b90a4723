package suite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/proctest"
)

// natsServer is a nats-server child process and the harness's connection to it.
type natsServer struct {
	*proctest.Proc
	url  string
	prof string // its pprof address when the suite profiles ("" otherwise)
	nc   *nats.Conn
	js   jetstream.JetStream
}

// startNATS starts a fresh nats-server with JetStream on a data directory of its own.
// Its file store keeps nats-server's default durability: written to the OS before the
// PubAck, fsynced every 2 minutes (sync_interval), as a single server is run in dev.
func (s *suite) startNATS(ctx context.Context, name string) (*natsServer, error) {
	port, err := proctest.FreePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.cfg.Dir, name)
	// The streams reserve their max bytes (16 GiB each by default); left to itself the
	// server allows 75% of the disk's free space, which refuses the third stream on a
	// disk with less than about 65 GB free (10047). As natsembed: bounded by the disk.
	conf := dir + ".conf"
	text := fmt.Appendf(nil, "jetstream {\n  store_dir: %q\n  max_file_store: %d\n}\n", dir, int64(1)<<40)
	var prof string
	if s.cfg.ProfileDir != "" { // nats-server's own pprof endpoint, for profileNATS
		pp, err := proctest.FreePort()
		if err != nil {
			return nil, err
		}
		prof = "127.0.0.1:" + strconv.Itoa(pp)
		text = fmt.Appendf(text, "prof_port: %d\n", pp)
	}
	if err := os.WriteFile(conf, text, 0o600); err != nil {
		return nil, err
	}
	p, err := start(name, s.bins[proctest.NATSServer], []string{"-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}, nil, dir+".log")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := p.WaitTCP(ctx, addr, 20*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	nc, err := nats.Connect("nats://"+addr, nats.Name("loadgen"))
	if err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	js, _ := jetstream.New(nc)
	ns := &natsServer{Proc: p, url: "nats://" + addr, prof: prof, nc: nc, js: js}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return ns, nil
		}
		if time.Now().After(deadline) {
			ns.stop()
			return nil, fmt.Errorf("%s: JetStream not ready: %w", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// profile writes a CPU profile of the next d of nats-server into the profile
// directory as name.pprof, in the background; the returned wait returns when it is
// written. Without -profile it does nothing.
func (n *natsServer) profile(dir, name string, d time.Duration) (wait func()) {
	if n.prof == "" || dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &http.Client{Timeout: d + 10*time.Second}
		res, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", n.prof, max(1, int(d.Seconds()))))
		if err != nil {
			return
		}
		defer res.Body.Close()
		f, err := os.Create(filepath.Join(dir, name+".pprof"))
		if err != nil {
			return
		}
		defer f.Close()
		io.Copy(f, res.Body)
	}()
	return func() { <-done }
}

func (n *natsServer) stop() {
	n.nc.Close()
	n.Stop(10 * time.Second)
}

// startService starts a service binary on a free port with env (plus addrVar set to
// the port) and waits until its /readyz answers 200 (wait false: until /livez does).
func (s *suite) startService(ctx context.Context, name, bin, addrVar string, env []string, ready bool) (*proctest.Proc, string, error) {
	if s.cfg.ProfileDir != "" {
		return s.startServiceArgs(ctx, name, filepath.Base(bin), addrVar, env, ready)
	}
	return s.startProc(ctx, name, bin, nil, addrVar, env, ready)
}

// startServiceArgs starts service (ingest or worker) through this executable's
// serve-profiled with flags, profiled when the suite profiles.
func (s *suite) startServiceArgs(ctx context.Context, name, service, addrVar string, env []string, ready bool, flags ...string) (*proctest.Proc, string, error) {
	args := append([]string{"serve-profiled"}, flags...)
	if s.cfg.ProfileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(s.cfg.ProfileDir, name+".pprof"))
	}
	return s.startProc(ctx, name, s.cfg.Self, append(args, service), addrVar, env, ready)
}

// startProc starts bin with args and env (plus addrVar set to a free port) and waits as
// startService does.
func (s *suite) startProc(ctx context.Context, name, bin string, args []string, addrVar string, env []string, ready bool) (*proctest.Proc, string, error) {
	port, err := proctest.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env = append(env, addrVar+"="+addr, "LOG_FORMAT=json", "LOG_LEVEL=info")
	p, err := start(name, bin, args, env, filepath.Join(s.cfg.Dir, name+".log"))
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	probe := "/livez"
	if ready {
		probe = "/readyz"
	}
	if err := p.WaitHTTP(ctx, url+probe, 30*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, url, nil
}

func (s *suite) startIngest(ctx context.Context, name, natsURL string) (*proctest.Proc, string, error) {
	return s.startService(ctx, name, s.bins["ingest"], "INGEST_ADDR", []string{"NATS_URL=" + natsURL, "EPAY_SECRET_KEYS=" + keySpec}, true)
}

func (s *suite) startWorker(ctx context.Context, name, natsURL, db string) (*proctest.Proc, string, error) {
	return s.startWorkerWith(ctx, name, natsURL, db, false)
}

// startWorkerWith is startWorker, without the changelog when noChangelog (through this
// executable's serve-profiled, the worker's code with Config.WithoutChangelog).
func (s *suite) startWorkerWith(ctx context.Context, name, natsURL, db string, noChangelog bool) (*proctest.Proc, string, error) {
	env := []string{"NATS_URL=" + natsURL, "WORKER_DB=" + db, "EPAY_SECRET_KEYS=" + keySpec, "WORKER_STATUS_KEY=" + statusKey, "WORKER_EVENTS_KEY=" + eventsKey}
	if noChangelog {
		return s.startServiceArgs(ctx, name, "worker", "WORKER_ADDR", env, false, "-no-changelog")
	}
	return s.startService(ctx, name, s.bins["worker"], "WORKER_ADDR", env, false)
}

// startSelf starts this executable with args (a baseline server) and waits for base+"/".
func (s *suite) startSelf(ctx context.Context, name string, args ...string) (*proctest.Proc, string, error) {
	port, err := proctest.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := start(name, s.cfg.Self, append(args, "-addr", addr), nil, filepath.Join(s.cfg.Dir, name+".log"))
	if err != nil {
		return nil, "", err
	}
	if err := p.WaitTCP(ctx, addr, 20*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

// start starts bin with args and this process's environment plus env, its output
// in the file logPath.
func start(name, bin string, args, env []string, logPath string) (*proctest.Proc, error) {
	p := &proctest.Proc{Name: name, Path: bin, Args: args, Env: append(os.Environ(), env...), Log: logPath}
	return p, p.Start()
}

// metricsClient reads the services' metrics: one kept-alive connection, no gzip. The
// drains poll the worker's page every 20 ms; with a connection and a gzipped page each
// time the polling took about 9% of the worker's CPU in a drain's profile (promhttp's
// compress/flate), which the measured worker paid and its baseline did not.
var metricsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}

// metrics reads a Prometheus text page into sample -> value ("name{labels}" keys).
func metrics(url string) (map[string]float64, error) {
	res, err := metricsClient.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// sum adds the samples of metric name whose labels contain every one of labels.
func sum(m map[string]float64, name string, labels ...string) float64 {
	var t float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			t += v
		}
	}
	return t
}

// workerProgress is how many inbox messages the worker has handled and how many
// payment events wait in its outbox.
func workerProgress(url string) (handled, backlog float64, err error) {
	m, err := metrics(url)
	if err != nil {
		return 0, 0, err
	}
	handled = sum(m, "epayflow_worker_messages_total", `outcome="applied"`) +
		sum(m, "epayflow_worker_messages_total", `outcome="duplicate"`) +
		sum(m, "epayflow_worker_messages_total", `outcome="poisoned"`) +
		sum(m, "epayflow_worker_messages_total", `outcome="over_limit"`)
	return handled, sum(m, "epayflow_worker_outbox_backlog"), nil
}
