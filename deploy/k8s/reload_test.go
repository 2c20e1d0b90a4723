package k8s_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
)

// TestTheNATSReloaderIsInEveryOverlay: nats-server reads its certificates and the users'
// passwords only when it starts or reloads, so each NATS pod runs reload.sh beside the
// server, watching every directory the server reads its files from, able to signal it
// (one process namespace, the server's user) while the exporter, a third party's image,
// runs as another user and can neither signal nor read the server's memory.
func TestTheNATSReloaderIsInEveryOverlay(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		pod, ok := podSpec(b, "nats")
		if !ok {
			t.Fatal("no NATS pod")
		}
		if pod.ShareProcessNamespace == nil || !*pod.ShareProcessNamespace {
			t.Error("shareProcessNamespace: want true, or the reloader cannot signal nats-server")
		}
		server, reloader := container(t, pod, "nats"), container(t, pod, "reloader")
		if reloader.Image != server.Image {
			t.Errorf("reloader image %s, want the server's %s (its nats-server --signal)", reloader.Image, server.Image)
		}
		args := append(slices.Clone(reloader.Command), reloader.Args...)
		if len(args) < 7 || args[0] != "/bin/sh" || args[1] != "/etc/nats/reload.sh" || args[2] != "/var/run/nats/nats.pid" {
			t.Fatalf("reloader command %q: want /bin/sh /etc/nats/reload.sh /var/run/nats/nats.pid VARZ SECONDS DIR...", args)
		}
		monitor := slices.IndexFunc(server.Ports, func(p corev1.ContainerPort) bool { return p.Name == "monitor" })
		if want := fmt.Sprintf("http://127.0.0.1:%d/varz", server.Ports[max(monitor, 0)].ContainerPort); monitor < 0 || args[3] != want {
			t.Errorf("reloader VARZ %q, want the server's monitoring port, %s", args[3], want)
		}
		if every, err := strconv.Atoi(args[4]); err != nil || every < 1 || every > 60 {
			t.Errorf("reloader interval %q: want 1 to 60 seconds", args[4])
		}
		watched := args[5:]
		mounts := func(c string) map[string]string {
			m := map[string]string{}
			for _, vm := range container(t, pod, c).VolumeMounts {
				m[vm.MountPath] = vm.Name
			}
			return m
		}
		serverMounts, reloaderMounts := mounts("nats"), mounts("reloader")
		for path, vol := range serverMounts {
			if path == "/data" {
				continue
			}
			if reloaderMounts[path] != vol {
				t.Errorf("the server reads %s (volume %s); the reloader must mount it there too", path, vol)
			}
			if path != "/var/run/nats" && !slices.ContainsFunc(watched, func(w string) bool { return path == w || strings.HasPrefix(path, w+"/") }) {
				t.Errorf("the server reads %s, which the reloader does not watch (%q)", path, watched)
			}
		}
		uid := func(c string) int64 {
			if sc := container(t, pod, c).SecurityContext; sc != nil && sc.RunAsUser != nil {
				return *sc.RunAsUser
			}
			if pod.SecurityContext != nil && pod.SecurityContext.RunAsUser != nil {
				return *pod.SecurityContext.RunAsUser
			}
			return 0
		}
		if uid("reloader") != uid("nats") {
			t.Errorf("reloader runs as %d, the server as %d: it could not signal it", uid("reloader"), uid("nats"))
		}
		if uid("exporter") == uid("nats") {
			t.Errorf("the exporter runs as the server's user %d: with one process namespace it could signal the server and read its memory", uid("nats"))
		}
		if _, ok := configMap(t, b, "nats-config").Data["reload.sh"]; !ok {
			t.Error("nats-config has no reload.sh")
		}
	})
}

// TestTheReloaderMakesNATSShowARenewedCertificate runs the prod overlay's reload.sh
// for real, with busybox's applets (the image's sh, find, xargs and md5sum) when the
// machine has busybox, beside a nats-server process whose certificate is a Secret volume
// written the way the kubelet writes one (timestamped directories and a ..data link).
// Renewed without the reloader, the server goes on showing the old certificate; with it,
// the renewed one within seconds: what EpayflowNATSCertificateExpiring would otherwise
// page about a week before every client's connection fails.
func TestTheReloaderMakesNATSShowARenewedCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	b := mustBuild(t, "prod")
	script := configMap(t, b, "nats-config").Data["reload.sh"]
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bins, err := (proctest.Builder{Dir: filepath.Join(root, "bin")}).Build(ctx, proctest.NATSServer)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Dir(bins[proctest.NATSServer])
	shell := []string{"/bin/sh"}
	if bb, err := exec.LookPath("busybox"); err == nil {
		applets := filepath.Join(root, "busybox")
		if err := os.MkdirAll(applets, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"sh", "find", "sort", "xargs", "cat", "md5sum", "sleep", "wget", "sed", "date", "stat", "tail"} {
			if err := os.Symlink(bb, filepath.Join(applets, a)); err != nil {
				t.Fatal(err)
			}
		}
		path, shell = applets+":"+path, []string{filepath.Join(applets, "sh")}
	} else {
		t.Log("no busybox here: the script runs with /bin/sh and this machine's tools")
	}

	ca := newTestCA(t)
	etc, tlsDir, run := filepath.Join(root, "etc/nats"), filepath.Join(root, "etc/nats-tls"), filepath.Join(root, "run")
	client := filepath.Join(tlsDir, "client")
	for _, d := range []string{etc, client, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	monitor, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	renew := func(days int) time.Time {
		notAfter := time.Now().Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Second)
		crt, key := ca.issueUntil(t, notAfter, "127.0.0.1")
		writeVolume(t, client, map[string]string{"tls.crt": string(crt), "tls.key": string(key), "ca.crt": string(ca.pem)})
		return notAfter
	}
	first := renew(10)
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\npid_file: %q\ntls {\n  cert_file: %q\n  key_file: %q\n  timeout: 2\n}\n",
		port, monitor, filepath.Join(run, "nats.pid"), filepath.Join(client, "tls.crt"), filepath.Join(client, "tls.key"))
	writeVolume(t, etc, map[string]string{"nats.conf": conf, "reload.sh": script})
	server := &proctest.Proc{Name: "nats-server", Path: bins[proctest.NATSServer], Args: []string{"-c", filepath.Join(etc, "nats.conf")},
		Log: filepath.Join(root, "nats.log")}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Stop(5 * time.Second) })
	if err := server.WaitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	caFile := filepath.Join(client, "ca.crt")
	shown := func() time.Time { return servedCertificate(t, url, caFile) }
	if got := shown(); !got.Equal(first) {
		t.Fatalf("the server shows a certificate valid until %s, want %s", got, first)
	}
	// A service's connection, which lives through the reloads, and its metric.
	svc, err := nats.Connect(url, nats.RootCAs(caFile), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svcExpiry := natsbus.NewTLSExpiry(svc, 0)

	time.Sleep(1100 * time.Millisecond) // files' times are in seconds: the renewal a second after the load
	renewed := renew(40)
	time.Sleep(2 * time.Second)
	if got := shown(); !got.Equal(first) {
		t.Fatalf("without the reloader the server shows %s, want the old %s: nats-server reloads by itself now, and the reloader may be unneeded", got, first)
	}

	// The reloader as the pod runs it: its own command, the paths under root, 1 s.
	pod, _ := podSpec(b, "nats")
	c := container(t, pod, "reloader")
	args := append(slices.Clone(c.Command[1:]), c.Args...)
	here := map[string]string{"/etc/nats/reload.sh": filepath.Join(etc, "reload.sh"), "/var/run/nats/nats.pid": filepath.Join(run, "nats.pid"),
		"/etc/nats": etc, "/etc/nats-tls": tlsDir, "http://127.0.0.1:8222/varz": fmt.Sprintf("http://127.0.0.1:%d/varz", monitor)}
	for i, a := range args {
		if strings.HasPrefix(a, "/") || strings.HasPrefix(a, "http") {
			if args[i] = here[a]; args[i] == "" {
				t.Fatalf("the reloader's argument %s: the test does not know where it is", a)
			}
		}
	}
	args[3] = "1"
	reloader := &proctest.Proc{Name: "reloader", Path: shell[0], Args: args, Env: []string{"PATH=" + path}, Log: filepath.Join(root, "reloader.log")}
	if err := reloader.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reloader.Kill(5 * time.Second) })
	// The renewal came while no reloader watched (its container restarting, say): the
	// reloader finds the files newer than what the server loaded, and loads them.
	waitShown := func(want time.Time, what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for got := shown(); !got.Equal(want); got = shown() {
			if time.Now().After(deadline) || reloader.Exited() {
				t.Fatalf("%s: after 15 s the server shows the certificate valid until %s, want %s\nreloader: %s\nnats-server: %s",
					what, got, want, reloader.Output(), server.Output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitShown(renewed, "a renewal made before the reloader started")
	if !said(reloader, "changed after nats-server loaded them, before this reloader watched", 1) || !said(reloader, "nats-server reloaded them (config_load_time", 1) {
		t.Errorf("the reloader's log does not say it found the earlier change and the server reloaded:\n%s", reloader.Output())
	}
	// Started again with nothing changed since the server loaded the files: no reload.
	if err := reloader.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := reloader.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if n := strings.Count(reloader.Output(), "nats-server reloaded them"); n != 1 {
		t.Fatalf("a reloader started again over files the server has loaded reloaded them (%d reloads in its log):\n%s", n, reloader.Output())
	}

	third := renew(70)
	waitShown(third, "a renewal while the reloader watches")
	if !said(reloader, "nats-server reloaded them (config_load_time", 2) {
		t.Errorf("the reloader's log does not say the server reloaded:\n%s", reloader.Output())
	}
	// The service's own connection still holds the first certificate; what it exports,
	// the alert's figure, is what the server shows now.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := gatherServerExpiry(t, svcExpiry)
		if got.Equal(third) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a service connected since before the reload exports %s, want the renewed %s", got, third)
		}
	}
	if svc.Stats().Reconnects != 0 {
		t.Errorf("the service's connection was made again (%d reconnects): a reload must not break it", svc.Stats().Reconnects)
	}

	// A configuration the server refuses: the reloader says so, and tries again (with
	// the same files: it is refused again) until the files are mended.
	writeVolume(t, etc, map[string]string{"nats.conf": conf + "no_such_setting_of_nats: {\n", "reload.sh": script})
	if !said(reloader, "nats-server did not load them", 2) {
		t.Fatalf("a configuration the server refuses: the reloader did not say so twice within 30 s:\n%s", reloader.Output())
	}
	// Mended, the files are what the server runs on: nothing to reload, and the errors stop.
	writeVolume(t, etc, map[string]string{"nats.conf": conf, "reload.sh": script})
	time.Sleep(12 * time.Second) // a try under way ends (10 s)
	refused := strings.Count(reloader.Output(), "did not load them")
	time.Sleep(3 * time.Second)
	if again := strings.Count(reloader.Output(), "did not load them"); again != refused {
		t.Errorf("the configuration mended, the reloader still tries: %d refusals, then %d:\n%s", refused, again, reloader.Output())
	}
	if got := shown(); !got.Equal(third) {
		t.Errorf("after the refused and the mended configuration the server shows %s, want %s", got, third)
	}
}

// said waits at most 30 s for the reloader's log to hold what n times.
func said(reloader *proctest.Proc, what string, n int) bool {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !reloader.Exited(); time.Sleep(200 * time.Millisecond) {
		if strings.Count(reloader.Output(), what) >= n {
			return true
		}
	}
	return false
}

// servedCertificate connects to url as a new client, verifying the server against the
// CA in caFile, and returns when the certificate the server showed it expires.
func servedCertificate(t *testing.T, url, caFile string) time.Time {
	t.Helper()
	nc, err := nats.Connect(url, nats.RootCAs(caFile), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer nc.Close()
	st, err := nc.TLSConnectionState()
	if err != nil || len(st.PeerCertificates) == 0 {
		t.Fatalf("%s: no TLS certificate: %v", url, err)
	}
	return st.PeerCertificates[0].NotAfter
}

// gatherServerExpiry is the expiry of the server's certificate c exports (zero: none yet).
func gatherServerExpiry(t *testing.T, c prometheus.Collector) time.Time {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cert" && l.GetValue() == "server" {
					return time.Unix(int64(m.GetGauge().GetValue()), 0)
				}
			}
		}
	}
	return time.Time{} // none yet: the first probe answers in the background
}

// writeVolume writes files into dir the way the kubelet updates a Secret or ConfigMap
// volume: a new timestamped directory, the ..data link swapped to it at once, and each
// file a link through ..data.
func writeVolume(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	version, err := os.MkdirTemp(dir, "..version_")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(version, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
}
