package compose_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"

	"github.com/epayflow/epayflow/deploy/compose"
	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/worker"
)

var update = flag.Bool("update", false, "rewrite nats/auth.conf from internal/natsbus's roles")

const (
	composeFile = "compose.yaml"
	envExample  = ".env.example"
	secretsDir  = "/run/secrets/"
	binDir      = "/usr/local/bin/"
)

// services are the epayflow services of the compose file, each with its NATS role.
var services = map[string]natsbus.Role{
	"ingest": natsbus.RoleIngest, "initiator": natsbus.RoleInitiator, "worker": natsbus.RoleWorker,
}

// natsServers are the NATS services; natsExporters their prometheus-nats-exporters.
var (
	natsServers   = []string{"nats-1", "nats-2", "nats-3"}
	natsExporters = map[string]string{"nats-exporter-1": "nats-1", "nats-exporter-2": "nats-2", "nats-exporter-3": "nats-3"}
)

// readOutsideFlags are variables a service reads that are no flag's (so not in its
// FlagEnvNames), with the file that reads each: the test checks it still does.
var readOutsideFlags = map[string]map[string]string{
	"worker": {
		"DLQ_NATS_USER": "../../internal/dlq/cmd.go", "DLQ_NATS_PASSWORD_FILE": "../../internal/dlq/cmd.go",
	},
}

// authConf is nats/auth.conf as natsbus's roles say it must be.
func authConf() string {
	var b strings.Builder
	b.WriteString(`# Who may connect to NATS and what each may do: a user per epayflow role, each allowed
# exactly its subjects (internal/natsbus/roles.go, where every grant is explained);
# anything else is a permissions violation, and a client without a user is refused.
# Generated: go test ./deploy/compose -run TestNATSAuthConf -update
# The passwords are variables of users.conf, the secret file nats-users.conf written by
# go run ./deploy/compose/gen and mounted beside this file.
include "users.conf"

`)
	b.WriteString(natsbus.AuthorizationConf(func(r natsbus.Role) string { return "$" + r.PasswordVar() }))
	return b.String()
}

func TestNATSAuthConfIsNatsbusRoles(t *testing.T) {
	const file = "nats/auth.conf"
	want := authConf()
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from natsbus's roles: go test ./deploy/compose -run TestNATSAuthConf -update", file)
	}
}

// stack is the compose file loaded the way docker compose loads it, with secrets
// generated into a temporary directory.
type stack struct {
	p       *types.Project
	secrets string            // a directory of generated secret files
	values  map[string]string // their content, by file name
}

// load loads compose.yaml with .env.example and then env (compose-go, the loader of
// docker compose itself: schema, interpolation, merge keys), and generates the secrets
// with genEnv.
func load(t *testing.T, env, genEnv map[string]string) *stack {
	t.Helper()
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	o, err := cli.NewProjectOptions([]string{composeFile}, cli.WithWorkingDirectory("."),
		cli.WithEnvFiles(envExample), cli.WithDotEnv, cli.WithEnv(kv))
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml with %s: %v", envExample, err)
	}
	s := &stack{p: p, secrets: filepath.Join(t.TempDir(), "secrets"), values: map[string]string{}}
	var log bytes.Buffer
	if err := compose.Generate(s.secrets, func(k string) string { return genEnv[k] }, &log); err != nil {
		t.Fatal(err)
	}
	for _, sec := range compose.Secrets() {
		b, err := os.ReadFile(filepath.Join(s.secrets, sec.File))
		if err != nil {
			t.Fatal(err)
		}
		s.values[sec.File] = strings.TrimSuffix(string(b), "\n")
	}
	return s
}

func (s *stack) service(t *testing.T, name string) types.ServiceConfig {
	t.Helper()
	svc, ok := s.p.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %s", name)
	}
	return svc
}

// env is a service's environment as its process sees it, a secret's X_FILE pointing at
// the generated file the compose file mounts there.
func (s *stack) env(t *testing.T, svc types.ServiceConfig) func(string) string {
	t.Helper()
	mounted := map[string]string{} // target -> secret file name
	for _, ref := range svc.Secrets {
		mounted[secretTarget(ref)] = filepath.Base(s.p.Secrets[ref.Source].File)
	}
	vars := map[string]string{}
	for k, v := range svc.Environment {
		if v == nil {
			continue
		}
		vars[k] = *v
		if strings.HasSuffix(k, "_FILE") {
			file, ok := mounted[*v]
			if !ok {
				t.Errorf("%s: %s=%s is no secret mounted in the service", svc.Name, k, *v)
				continue
			}
			vars[k] = filepath.Join(s.secrets, file)
		}
	}
	return func(k string) string { return vars[k] }
}

func secretTarget(ref types.ServiceSecretConfig) string {
	if ref.Target == "" {
		return secretsDir + ref.Source
	}
	if !strings.HasPrefix(ref.Target, "/") {
		return secretsDir + ref.Target
	}
	return ref.Target
}

// parsed is what a service's own ParseFlags makes of its compose environment.
type parsed struct {
	addr, metricsAddr string
	nats              natsbus.Auth
	natsURL           string
	streams           natsbus.StreamsConfig
}

func (s *stack) parse(t *testing.T, name string) parsed {
	t.Helper()
	getenv := s.env(t, s.service(t, name))
	switch name {
	case "ingest":
		c, err := ingest.ParseFlags(name, nil, getenv)
		if err != nil {
			t.Fatalf("ingest refuses its compose environment: %v", err)
		}
		return parsed{c.Addr, c.MetricsAddr, c.NATS, c.NATSURL, c.Streams}
	case "initiator":
		c, err := initiator.ParseFlags(name, nil, getenv)
		if err != nil {
			t.Fatalf("initiator refuses its compose environment: %v", err)
		}
		return parsed{c.Addr, c.MetricsAddr, c.NATS, c.NATSURL, c.Streams}
	case "worker":
		c, err := worker.ParseFlags(name, nil, getenv)
		if err != nil {
			t.Fatalf("worker refuses its compose environment: %v", err)
		}
		return parsed{c.Addr, c.MetricsAddr, c.NATS, c.NATSURL, c.Streams}
	}
	t.Fatalf("no parser for %s", name)
	return parsed{}
}

func flagEnvNames(name string) map[string]string {
	switch name {
	case "ingest":
		return ingest.FlagEnvNames()
	case "initiator":
		return initiator.FlagEnvNames()
	case "worker":
		return worker.FlagEnvNames()
	}
	return nil
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n == 0 {
		t.Fatalf("listen address %q: want a fixed port", addr)
	}
	return n
}

// TestServicesConfigurationIsTheCodes: each service's variables are ones its code reads
// (flags' variables, as X or X_FILE), its configuration parses and validates with its own
// ParseFlags, and its secrets are files, never values in the environment.
func TestServicesConfigurationIsTheCodes(t *testing.T) {
	for _, envName := range []string{"test", "prod"} {
		t.Run(envName, func(t *testing.T) {
			env := map[string]string{"EPAY_ENV": envName}
			gen := map[string]string{}
			if envName == "prod" {
				env["INITIATOR_PUBLIC_URL"] = "https://pay.shop.example"
				gen["EPAY_CLIENT_ID"], gen["EPAY_TERMINAL"] = "shop-client", "00000000-1111-2222-3333-444444444444"
				gen["EPAY_CLIENT_SECRET"] = randomSecret(t)
			}
			s := load(t, env, gen)
			for name := range services {
				svc := s.service(t, name)
				names := map[string]bool{}
				for _, v := range flagEnvNames(name) {
					names[v] = true
				}
				for k := range svc.Environment {
					base := strings.TrimSuffix(k, "_FILE")
					if names[k] || names[base] {
						continue
					}
					if file, ok := readOutsideFlags[name][k]; ok {
						if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), strings.TrimSuffix(strings.TrimPrefix(k, "DLQ_"), "_FILE")) {
							t.Errorf("%s: %s is said to be read by %s, which does not name it", name, k, file)
						}
						continue
					}
					t.Errorf("%s: variable %s is not one the service reads (not in its FlagEnvNames)", name, k)
				}
				for k, v := range svc.Environment {
					if secretName.MatchString(k) {
						t.Errorf("%s: secret %s in the environment: give it as %s_FILE, a mounted secret", name, k, k)
					}
					if strings.HasSuffix(k, "_FILE") && (v == nil || !strings.HasPrefix(*v, "/")) {
						t.Errorf("%s: %s is not an absolute path", name, k)
					}
				}
				// Every secret mounted is read.
				read := map[string]bool{}
				for k, v := range svc.Environment {
					if strings.HasSuffix(k, "_FILE") && v != nil {
						read[*v] = true
					}
				}
				for _, ref := range svc.Secrets {
					if !read[secretTarget(ref)] {
						t.Errorf("%s: secret %s is mounted but no _FILE variable reads it", name, ref.Source)
					}
				}
				p := s.parse(t, name)
				if p.nats.User != string(services[name]) {
					t.Errorf("%s: NATS_USER %q, want its role %q", name, p.nats.User, services[name])
				}
				if want := s.values[compose.NATSPasswordFile(services[name])]; p.nats.Password != want {
					t.Errorf("%s: its NATS password is not the secret %s", name, compose.NATSPasswordFile(services[name]))
				}
				if p.streams.Replicas != len(natsServers) {
					t.Errorf("%s: stream replicas %d, want %d (one per NATS server)", name, p.streams.Replicas, len(natsServers))
				}
			}
			// worker dlq connects as the dlq user.
			w := s.env(t, s.service(t, "worker"))
			if w("DLQ_NATS_USER") != string(natsbus.RoleDLQ) {
				t.Errorf("worker: DLQ_NATS_USER %q, want %q", w("DLQ_NATS_USER"), natsbus.RoleDLQ)
			}
			if b, err := os.ReadFile(w("DLQ_NATS_PASSWORD_FILE")); err != nil || strings.TrimSpace(string(b)) != s.values[compose.NATSPasswordFile(natsbus.RoleDLQ)] {
				t.Errorf("worker: DLQ_NATS_PASSWORD_FILE is not the dlq user's password (%v)", err)
			}
			// and makes the streams as the streams user (its own user may not).
			if wc, err := worker.ParseFlags("worker", nil, w); err != nil {
				t.Errorf("worker: %v", err)
			} else if wc.StreamsNATS.User != string(natsbus.RoleStreams) || wc.StreamsNATS.Password != s.values[compose.NATSPasswordFile(natsbus.RoleStreams)] {
				t.Errorf("worker: its streams identity is %s, want the user streams with the secret %s", wc.StreamsNATS, compose.NATSPasswordFile(natsbus.RoleStreams))
			}
		})
	}
}

// secretName: a variable holding a secret (the same rule as the repository's secret scan).
var secretName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*_(KEY|KEYS|SECRET|PASSWORD)$|^EPAY_CLIENT_ID$|^EPAY_TERMINAL$`)

// TestSecretsAreTheGeneratorsFiles: the compose file's secrets are files of the secrets
// directory that Generate writes, and nothing else.
func TestSecretsAreTheGeneratorsFiles(t *testing.T) {
	s := load(t, nil, nil)
	files := map[string]bool{}
	for _, sec := range compose.Secrets() {
		files[sec.File] = true
	}
	for name, sec := range s.p.Secrets {
		rel, err := filepath.Rel(filepath.Join(s.p.WorkingDir, "secrets"), sec.File)
		if err != nil || !files[rel] {
			t.Errorf("secret %s: file %s is not one go run ./deploy/compose/gen writes", name, sec.File)
		}
	}
	b, err := os.ReadFile(".gitignore")
	if err != nil || !strings.Contains(string(b), "/secrets/") || !strings.Contains(string(b), "/.env") {
		t.Errorf(".gitignore must keep secrets/ and .env out of git (%v)", err)
	}
	di, err := os.ReadFile("../../.dockerignore")
	if err != nil || !regexp.MustCompile(`(?m)^deploy$`).Match(di) {
		t.Errorf(".dockerignore must keep deploy/ (and its secrets) out of the image's build context (%v)", err)
	}
}

// TestPortsHealthChecksAndImage: each service runs its binary of the image, publishes its
// listen address's port (and not its metrics port), and has a health check on /readyz
// of that port; it starts once the NATS servers are healthy.
func TestPortsHealthChecksAndImage(t *testing.T) {
	s := load(t, nil, nil)
	built := dockerfileBinaries(t)
	for name := range services {
		svc := s.service(t, name)
		p := s.parse(t, name)
		if want := []string{binDir + name}; !slices.Equal(svc.Entrypoint, want) || len(svc.Command) > 0 {
			t.Errorf("%s: entrypoint %q command %q, want entrypoint %q", name, svc.Entrypoint, svc.Command, want)
		}
		if !built[name] {
			t.Errorf("%s: the Dockerfile does not put %s%s in the image", name, binDir, name)
		}
		if svc.Image != "epayflow:dev" || svc.Build == nil || filepath.Clean(svc.Build.Context) != filepath.Clean(filepath.Join(s.p.WorkingDir, "../..")) {
			t.Errorf("%s: image %q built from %v, want epayflow:dev from the repository's Dockerfile", name, svc.Image, svc.Build)
		}
		if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
			t.Errorf("%s: want a read-only root filesystem and every capability dropped", name)
		}
		addrPort := port(t, p.addr)
		if len(svc.Ports) != 1 || svc.Ports[0].Target != uint32(addrPort) {
			t.Errorf("%s: ports %+v, want exactly its listen port %d (%s)", name, svc.Ports, addrPort, p.addr)
		}
		for _, sp := range svc.Ports {
			if sp.HostIP != "127.0.0.1" {
				t.Errorf("%s: published on %q by default, want 127.0.0.1 (.env says otherwise where needed)", name, sp.HostIP)
			}
		}
		if p.metricsAddr == "" {
			t.Errorf("%s: no metrics listener of its own: set its *_METRICS_ADDR", name)
		} else if port(t, p.metricsAddr) == addrPort {
			t.Errorf("%s: metrics on the service's port %d", name, addrPort)
		}
		hc := svc.HealthCheck
		want := []string{"CMD", binDir + "healthcheck", fmt.Sprintf("http://127.0.0.1:%d/readyz", addrPort)}
		if hc == nil || !slices.Equal(hc.Test, want) || hc.Disable {
			t.Errorf("%s: health check %v, want %q", name, healthTest(hc), want)
		}
		if !built["healthcheck"] {
			t.Error("the Dockerfile does not put healthcheck in the image")
		}
		for _, n := range natsServers {
			if d, ok := svc.DependsOn[n]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: does not wait for %s to be healthy", name, n)
			}
		}
	}
	// The worker's bbolt file is on a volume.
	w := s.service(t, "worker")
	db := s.env(t, w)("WORKER_DB")
	if !slices.ContainsFunc(w.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == path.Dir(db)
	}) {
		t.Errorf("worker: WORKER_DB %s is not on a named volume", db)
	}
	// The initiator reaches the worker's read API at its listen port.
	wp := s.parse(t, "worker")
	if got, want := s.env(t, s.service(t, "initiator"))("WORKER_URL"), fmt.Sprintf("http://worker:%d", port(t, wp.addr)); got != want {
		t.Errorf("initiator: WORKER_URL %q, want %q", got, want)
	}
}

// dockerfileBinaries are the commands the Dockerfile builds and copies to /usr/local/bin.
func dockerfileBinaries(t *testing.T) map[string]bool {
	t.Helper()
	built, err := contracttest.ImageBinaries("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return built
}

// prometheusConfig is the part of prometheus.yml the test reads.
type prometheusConfig struct {
	RuleFiles     []string `json:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `json:"targets"`
			Labels  map[string]string `json:"labels"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

// TestPrometheusScrapesEveryMetricsListener: a job per service scraping its metrics
// listener, a job for the NATS exporters, with the job names and labels the alert rules
// and the dashboard use; the rules file is loaded.
func TestPrometheusScrapesEveryMetricsListener(t *testing.T) {
	s := load(t, nil, nil)
	prom := s.service(t, "prometheus")
	configPath := flagValue(prom.Command, "--config.file")
	source := mountSource(t, prom, configPath)
	var pc prometheusConfig
	b, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &pc); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	targets := map[string][]string{} // job -> targets
	for _, sc := range pc.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q, the services serve /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			if st.Labels["namespace"] == "" || st.Labels["pod"] == "" {
				t.Errorf("job %s: targets %v lack the namespace and pod labels the rules and dashboard group by", sc.JobName, st.Targets)
			}
			targets[sc.JobName] = append(targets[sc.JobName], st.Targets...)
		}
	}
	for name := range services {
		p := s.parse(t, name)
		want := fmt.Sprintf("%s:%d", name, port(t, p.metricsAddr))
		if !slices.Equal(targets[name], []string{want}) {
			t.Errorf("job %s: targets %v, want [%s] (its metrics listener %s)", name, targets[name], want, p.metricsAddr)
		}
	}
	var exporters []string
	for exp, server := range natsExporters {
		svc := s.service(t, exp)
		if want := fmt.Sprintf("http://%s:%d", server, natsMonitorPort(t, s, server)); !slices.Contains(svc.Command, want) {
			t.Errorf("%s: command %q does not read %s", exp, svc.Command, want)
		}
		exporters = append(exporters, exp+":"+flagValue(svc.Command, "-port"))
	}
	sort.Strings(exporters)
	got := slices.Clone(targets["nats-headless"])
	sort.Strings(got)
	if !slices.Equal(got, exporters) {
		t.Errorf("job nats-headless: targets %v, want the exporters %v", got, exporters)
	}
	// The job names the rules and the dashboard select are jobs here, but for the services
	// only deploy/k8s runs (the webhooks service: its ServiceMonitor's job, the Service's name).
	k8sOnly := map[string]bool{"webhooks": true}
	for _, f := range []string{"../observability/prometheus-rules.yml", "../observability/grafana-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`job=~?\\?"([^"\\]+)\\?"`).FindAllStringSubmatch(string(b), -1) {
			for _, job := range strings.Split(m[1], "|") {
				if strings.HasPrefix(job, "$") {
					continue // the dashboard's job variable: its values come from the series
				}
				if _, ok := targets[job]; !ok && !k8sOnly[job] {
					t.Errorf("%s selects job %q, which prometheus.yml does not have", f, job)
				}
			}
		}
	}
	// The rules file is mounted where rule_files finds it.
	rules := mountTarget(t, prom, filepath.Join(s.p.WorkingDir, "../observability/prometheus-rules.yml"))
	if !slices.ContainsFunc(pc.RuleFiles, func(glob string) bool { ok, _ := path.Match(glob, rules); return ok }) {
		t.Errorf("prometheus-rules.yml is mounted at %s, which rule_files %v does not load", rules, pc.RuleFiles)
	}
}

// TestGrafanaProvisionsTheDashboard: the data source is the compose Prometheus and the
// dashboard provider reads the directory the dashboard is mounted in.
func TestGrafanaProvisionsTheDashboard(t *testing.T) {
	s := load(t, nil, nil)
	g := s.service(t, "grafana")
	prov := mountSource(t, g, "/etc/grafana/provisioning")
	var ds struct {
		Datasources []struct {
			Type, URL string
			IsDefault bool `json:"isDefault"`
		}
	}
	readYAML(t, filepath.Join(prov, "datasources", "prometheus.yaml"), &ds)
	promPort := 9090
	if a := flagValue(s.service(t, "prometheus").Command, "--web.listen-address"); a != "" {
		promPort = port(t, a)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !ds.Datasources[0].IsDefault ||
		ds.Datasources[0].URL != fmt.Sprintf("http://prometheus:%d", promPort) {
		t.Errorf("data sources %+v, want one default prometheus at http://prometheus:%d", ds.Datasources, promPort)
	}
	var dp struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(prov, "dashboards", "epayflow.yaml"), &dp)
	dash := mountTarget(t, g, filepath.Join(s.p.WorkingDir, "../observability/grafana-dashboard.json"))
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path != path.Dir(dash) {
		t.Errorf("dashboard providers %+v, want one file provider reading %s", dp.Providers, path.Dir(dash))
	}
	if pw := *g.Environment["GF_SECURITY_ADMIN_PASSWORD__FILE"]; pw != secretsDir+"grafana-admin-password" ||
		!slices.ContainsFunc(g.Secrets, func(r types.ServiceSecretConfig) bool { return secretTarget(r) == pw }) {
		t.Errorf("grafana: the admin password is not the mounted secret grafana-admin-password")
	}
}

// TestNATSClusterHoldsTheStreams: nats-server's own parser reads each server's
// configuration (with the generated users.conf): JetStream on, a cluster of the three
// with routes to each other, the services' NATS_URL naming them, one user per role with
// its secret's password and natsbus's permissions, and a file store that holds what the
// streams reserve.
func TestNATSClusterHoldsTheStreams(t *testing.T) {
	s := load(t, nil, nil)
	var reserve int64
	for name := range services {
		p := s.parse(t, name)
		reserve = max(reserve, p.streams.MaxBytes)
		var hosts []string
		for _, u := range strings.Split(p.natsURL, ",") {
			pu, err := url.Parse(u)
			if err != nil || pu.Scheme != "nats" {
				t.Fatalf("%s: NATS_URL %q", name, p.natsURL)
			}
			hosts = append(hosts, pu.Host)
		}
		var want []string
		for _, n := range natsServers {
			want = append(want, fmt.Sprintf("%s:%d", n, natsOptions(t, s, n).Port))
		}
		if !slices.Equal(hosts, want) {
			t.Errorf("%s: NATS_URL names %v, want every server %v", name, hosts, want)
		}
	}
	// Three streams of at most reserve bytes each on every server (R3), and the
	// initiator's idempotency bucket.
	reserve = 3*reserve + initiator.IdempotencyBucketBytes
	published := map[string]bool{}
	for _, n := range natsServers {
		o := natsOptions(t, s, n)
		if o.ServerName != n {
			t.Errorf("%s: server_name %q", n, o.ServerName)
		}
		if !o.JetStream || o.StoreDir == "" {
			t.Errorf("%s: JetStream off or without store_dir", n)
		}
		if o.JetStreamMaxStore < reserve {
			t.Errorf("%s: max_file_store %d bytes < %d the streams and buckets reserve: the cluster would refuse a stream (err_code=10047)", n, o.JetStreamMaxStore, reserve)
		}
		if !strings.HasPrefix(o.StoreDir, "/data") || !slices.ContainsFunc(s.service(t, n).Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == "/data"
		}) {
			t.Errorf("%s: store_dir %s is not on the server's volume at /data", n, o.StoreDir)
		}
		var routes []string
		for _, r := range o.Routes {
			routes = append(routes, r.Host)
		}
		var want []string
		for _, m := range natsServers {
			want = append(want, fmt.Sprintf("%s:%d", m, o.Cluster.Port))
		}
		if o.Cluster.Name == "" || !slices.Equal(routes, want) {
			t.Errorf("%s: cluster %q routes %v, want routes to every server %v", n, o.Cluster.Name, routes, want)
		}
		if o.NoAuthUser != "" || len(o.Users) != len(natsbus.Roles()) {
			t.Errorf("%s: %d users, no_auth_user %q: want one user per role and no anonymous client", n, len(o.Users), o.NoAuthUser)
		}
		for _, u := range o.Users {
			r := natsbus.Role(u.Username)
			if u.Password != s.values[compose.NATSPasswordFile(r)] {
				t.Errorf("%s: user %s's password is not its secret %s", n, r, compose.NATSPasswordFile(r))
			}
			if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil ||
				!(natsbus.Permissions{Publish: u.Permissions.Publish.Allow, PublishDeny: u.Permissions.Publish.Deny, Subscribe: u.Permissions.Subscribe.Allow}).Equal(r.Permissions()) {
				t.Errorf("%s: user %s's permissions are not natsbus's", n, r)
			}
		}
		svc := s.service(t, n)
		want = []string{"CMD", "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", o.HTTPPort)}
		if svc.HealthCheck == nil || !slices.Equal(svc.HealthCheck.Test, want) {
			t.Errorf("%s: health check %v, want %q", n, healthTest(svc.HealthCheck), want)
		}
		// The client port only, on 127.0.0.1 by default, each server on its own host port;
		// the servers advertise no compose name to those clients.
		if len(svc.Ports) != 1 || svc.Ports[0].Target != uint32(o.Port) || svc.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("%s: ports %+v, want its client port %d only, on 127.0.0.1", n, svc.Ports, o.Port)
		} else if published[svc.Ports[0].Published] {
			t.Errorf("%s: host port %s is another server's too", n, svc.Ports[0].Published)
		} else {
			published[svc.Ports[0].Published] = true
		}
		if !o.Cluster.NoAdvertise {
			t.Errorf("%s: the cluster advertises the compose names to clients outside it: set no_advertise", n)
		}
	}
}

// natsOptions reads server n's nats.conf with nats-server's parser, from a directory laid
// out as the container sees /etc/nats.
func natsOptions(t *testing.T, s *stack, n string) *server.Options {
	t.Helper()
	svc := s.service(t, n)
	dir := t.TempDir()
	for _, v := range svc.Volumes {
		if strings.HasPrefix(v.Target, "/etc/nats/") {
			copyFile(t, v.Source, filepath.Join(dir, strings.TrimPrefix(v.Target, "/etc/nats/")))
		}
	}
	for _, ref := range svc.Secrets {
		if target := secretTarget(ref); strings.HasPrefix(target, "/etc/nats/") {
			copyFile(t, filepath.Join(s.secrets, filepath.Base(s.p.Secrets[ref.Source].File)), filepath.Join(dir, strings.TrimPrefix(target, "/etc/nats/")))
		}
	}
	conf := flagValue(svc.Command, "--config")
	if !strings.HasPrefix(conf, "/etc/nats/") {
		t.Fatalf("%s: --config %q is not under /etc/nats", n, conf)
	}
	for k, v := range svc.Environment {
		t.Setenv(k, *v)
	}
	o, err := server.ProcessConfigFile(filepath.Join(dir, strings.TrimPrefix(conf, "/etc/nats/")))
	if err != nil {
		t.Fatalf("%s: nats-server refuses its configuration: %v", n, err)
	}
	return o
}

func natsMonitorPort(t *testing.T, s *stack, n string) int { return natsOptions(t, s, n).HTTPPort }

// TestDockerComposeConfig runs `docker compose config -q` on the file when the docker
// CLI and its compose plugin are installed (make test runs it then); compose-go, docker
// compose's own loader, has read it in the tests above either way.
func TestDockerComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: `docker compose config -q` not run (compose-go, its loader, validated the file in the other tests)")
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		t.Skipf("docker has no compose plugin (%s): `docker compose config -q` not run (compose-go, its loader, validated the file in the other tests)", first)
	}
	cmd := exec.Command("docker", "compose", "-f", composeFile, "--env-file", envExample, "config", "-q")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker compose config -q: %v\n%s", err, out)
	}
}

func healthTest(hc *types.HealthCheckConfig) []string {
	if hc == nil {
		return nil
	}
	return hc.Test
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// mountSource is the host path mounted at target in svc.
func mountSource(t *testing.T, svc types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range svc.Volumes {
		if v.Target == target && v.Type == types.VolumeTypeBind {
			if !v.ReadOnly {
				t.Errorf("%s: %s is mounted read-write, want :ro", svc.Name, target)
			}
			return v.Source
		}
	}
	t.Fatalf("%s: nothing mounted at %s", svc.Name, target)
	return ""
}

// mountTarget is where svc mounts the host path source.
func mountTarget(t *testing.T, svc types.ServiceConfig, source string) string {
	t.Helper()
	for _, v := range svc.Volumes {
		if filepath.Clean(v.Source) == filepath.Clean(source) {
			return v.Target
		}
	}
	t.Fatalf("%s: does not mount %s", svc.Name, source)
	return ""
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// randomSecret is a value no file of the repository holds (prod refuses those).
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
