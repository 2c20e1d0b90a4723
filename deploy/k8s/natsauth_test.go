package k8s_test

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/worker"
)

var updateAuth = flag.Bool("update-nats-auth", false, "rewrite base/nats/authorization.conf from natsbus's roles")

// NATS identities in the overlays. Each role has a Secret nats-<role> with two keys:
// password (what the service reads, NATS_PASSWORD_FILE) and nats-server.conf (the same
// password as a variable for the servers' authorization.conf).
const (
	natsConfigDir     = "/etc/nats" // the projected volume: ConfigMap nats-config + users/<role>.conf
	natsPasswordDir   = "/var/run/secrets/epayflow/nats"
	natsPasswordFile  = natsPasswordDir + "/password"
	natsCADir         = "/var/run/secrets/epayflow/nats-ca"
	natsCAFile        = natsCADir + "/ca.crt"
	natsServerConfKey = "nats-server.conf"
)

// serviceRoles: each workload and the NATS user it connects as.
var serviceRoles = map[string]natsbus.Role{
	"ingest": natsbus.RoleIngest, "initiator": natsbus.RoleInitiator, "worker": natsbus.RoleWorker,
	"webhooks": natsbus.RoleWebhooks,
}

// authorizationConf is base/nats/authorization.conf as natsbus's roles say it must be.
func authorizationConf() string {
	var b strings.Builder
	b.WriteString(`# Who may connect to NATS and what each may do: a user per epayflow role, each allowed
# exactly its subjects (internal/natsbus/roles.go, where every grant is explained);
# anything else is a permissions violation, and a client without a user is refused.
# Generated: go test ./deploy/k8s -run TestNATSAuthorization -update-nats-auth
# The passwords come from the Secrets nats-<role> (key nats-server.conf), projected
# beside this file as users/<role>.conf: see deploy/k8s/secrets/make-secrets.sh.
`)
	for _, r := range natsbus.Roles() {
		fmt.Fprintf(&b, "include \"users/%s.conf\"\n", r)
	}
	b.WriteString("\n")
	b.WriteString(natsbus.AuthorizationConf(func(r natsbus.Role) string { return "$" + r.PasswordVar() }))
	return b.String()
}

func TestNATSAuthorizationConfIsNatsbusRoles(t *testing.T) {
	const file = "base/nats/authorization.conf"
	want := authorizationConf()
	if *updateAuth {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from natsbus's roles: go test ./deploy/k8s -run TestNATSAuthorization -update-nats-auth", file)
	}
}

// parsedNATS is an overlay's NATS configuration read by nats-server itself.
type parsedNATS struct {
	opts      *server.Options
	passwords map[natsbus.Role]string // the test passwords written as users/<role>.conf
}

// parseNATSConfig writes the overlay's nats-config files and a users/<role>.conf per
// role into a directory, points the TLS files at test certificates, and reads nats.conf
// with nats-server's own parser.
func parseNATSConfig(t *testing.T, b *build) parsedNATS {
	t.Helper()
	p := parsedNATS{passwords: map[natsbus.Role]string{}}
	users := map[natsbus.Role]string{}
	for _, r := range natsbus.Roles() {
		p.passwords[r] = "test-password-of-" + string(r)
		users[r] = fmt.Sprintf("%s: %q\n", r.PasswordVar(), p.passwords[r])
	}
	p.opts = parseNATSConfigWith(t, b, users)
	return p
}

// parseNATSConfigWith is parseNATSConfig with the content of each users/<role>.conf.
func parseNATSConfigWith(t *testing.T, b *build, users map[natsbus.Role]string) *server.Options {
	t.Helper()
	dir := t.TempDir()
	cm := configMap(t, b, "nats-config")
	certs := testTLSFiles(t, t.TempDir())
	for name, data := range cm.Data {
		// The TLS files live in Secrets mounted at /etc/nats-tls/<name>/: here, test certificates.
		data = strings.ReplaceAll(data, "/etc/nats-tls/", certs+"/")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "users"), 0o700)
	for r, conf := range users {
		if err := os.WriteFile(filepath.Join(dir, "users", string(r)+".conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("POD_NAME", "nats-0")
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("nats-server refuses the overlay's nats.conf: %v", err)
	}
	return opts
}

// TestNATSAuthorization: in both overlays NATS refuses anonymous clients and knows one
// user per role, with the password of its Secret and exactly natsbus's permissions.
func TestNATSAuthorization(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		p := parseNATSConfig(t, b)
		o := p.opts
		if o.NoAuthUser != "" || o.Username != "" || o.Authorization != "" || len(o.Nkeys) > 0 || len(o.Accounts) > 0 {
			t.Errorf("want users only: no_auth_user %q, single user %q, token set %v, %d nkeys, %d accounts",
				o.NoAuthUser, o.Username, o.Authorization != "", len(o.Nkeys), len(o.Accounts))
		}
		users := map[string]*server.User{}
		for _, u := range o.Users {
			users[u.Username] = u
		}
		if len(users) != len(natsbus.Roles()) {
			t.Errorf("%d users, want one per role %v", len(users), natsbus.Roles())
		}
		for _, r := range natsbus.Roles() {
			u, ok := users[string(r)]
			if !ok {
				t.Errorf("no NATS user %s", r)
				continue
			}
			if u.Password != p.passwords[r] {
				t.Errorf("user %s: its password is not $%s of users/%s.conf", r, r.PasswordVar(), r)
			}
			if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil ||
				len(u.Permissions.Subscribe.Deny) > 0 || u.Permissions.Response != nil {
				t.Errorf("user %s: want publish allow (and deny) lists and a subscribe allow list, nothing else", r)
				continue
			}
			got := natsbus.Permissions{Publish: u.Permissions.Publish.Allow, PublishDeny: u.Permissions.Publish.Deny, Subscribe: u.Permissions.Subscribe.Allow}
			if want := r.Permissions(); !got.Equal(want) {
				t.Errorf("user %s:\n got publish %v deny %v subscribe %v\nwant publish %v deny %v subscribe %v", r, got.Publish, got.PublishDeny, got.Subscribe, want.Publish, want.PublishDeny, want.Subscribe)
			}
		}
	})
}

// TestNATSTLSInProd: prod's servers require TLS from clients and between each other (routes,
// certificates verified both ways); the base and dev run without.
func TestNATSTLSInProd(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		o := parseNATSConfig(t, b).opts
		s := b.statefulSets["nats"]
		if b.name != "prod" {
			if o.TLSConfig != nil || o.Cluster.TLSConfig != nil {
				t.Errorf("%s: TLS configured; only prod has certificates", b.name)
			}
			return
		}
		if o.TLSConfig == nil {
			t.Error("prod: clients must connect with TLS")
		} else if o.TLSConfig.MinVersion < tls.VersionTLS12 {
			t.Error("prod: client TLS below 1.2")
		}
		if o.Cluster.TLSConfig == nil {
			t.Fatal("prod: routes between the servers must use TLS")
		}
		if o.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Error("prod: route TLS must verify the other server's certificate (verify: true)")
		}
		if len(o.Routes) != 3 {
			t.Errorf("prod: %d routes, want 3", len(o.Routes))
		}
		// The certificate files are in Secrets mounted where nats.conf reads them.
		c := container(t, s.Spec.Template.Spec, "nats")
		conf := strings.Join(mapValues(configMap(t, b, "nats-config").Data), "\n")
		for _, dir := range []string{"/etc/nats-tls/client", "/etc/nats-tls/routes"} {
			if !strings.Contains(conf, dir+"/tls.crt") || !strings.Contains(conf, dir+"/tls.key") {
				t.Errorf("prod: nats.conf does not read %s/tls.crt and tls.key", dir)
			}
			if secretMountedAt(t, s.Spec.Template.Spec, c, dir) == "" {
				t.Errorf("prod: no Secret mounted at %s", dir)
			}
		}
		// Every service verifies the servers against the CA, and gets the CA only.
		for name := range serviceRoles {
			pod, ok := podSpec(b, name)
			if !ok {
				t.Errorf("no workload %s", name)
				continue
			}
			sc := container(t, pod, name)
			if e, _ := env(sc, "NATS_CA"); e.Value != natsCAFile {
				t.Errorf("%s: NATS_CA=%q, want %s", name, e.Value, natsCAFile)
			}
			v := volumeAt(t, pod, sc, natsCADir)
			if v == nil || v.Secret == nil || len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "ca.crt" {
				t.Errorf("%s: mount only the ca.crt of the client TLS Secret at %s (never the server's key)", name, natsCADir)
			}
		}
	})
}

// TestNATSIdentityOfEveryService: each service connects as its own user, its password
// read from a file of its own Secret (never an environment variable); the NATS servers
// get each password from the same Secret.
func TestNATSIdentityOfEveryService(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		for name, role := range serviceRoles {
			t.Run(name, func(t *testing.T) {
				pod, ok := podSpec(b, name)
				if !ok {
					t.Fatalf("no workload %s", name)
				}
				c := container(t, pod, name)
				if e, _ := env(c, "NATS_USER"); e.Value != string(role) {
					t.Errorf("NATS_USER=%q, want %s", e.Value, role)
				}
				if e, _ := env(c, "NATS_PASSWORD_FILE"); e.Value != natsPasswordFile {
					t.Errorf("NATS_PASSWORD_FILE=%q, want %s", e.Value, natsPasswordFile)
				}
				checkSecretFile(t, pod, c, "NATS_PASSWORD", "nats-"+string(role), "password")
				v := volumeAt(t, pod, c, natsPasswordDir)
				if v == nil || v.Secret == nil || len(v.Secret.Items) != 1 {
					t.Errorf("mount the key password of Secret nats-%s, and only it, at %s", role, natsPasswordDir)
				}
			})
		}
		// The servers: nats.conf and users/<role>.conf side by side, from nats-config and
		// each role's Secret (its key nats-server.conf only).
		s := b.statefulSets["nats"]
		c := container(t, s.Spec.Template.Spec, "nats")
		v := volumeAt(t, s.Spec.Template.Spec, c, natsConfigDir)
		if v == nil || v.Projected == nil {
			t.Fatalf("NATS: want a projected volume at %s", natsConfigDir)
		}
		users := map[string]string{}
		configMapProjected := false
		for _, src := range v.Projected.Sources {
			switch {
			case src.ConfigMap != nil && strings.HasPrefix(src.ConfigMap.Name, "nats-config"):
				configMapProjected = true
			case src.Secret != nil:
				for _, it := range src.Secret.Items {
					if it.Key != natsServerConfKey {
						t.Errorf("NATS mounts key %s of Secret %s: only %s", it.Key, src.Secret.Name, natsServerConfKey)
					}
					users[it.Path] = src.Secret.Name
				}
			}
		}
		if !configMapProjected {
			t.Error("NATS: nats-config is not in the projected volume")
		}
		for _, r := range natsbus.Roles() {
			if got := users["users/"+string(r)+".conf"]; got != "nats-"+string(r) {
				t.Errorf("NATS: users/%s.conf comes from Secret %q, want nats-%s", r, got, r)
			}
		}
	})
}

// TestNATSBoxIsAdmin: the operators' NATS CLI pod connects as admin.
func TestNATSBoxIsAdmin(t *testing.T) {
	raw, err := os.ReadFile("tools/nats-box.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeStrict(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := o.(*corev1.Pod).Spec.Containers[0]
	if e, _ := env(c, "NATS_USER"); e.Value != string(natsbus.RoleAdmin) {
		t.Errorf("nats-box: NATS_USER=%q, want admin", e.Value)
	}
	if e, _ := env(c, "NATS_PASSWORD"); e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != "nats-admin" || e.ValueFrom.SecretKeyRef.Key != "password" {
		t.Error("nats-box: NATS_PASSWORD must come from Secret nats-admin, key password")
	}
}

func podSpec(b *build, name string) (corev1.PodSpec, bool) {
	if d, ok := b.deployments[name]; ok {
		return d.Spec.Template.Spec, true
	}
	if s, ok := b.statefulSets[name]; ok {
		return s.Spec.Template.Spec, true
	}
	return corev1.PodSpec{}, false
}

// volumeAt returns the volume c mounts read-only at dir, or nil.
func volumeAt(t *testing.T, pod corev1.PodSpec, c corev1.Container, dir string) *corev1.Volume {
	t.Helper()
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return path.Clean(m.MountPath) == dir })
	if i < 0 {
		return nil
	}
	m := c.VolumeMounts[i]
	if !m.ReadOnly {
		t.Errorf("%s: %s must be mounted read-only", c.Name, dir)
	}
	j := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
	if j < 0 {
		t.Errorf("%s: mount %s names no volume", c.Name, m.Name)
		return nil
	}
	return &pod.Volumes[j]
}

// secretMountedAt returns the name of the Secret c mounts at dir, or "".
func secretMountedAt(t *testing.T, pod corev1.PodSpec, c corev1.Container, dir string) string {
	t.Helper()
	if v := volumeAt(t, pod, c, dir); v != nil && v.Secret != nil {
		return v.Secret.SecretName
	}
	return ""
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// testTLSFiles writes a CA and a certificate signed by it as <dir>/{client,routes}/
// {ca.crt,tls.crt,tls.key}, the layout of a kubernetes.io/tls Secret with ca.crt
// (cert-manager's), and returns dir.
func testTLSFiles(t *testing.T, dir string) string {
	t.Helper()
	files := newTestCA(t).tlsSecret(t, "nats")
	for _, sub := range []string{"client", "routes"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, sub, name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// checkSecretFile: variable name's value is in a file (name_FILE), the key key of Secret
// secret mounted read-only, readable by the pod's group only; never name itself.
func checkSecretFile(t *testing.T, pod corev1.PodSpec, c corev1.Container, name, secret, key string) {
	t.Helper()
	if e, ok := env(c, name); ok {
		t.Errorf("%s: %s is in the environment (value or secretKeyRef %v): secrets are files", c.Name, name, e.ValueFrom != nil)
	}
	e, ok := env(c, name+"_FILE")
	if !ok || !path.IsAbs(e.Value) {
		t.Errorf("%s: want %s_FILE, the path of a file of Secret %s", c.Name, name, secret)
		return
	}
	v := volumeAt(t, pod, c, path.Dir(e.Value))
	switch {
	case v == nil || v.Secret == nil:
		t.Errorf("%s: %s_FILE=%s is not in a mounted Secret", c.Name, name, e.Value)
		return
	case v.Secret.SecretName != secret:
		t.Errorf("%s: %s_FILE=%s is in Secret %s, want %s", c.Name, name, e.Value, v.Secret.SecretName, secret)
	case !slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Key == key && it.Path == path.Base(e.Value) }):
		t.Errorf("%s: %s_FILE=%s is not key %s of Secret %s (items %v)", c.Name, name, e.Value, key, secret, v.Secret.Items)
	case v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0 || *v.Secret.DefaultMode&0o222 != 0:
		t.Errorf("%s: Secret %s: want defaultMode 0440 (read-only, nobody outside the pod's group)", c.Name, secret)
	case pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil:
		t.Errorf("%s: the pod needs an fsGroup for its Secret files (mode 0440) to be readable", c.Name)
	}
}

// TestSecretsAreFilesNotEnvironment: no workload takes a secret from the environment.
func TestSecretsAreFilesNotEnvironment(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		for _, w := range workloads(b) {
			for _, c := range append(slices.Clone(w.pod.Spec.InitContainers), w.pod.Spec.Containers...) {
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						t.Errorf("%s/%s: %s from Secret %s in the environment: mount it and set %s_FILE",
							w.name, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Name, e.Name)
					}
				}
				for _, ef := range c.EnvFrom {
					if ef.SecretRef != nil {
						t.Errorf("%s/%s: envFrom Secret %s", w.name, c.Name, ef.SecretRef.Name)
					}
				}
			}
		}
	})
}

// makeSecrets runs make-secrets.sh for namespace ns with env (NAME=value) and returns
// the Secrets it prints: name -> key -> value.
func makeSecrets(t *testing.T, ns string, env ...string) map[string]map[string]string {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found in PATH (make-secrets.sh uses it)")
	}
	cmd := exec.Command("secrets/make-secrets.sh", ns)
	// Only what the caller gives: a variable of the test's own environment (a developer's
	// EPAY_SECRET_KEYS) must not reach the script.
	cmd.Env = append([]string{"PATH=" + filepath.Dir(kubectl) + ":" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, stderr.String())
	}
	docs, err := splitYAML(out)
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]map[string]string{}
	for _, doc := range docs {
		o, err := decodeStrict(doc)
		if err != nil {
			t.Fatal(err)
		}
		s := o.(*corev1.Secret)
		made[s.Name] = map[string]string{}
		for k, v := range s.Data {
			made[s.Name][k] = string(v)
		}
	}
	return made
}

// TestMakeSecretsFitsTheWorkloadsAndNATS runs make-secrets.sh: it prints every Secret the
// workloads mount (the TLS certificates aside: cert-manager's or yours), and the
// nats-server.conf of each nats-<role> gives NATS the very password the service reads
// from the key password.
func TestMakeSecretsFitsTheWorkloadsAndNATS(t *testing.T) {
	made := makeSecrets(t, "epayflow", "EPAY_CLIENT_ID=client", "EPAY_CLIENT_SECRET=secret", "EPAY_TERMINAL=terminal",
		"NATS_WORKER_PASSWORD=kept-password")
	outOfBand := map[string]bool{"nats-client-tls": true, "nats-route-tls": true}
	forEachOverlay(t, func(t *testing.T, b *build) {
		for _, w := range workloads(b) {
			for _, v := range w.pod.Spec.Volumes {
				var refs []*corev1.SecretVolumeSource
				if v.Secret != nil {
					refs = append(refs, v.Secret)
				}
				if v.Projected != nil {
					for _, src := range v.Projected.Sources {
						if src.Secret != nil {
							refs = append(refs, &corev1.SecretVolumeSource{SecretName: src.Secret.Name, Items: src.Secret.Items})
						}
					}
				}
				for _, ref := range refs {
					if outOfBand[ref.SecretName] {
						continue
					}
					keys, ok := made[ref.SecretName]
					if !ok {
						t.Errorf("%s mounts Secret %s, which make-secrets.sh does not make", w.name, ref.SecretName)
						continue
					}
					for _, it := range ref.Items {
						if _, ok := keys[it.Key]; !ok {
							t.Errorf("%s mounts key %s of Secret %s, which make-secrets.sh does not set", w.name, it.Key, ref.SecretName)
						}
					}
				}
			}
		}
		users := map[natsbus.Role]string{}
		for _, r := range natsbus.Roles() {
			users[r] = made["nats-"+string(r)][natsServerConfKey]
		}
		opts := parseNATSConfigWith(t, b, users)
		for _, u := range opts.Users {
			if want := made["nats-"+u.Username]["password"]; u.Password != want || len(want) < 32 && want != "kept-password" {
				t.Errorf("user %s: NATS's password is not the one in key password of Secret nats-%s", u.Username, u.Username)
			}
		}
	})
	if made["nats-worker"]["password"] != "kept-password" {
		t.Error("NATS_WORKER_PASSWORD given: make-secrets.sh must keep it")
	}
	readKeys := made["worker-read-keys"]["WORKER_READ_KEYS"]
	if _, err := worker.ParseReadKeys(readKeys); err != nil {
		t.Errorf("WORKER_READ_KEYS: the worker refuses it: %v", err)
	}
	entries := strings.Split(readKeys, ",")
	if !slices.Contains(entries, "initiator:operate:"+made["initiator-worker-key"]["INITIATOR_WORKER_KEY"]) {
		t.Error("WORKER_READ_KEYS must hold the initiator's INITIATOR_WORKER_KEY, scope operate")
	}
	// The on-call's key: the runbook resolves invoices that need a human with a key of scope
	// operator (docs/RUNBOOK.md, EpayflowReviewRising).
	if !slices.ContainsFunc(entries, func(e string) bool { return strings.HasPrefix(e, "ops:operator:") }) {
		t.Errorf("WORKER_READ_KEYS must hold an ops:operator:KEY entry; got %d entries", len(entries))
	}
}

// TestMakeSecretsOperatorKey: a WORKER_OPERATOR_KEY given is the ops:operator entry of
// WORKER_READ_KEYS; a WORKER_READ_KEYS given is taken as it is; a short operator key,
// which the worker would refuse at its start, is refused by the script.
func TestMakeSecretsOperatorKey(t *testing.T) {
	base := []string{"EPAY_CLIENT_ID=client", "EPAY_CLIENT_SECRET=secret", "EPAY_TERMINAL=terminal"}
	made := makeSecrets(t, "epayflow", append(base, "INITIATOR_WORKER_KEY=dev-only-initiator-key-0123", "WORKER_OPERATOR_KEY=dev-only-operator-key-0123")...)
	if got, want := made["worker-read-keys"]["WORKER_READ_KEYS"], "initiator:operate:dev-only-initiator-key-0123,ops:operator:dev-only-operator-key-0123"; got != want {
		t.Errorf("WORKER_READ_KEYS = %q, want %q", got, want)
	}
	kept := "initiator:operate:dev-only-initiator-key-0123,alice:operator:dev-only-alice-key-0123"
	made = makeSecrets(t, "epayflow", append(base, "INITIATOR_WORKER_KEY=dev-only-initiator-key-0123", "WORKER_READ_KEYS="+kept)...)
	if got := made["worker-read-keys"]["WORKER_READ_KEYS"]; got != kept {
		t.Errorf("WORKER_READ_KEYS given: got %q, want it kept as %q", got, kept)
	}
	cmd := exec.Command("secrets/make-secrets.sh", "epayflow")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, append(base, "WORKER_OPERATOR_KEY=short")...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "WORKER_OPERATOR_KEY") {
		t.Errorf("WORKER_OPERATOR_KEY=short: want an error naming it, got %v\n%s", err, out)
	}
}
