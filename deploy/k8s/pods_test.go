package k8s_test

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/epayflow/epayflow/internal/proctest"
)

// How a rendered overlay runs on one machine without Kubernetes: each pod is a process
// of the container named after its workload (sidecars such as the NATS exporter only
// serve Prometheus and are not run), with the container's own command, arguments and
// environment, and its volumes written to files. The pod's init containers run first,
// each the same way, one after the other, each to its end, which must be exit status 0
// (a failing one fails the test: the kubelet would restart it for ever); the files of
// an init container's volumes that the main container does not mount are removed
// before it starts, as its filesystem never shows them. Run as root, each process runs as the
// container's runAsUser and runAsGroup with the pod's fsGroup, and its volumes' files
// have the modes and group the kubelet gives them (mount), so that a file the pod
// could not read fails here too. What Kubernetes gives and loopback cannot is
// rewritten, and only that:
//
//   - The pod's filesystem is a directory: a volume mounted at /m is the directory
//     <pod root>/m, holding what the volume holds (a Secret's keys from make-secrets.sh,
//     a ConfigMap's files, an emptyDir or a volume claim empty). Every absolute path in
//     the environment, the arguments and the ConfigMap files that lies under a mount is
//     prefixed with the pod root: the process reads the same bytes at the mapped path.
//     In nats.conf that is store_dir (/data/jetstream, the volume claim), pid_file
//     (/var/run/nats, an emptyDir) and the TLS files (/etc/nats-tls/..., the Secrets);
//     the files it includes are relative, beside it in the projected volume.
//   - The pod's network is loopback: each container port gets a free port on 127.0.0.1.
//     A listen address ":8081" or "0.0.0.0:4222" becomes 127.0.0.1:<that port>; one on a
//     port the container does not declare becomes 127.0.0.1:0, reached by nothing, as
//     in the cluster (the shared ConfigMap names every service's address). In nats.conf
//     that is listen (client), http (monitor) and the cluster's listen.
//   - Cluster DNS is a table built from the rendered Services: a Service name (svc,
//     svc.ns, svc.ns.svc, svc.ns.svc.cluster.local) at a Service port is every pod it
//     selects at the container port its targetPort names; a StatefulSet pod under its
//     headless Service (nats-0.nats-headless:6222, nats.conf's routes) is that pod at
//     that container port. A NATS URL of a Service becomes one URL per pod (a NATS client
//     takes the list and, like behind the Service, uses any of them); an HTTP URL the
//     first pod (the Service would pick any).
//   - The names in the TLS certificates cannot be checked on loopback: the test's
//     certificates carry the names docs/DEPLOY.md asks for and 127.0.0.1, where the test
//     maps them (clients and routes verify the certificate chain as in the cluster).
//   - ePay's hosts (those of the EPAY_*_URL settings) are the test's ePay sandbox, over
//     HTTPS with a test CA; the processes trust it through SSL_CERT_FILE, where a real
//     image's CA bundle holds the public CA of ePay's certificates.
//   - The downward API's metadata.name is the pod name: <workload>-<ordinal>, for a
//     Deployment's replicas too; status.podIP of a StatefulSet's pod is its name under
//     its headless Service (which resolves to exactly that pod), and $(VAR) in a value is
//     expanded from the variables defined before it, as the kubelet does.
//
// Anything else the manifests use and this does not know (a subPath, $(VAR) of a
// variable not defined before it, an envFrom Secret, another fieldRef) fails the test rather than being guessed. Not
// run: readOnlyRootFilesystem (a process could write outside its volumes unnoticed),
// resource limits, NetworkPolicies (network_test.go checks them), preStop hooks.

// pod is one replica of a workload, run as a process.
type pod struct {
	name     string
	workload string
	labels   map[string]string
	spec     corev1.PodSpec
	main     corev1.Container
	claims   map[string]bool  // the StatefulSet's volume claim templates
	root     string           // the pod's filesystem
	ports    map[int32]int    // container port -> port on 127.0.0.1
	named    map[string]int32 // port name -> container port
	headless string           // a StatefulSet's serviceName
	proc     *proctest.Proc
}

// addr is the loopback address of container port n.
func (p *pod) addr(n int32) string { return "127.0.0.1:" + strconv.Itoa(p.ports[n]) }

// portOf resolves a port given by name or number to a container port of the pod.
func (p *pod) portOf(port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.String {
		n, ok := p.named[port.StrVal]
		return n, ok
	}
	_, ok := p.ports[port.IntVal]
	return port.IntVal, ok
}

// hostPath maps an absolute path of the container to the pod root when it lies under a
// volume mount; other paths are returned as they are.
func (p *pod) hostPath(v string) string {
	for _, m := range p.main.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if v == mp || strings.HasPrefix(v, mp+"/") {
			return filepath.Join(p.root, v)
		}
	}
	return v
}

// cluster is an overlay's pods on loopback, its DNS, Secrets and ePay.
type cluster struct {
	t         *testing.T
	b         *build
	ns        string
	root      string
	bins      string                       // the built binaries, by the base name of a container's command
	secrets   map[string]map[string]string // Secret name -> key -> value
	pods      []*pod
	epayHosts map[string]bool // hosts of the EPAY_*_URL settings
	epayAddr  string          // the sandbox, standing in for those hosts
	asUser    bool            // run each process as its container's user (the test runs as root)
	setpriv   string
}

// newCluster makes a pod per replica of every workload and gives each container port a
// loopback port; nothing runs yet.
func newCluster(t *testing.T, b *build, bins string, secrets map[string]map[string]string) *cluster {
	t.Helper()
	c := &cluster{t: t, b: b, ns: b.namespaces[0].Name, root: t.TempDir(), bins: bins, secrets: secrets, epayHosts: map[string]bool{}}
	for _, w := range workloads(b) {
		p0 := &pod{workload: w.name, labels: w.pod.Labels, spec: w.pod.Spec, claims: map[string]bool{}}
		if s, ok := b.statefulSets[w.name]; ok && w.kind == "StatefulSet" {
			p0.headless = s.Spec.ServiceName
			for _, vc := range s.Spec.VolumeClaimTemplates {
				p0.claims[vc.Name] = true
			}
		}
		p0.main = container(t, w.pod.Spec, w.name)
		for i := range w.replicas {
			p := *p0
			p.name = fmt.Sprintf("%s-%d", w.name, i)
			p.root = filepath.Join(c.root, p.name)
			p.ports, p.named = map[int32]int{}, map[string]int32{}
			for _, ct := range w.pod.Spec.Containers { // the pod's network: every container's ports
				for _, cp := range ct.Ports {
					hp, err := proctest.FreePort()
					if err != nil {
						t.Fatal(err)
					}
					p.ports[cp.ContainerPort] = hp
					if cp.Name != "" {
						p.named[cp.Name] = cp.ContainerPort
					}
				}
			}
			c.pods = append(c.pods, &p)
		}
	}
	if sp, err := exec.LookPath("setpriv"); err == nil && os.Geteuid() == 0 {
		c.asUser, c.setpriv = true, sp
		// The pods' users must reach their files: the temporary directories are 0700.
		for _, d := range []string{c.root, filepath.Dir(c.root), bins, filepath.Dir(bins)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		t.Log("not root (or no setpriv): every process runs as the test's user, not as its container's")
	}
	cm := configMap(t, b, "epayflow-config").Data
	for _, k := range []string{"EPAY_TOKEN_URL", "EPAY_API_URL", "EPAY_PAYFORM_JS_URL"} {
		u, err := url.Parse(cm[k])
		if err != nil || u.Hostname() == "" {
			t.Fatalf("epayflow-config %s=%q: not a URL", k, cm[k])
		}
		c.epayHosts[u.Hostname()] = true
	}
	return c
}

// podsOf returns the pods of a workload.
func (c *cluster) podsOf(workload string) []*pod {
	var out []*pod
	for _, p := range c.pods {
		if p.workload == workload {
			out = append(out, p)
		}
	}
	return out
}

// resolve is cluster DNS and Service routing: the loopback addresses host:port reaches.
func (c *cluster) resolve(host string, port int32) ([]string, error) {
	h := strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local")
	h = strings.TrimSuffix(strings.TrimSuffix(h, ".svc"), "."+c.ns)
	if svc, ok := c.b.services[h]; ok {
		i := slices.IndexFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Port == port })
		if i < 0 {
			return nil, fmt.Errorf("Service %s has no port %d", h, port)
		}
		target := svc.Spec.Ports[i].TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(port)
		}
		var addrs []string
		for _, p := range c.pods {
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.labels)) {
				continue
			}
			if n, ok := p.portOf(target); ok {
				addrs = append(addrs, p.addr(n))
			}
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("Service %s port %d (target %s) selects no pod with that port", h, port, target.String())
		}
		return addrs, nil
	}
	if name, svc, ok := strings.Cut(h, "."); ok {
		for _, p := range c.pods {
			if p.name == name && p.headless == svc {
				if _, ok := p.ports[port]; !ok {
					return nil, fmt.Errorf("pod %s declares no port %d", name, port)
				}
				return []string{p.addr(port)}, nil
			}
		}
	}
	return nil, fmt.Errorf("no Service or pod %s in namespace %s", host, c.ns)
}

var listenAddr = regexp.MustCompile(`^(?:0\.0\.0\.0)?:(\d+)$`)

// rewrite maps one environment value or argument to this machine (see the comment at
// the top of this file); why says what was done, "" when nothing was.
func (c *cluster) rewrite(p *pod, v string) (string, string, error) {
	switch {
	case strings.HasPrefix(v, "/"):
		if h := p.hostPath(v); h != v {
			return h, "path under a volume mount", nil
		}
		return v, "", nil
	case listenAddr.MatchString(v):
		n, _ := strconv.ParseInt(listenAddr.FindStringSubmatch(v)[1], 10, 32)
		if _, ok := p.ports[int32(n)]; !ok {
			// The shared ConfigMap holds every service's address; a service that did listen
			// there would be reached by nothing, as in the cluster: its probes fail.
			return "127.0.0.1:0", "listen address on a port the container does not declare", nil
		}
		return p.addr(int32(n)), "listen address", nil
	case strings.Contains(v, "://"):
		return c.rewriteURLs(v)
	}
	return v, "", nil
}

// rewriteURLs maps each of comma-separated URLs: in-cluster hosts to their pods, ePay's
// hosts to the sandbox, others (the public URLs ePay and browsers use) unchanged.
func (c *cluster) rewriteURLs(v string) (string, string, error) {
	var out []string
	why := ""
	for _, part := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.Hostname() == "" {
			out = append(out, part)
			continue
		}
		if c.epayHosts[u.Hostname()] {
			u.Host, why = c.epayAddr, "ePay's host: the sandbox"
			out = append(out, u.String())
			continue
		}
		port := map[string]int32{"nats": 4222, "tls": 4222, "http": 80, "https": 443}[u.Scheme]
		if s := u.Port(); s != "" {
			n, _ := strconv.ParseInt(s, 10, 32)
			port = int32(n)
		}
		addrs, err := c.resolve(u.Hostname(), port)
		if err != nil {
			if !strings.Contains(u.Hostname(), ".") { // a bare name can only be in-cluster
				return "", "", err
			}
			out = append(out, part)
			continue
		}
		if u.Scheme != "nats" && u.Scheme != "tls" {
			addrs = addrs[:1]
		}
		why = "in-cluster address: its pods"
		for _, a := range addrs {
			u.Host = a
			out = append(out, u.String())
		}
	}
	return strings.Join(out, ","), why, nil
}

var (
	addrInText = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9.-]*):(\d{2,5})\b`)
	pathInText = regexp.MustCompile(`(^|[\s"'])(/[^\s"',]+)`)
)

// rewriteText maps a ConfigMap file (nats.conf and what it includes): the paths under
// the pod's mounts, its own listen addresses 0.0.0.0:N and the in-cluster host:port
// it names (the NATS routes) to this machine. An in-cluster name with more than one
// address (a Service) fails: a file names one peer per address.
func (c *cluster) rewriteText(p *pod, text string) (string, error) {
	var errs []string
	text = addrInText.ReplaceAllStringFunc(text, func(m string) string {
		sub := addrInText.FindStringSubmatch(m)
		n, _ := strconv.ParseInt(sub[2], 10, 32)
		if sub[1] == "0.0.0.0" {
			if _, ok := p.ports[int32(n)]; !ok {
				errs = append(errs, m+": a port the container does not declare")
				return m
			}
			return p.addr(int32(n))
		}
		addrs, err := c.resolve(sub[1], int32(n))
		switch {
		case err != nil:
			return m
		case len(addrs) != 1:
			errs = append(errs, m+" is a Service of several pods")
			return m
		}
		return addrs[0]
	})
	text = pathInText.ReplaceAllStringFunc(text, func(m string) string {
		sub := pathInText.FindStringSubmatch(m)
		return sub[1] + p.hostPath(sub[2])
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return text, nil
}

// env is the main container's environment as the kubelet would set it (envFrom first,
// then env, later names winning), rewritten for this machine; notes lists what changed.
func (c *cluster) env(p *pod) (env, notes []string) {
	t := c.t
	vars, order := map[string]string{}, []string(nil)
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, ef := range p.main.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom %+v: only ConfigMaps are run by this test", p.name, ef)
		}
		cm, ok := c.b.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("%s: envFrom ConfigMap %s is not in the overlay", p.name, ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			set(ef.Prefix+k, v)
		}
	}
	for _, e := range p.main.Env {
		set(e.Name, c.envValue(p, e, vars))
	}
	slices.Sort(order)
	for _, k := range order {
		v, why, err := c.rewrite(p, vars[k])
		if err != nil {
			t.Fatalf("%s: %s: %v", p.name, k, err)
		}
		if why != "" {
			notes = append(notes, fmt.Sprintf("%s=%s -> %s (%s)", k, vars[k], v, why))
		}
		env = append(env, k+"="+v)
	}
	return env, notes
}

// envRef is a $(VAR) reference in an env value, expanded by the kubelet from the
// variables defined before it.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func (c *cluster) envValue(p *pod, e corev1.EnvVar, defined map[string]string) string {
	t := c.t
	vf := e.ValueFrom
	switch {
	case vf == nil:
		v := envRef.ReplaceAllStringFunc(e.Value, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			val, ok := defined[name]
			if !ok {
				t.Fatalf("%s: %s=%q: $(%s) is not defined before it", p.name, e.Name, e.Value, name)
			}
			return val
		})
		if strings.Contains(v, "$(") {
			t.Fatalf("%s: %s=%q: a $( this test cannot expand", p.name, e.Name, e.Value)
		}
		return v
	case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.name":
		return p.name
	case vf.FieldRef != nil && vf.FieldRef.FieldPath == "status.podIP" && p.headless != "":
		// the pod's address: its name under its headless Service resolves to exactly it
		return p.name + "." + p.headless
	case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.namespace":
		return c.ns
	case vf.ConfigMapKeyRef != nil:
		cm, ok := c.b.configMaps[vf.ConfigMapKeyRef.Name]
		if !ok {
			t.Fatalf("%s: %s: ConfigMap %s is not in the overlay", p.name, e.Name, vf.ConfigMapKeyRef.Name)
		}
		return cm.Data[vf.ConfigMapKeyRef.Key]
	case vf.SecretKeyRef != nil:
		return c.secretKey(p, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
	}
	t.Fatalf("%s: %s: valueFrom %+v is not run by this test", p.name, e.Name, vf)
	return ""
}

func (c *cluster) secretKey(p *pod, name, key string) string {
	s, ok := c.secrets[name]
	if !ok {
		c.t.Fatalf("%s: Secret %s: neither make-secrets.sh nor the test's certificates make it", p.name, name)
	}
	v, ok := s[key]
	if !ok {
		c.t.Fatalf("%s: Secret %s has no key %s", p.name, name, key)
	}
	return v
}

// mount writes the main container's volumes under the pod root as the kubelet does:
// the files of Secrets and ConfigMaps with their defaultMode (or item mode) and, with
// an fsGroup, group-owned by it; an emptyDir or a volume claim writable by the fsGroup
// (setgid, as the kubelet leaves it), else an emptyDir writable by all and a claim
// owned by root.
func (c *cluster) mount(p *pod) {
	t := c.t
	_, _, fsGroup := p.identity()
	for _, m := range p.main.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Fatalf("%s: mount %s: subPath is not run by this test", p.name, m.Name)
		}
		dir := filepath.Join(p.root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(p.spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 && !p.claims[m.Name] {
			t.Fatalf("%s: mount %s names no volume", p.name, m.Name)
		}
		if i < 0 || p.spec.Volumes[i].EmptyDir != nil {
			mode := os.FileMode(0o755) // a new volume claim
			if fsGroup != nil {
				mode = 0o775 | os.ModeSetgid
			} else if i >= 0 {
				mode = 0o777
			}
			c.own(dir, mode, fsGroup)
			continue
		}
		v := p.spec.Volumes[i]
		switch {
		case v.Secret != nil:
			c.writeSecret(p, dir, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode)
		case v.ConfigMap != nil:
			c.writeConfigMap(p, dir, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.Secret != nil:
					c.writeSecret(p, dir, src.Secret.Name, src.Secret.Items, v.Projected.DefaultMode)
				case src.ConfigMap != nil:
					c.writeConfigMap(p, dir, src.ConfigMap.Name, src.ConfigMap.Items, v.Projected.DefaultMode)
				default:
					t.Fatalf("%s: projected source %+v is not run by this test", p.name, src)
				}
			}
		default:
			t.Fatalf("%s: volume %s: its kind is not run by this test", p.name, v.Name)
		}
	}
}

func (c *cluster) writeSecret(p *pod, dir, name string, items []corev1.KeyToPath, mode *int32) {
	s, ok := c.secrets[name]
	if !ok {
		c.t.Fatalf("%s: Secret %s: neither make-secrets.sh nor the test's certificates make it", p.name, name)
	}
	c.writeItems(p, dir, "Secret "+name, s, items, mode)
}

func (c *cluster) writeConfigMap(p *pod, dir, name string, items []corev1.KeyToPath, mode *int32) {
	cm, ok := c.b.configMaps[name]
	if !ok {
		c.t.Fatalf("%s: ConfigMap %s is not in the overlay", p.name, name)
	}
	data := map[string]string{}
	for k, v := range cm.Data {
		text, err := c.rewriteText(p, v)
		if err != nil {
			c.t.Fatalf("%s: ConfigMap %s, %s: %v", p.name, name, k, err)
		}
		data[k] = text
	}
	c.writeItems(p, dir, "ConfigMap "+name, data, items, mode)
}

// writeItems writes the keys items names (every key when none) as the kubelet does.
func (c *cluster) writeItems(p *pod, dir, what string, data map[string]string, items []corev1.KeyToPath, mode *int32) {
	t := c.t
	_, _, fsGroup := p.identity()
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			t.Fatalf("%s: %s has no key %s", p.name, what, it.Key)
		}
		f := filepath.Join(dir, it.Path)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		m := int32(0o644) // the API's default mode
		switch {
		case it.Mode != nil:
			m = *it.Mode
		case mode != nil:
			m = *mode
		}
		c.own(f, os.FileMode(m), fsGroup)
	}
}

// own gives a file of the pod's volumes its mode and, with an fsGroup, that group.
func (c *cluster) own(file string, mode os.FileMode, group *int64) {
	if group != nil && c.asUser {
		if err := os.Chown(file, 0, int(*group)); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := os.Chmod(file, mode); err != nil {
		c.t.Fatal(err)
	}
}

// identity is who the main container runs as: runAsUser and runAsGroup (the
// container's over the pod's), and the pod's fsGroup, a supplementary group. Unset
// ids are the image's; the images of this repository and nats run as 0 then.
func (p *pod) identity() (uid, gid int64, fsGroup *int64) {
	if sc := p.spec.SecurityContext; sc != nil {
		uid, gid, fsGroup = deref(sc.RunAsUser), deref(sc.RunAsGroup), sc.FSGroup
	}
	if sc := p.main.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	return uid, gid, fsGroup
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// command is the binary and arguments of the main container: its command's base name
// among the built binaries; without a command, the image's entrypoint (the nats image:
// nats-server).
func (c *cluster) command(p *pod) (string, []string) {
	cmd := slices.Concat(p.main.Command, p.main.Args)
	if len(p.main.Command) == 0 {
		if !strings.HasPrefix(p.main.Image, "nats:") {
			c.t.Fatalf("%s: image %s without command: which binary is its entrypoint?", p.name, p.main.Image)
		}
		cmd = slices.Concat([]string{"nats-server"}, p.main.Args)
	}
	args := make([]string, 0, len(cmd)-1)
	for _, a := range cmd[1:] {
		v, _, err := c.rewrite(p, a)
		if err != nil {
			c.t.Fatalf("%s: argument %s: %v", p.name, a, err)
		}
		args = append(args, v)
	}
	return filepath.Join(c.bins, path.Base(cmd[0])), args
}

// start writes the pod's volumes and starts its process with exactly the container's
// environment (rewritten) and extra (the CA bundle), none of the test's. Run as root, the test starts it as the container's
// user, group and fsGroup (setpriv): the files it reads and the volumes it writes must
// be open to that identity, as in the pod.
func (c *cluster) start(p *pod, extra ...string) {
	main := p.main
	for _, ic := range p.spec.InitContainers {
		p.main = ic
		c.startContainer(p, "init-"+ic.Name, extra...)
		if err := p.proc.Wait(45 * time.Second); err != nil {
			c.t.Fatalf("%s: init container %s: %v", p.name, ic.Name, err)
		}
		for _, m := range ic.VolumeMounts {
			if !slices.ContainsFunc(main.VolumeMounts, func(mm corev1.VolumeMount) bool { return path.Clean(mm.MountPath) == path.Clean(m.MountPath) }) {
				if err := os.RemoveAll(filepath.Join(p.root, m.MountPath)); err != nil {
					c.t.Fatal(err)
				}
			}
		}
	}
	p.main = main
	c.startContainer(p, "log", extra...)
}

// startContainer starts p.main, logging to the file log in the pod root.
func (c *cluster) startContainer(p *pod, log string, extra ...string) {
	t := c.t
	c.mount(p)
	env, notes := c.env(p)
	if strings.HasSuffix(p.name, "-0") { // the other replicas' differ only in ports
		for _, n := range notes {
			t.Logf("%s: %s", p.name, n)
		}
	}
	bin, args := c.command(p)
	if c.asUser {
		uid, gid, fsGroup := p.identity()
		groups := "--clear-groups"
		if fsGroup != nil {
			groups = "--groups=" + strconv.FormatInt(*fsGroup, 10)
		}
		args = slices.Concat([]string{"--reuid=" + strconv.FormatInt(uid, 10), "--regid=" + strconv.FormatInt(gid, 10),
			groups, "--", bin}, args)
		bin = c.setpriv
	}
	name := p.name
	if log != "log" {
		name += "/" + p.main.Name
	}
	pr := &proctest.Proc{Name: name, Path: bin, Args: args, Env: slices.Concat(env, extra), Log: filepath.Join(p.root, log)}
	if err := pr.Start(); err != nil {
		t.Fatal(err)
	}
	p.proc = pr
}

// probeURL is the URL of an HTTP probe of the pod.
func (c *cluster) probeURL(p *pod, pr *corev1.Probe) string {
	if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Scheme == corev1.URISchemeHTTPS {
		c.t.Fatalf("%s: want an HTTP probe, got %+v", p.name, pr)
	}
	n, ok := p.portOf(pr.HTTPGet.Port)
	if !ok {
		c.t.Fatalf("%s: probe port %s is not a container port", p.name, pr.HTTPGet.Port.String())
	}
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.ports[n])) + pr.HTTPGet.Path
}
