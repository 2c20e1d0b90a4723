package k8s_test

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/epayflow/epayflow/internal/contracttest"
)

// shutdownBudget is internal/httpserver's default shutdown budget: how long a service
// may take to finish requests in flight after SIGTERM.
const shutdownBudget = 20

// services are our four binaries, with the port and the *_ADDR variable of each, and
// the port and variable of its listener for /metrics alone (container port metrics: the
// only port the monitoring namespace reaches, and the one its ServiceMonitor scrapes).
var services = map[string]struct {
	port           int32
	addrEnv        string
	metricsPort    int32
	metricsAddrEnv string
}{
	"ingest":    {8081, "INGEST_ADDR", 9081, "INGEST_METRICS_ADDR"},
	"worker":    {8082, "WORKER_ADDR", 9082, "WORKER_METRICS_ADDR"},
	"initiator": {8080, "INITIATOR_ADDR", 9080, "INITIATOR_METRICS_ADDR"},
	"webhooks":  {8084, "WEBHOOKS_ADDR", 9084, "WEBHOOKS_METRICS_ADDR"},
}

// workload is a Deployment or a StatefulSet, seen through what they share.
type workload struct {
	kind     string
	name     string
	replicas int32
	selector *metav1.LabelSelector
	pod      corev1.PodTemplateSpec
}

func workloads(b *build) []workload {
	var ws []workload
	for _, d := range b.deployments {
		ws = append(ws, workload{"Deployment", d.Name, replicas(d.Spec.Replicas), d.Spec.Selector, d.Spec.Template})
	}
	for _, s := range b.statefulSets {
		ws = append(ws, workload{"StatefulSet", s.Name, replicas(s.Spec.Replicas), s.Spec.Selector, s.Spec.Template})
	}
	slices.SortFunc(ws, func(a, b workload) int { return strings.Compare(a.name, b.name) })
	return ws
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func selects(t *testing.T, sel *metav1.LabelSelector, lbls map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("bad selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(lbls))
}

// configMap finds a generated ConfigMap by its name before kustomize's hash suffix.
func configMap(t *testing.T, b *build, name string) *corev1.ConfigMap {
	t.Helper()
	var found []*corev1.ConfigMap
	for n, cm := range b.configMaps {
		if n == name || strings.HasPrefix(n, name+"-") && !strings.Contains(n[len(name)+1:], "-") {
			found = append(found, cm)
		}
	}
	if len(found) != 1 {
		t.Fatalf("overlay %s: want one ConfigMap %s, found %d", b.name, name, len(found))
	}
	return found[0]
}

func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func forEachOverlay(t *testing.T, f func(t *testing.T, b *build)) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) { f(t, mustBuild(t, o)) })
	}
}

func TestSecurityContextEverywhere(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		for _, w := range workloads(b) {
			t.Run(w.name, func(t *testing.T) {
				p := w.pod.Spec
				psc := p.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Error("pod securityContext.runAsNonRoot must be true")
				}
				if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
					t.Error("pod securityContext.runAsUser must be a non-root uid")
				}
				if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Error("pod seccompProfile must be RuntimeDefault")
				}
				if p.HostNetwork || p.HostPID || p.HostIPC {
					t.Error("host namespaces must not be shared")
				}
				if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
					t.Error("automountServiceAccountToken must be false: no workload talks to the API server")
				}
				if _, ok := b.serviceAccounts[p.ServiceAccountName]; !ok {
					t.Errorf("serviceAccountName %q is not in the build", p.ServiceAccountName)
				}
				for _, c := range append(slices.Clone(p.InitContainers), p.Containers...) {
					checkContainerSecurity(t, c)
					checkResources(t, c)
					checkImage(t, c)
				}
			})
		}
	})
}

// TestOperatorTools: the pods operators start by hand meet the same bar.
func TestOperatorTools(t *testing.T) {
	raw, err := os.ReadFile("tools/nats-box.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeStrict(raw)
	if err != nil {
		t.Fatal(err)
	}
	pod, ok := o.(*corev1.Pod)
	if !ok {
		t.Fatalf("tools/nats-box.yaml holds a %T", o)
	}
	if pod.Labels["epayflow.io/nats-client"] != "true" {
		t.Error("nats-box must carry epayflow.io/nats-client=true to reach NATS")
	}
	if psc := pod.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("nats-box must run as non-root")
	}
	for _, c := range pod.Spec.Containers {
		checkContainerSecurity(t, c)
		checkResources(t, c)
		checkImage(t, c)
	}
}

func checkContainerSecurity(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("container %s: no securityContext", c.Name)
		return
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("container %s: runAsNonRoot must be true", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container %s: readOnlyRootFilesystem must be true", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container %s: privileged", c.Name)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container %s: capabilities must drop ALL and add none", c.Name)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container %s: seccompProfile must be RuntimeDefault", c.Name)
	}
}

func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		switch {
		case !okReq || req.IsZero():
			t.Errorf("container %s: no %s request", c.Name, r)
		case !okLim || lim.IsZero():
			t.Errorf("container %s: no %s limit", c.Name, r)
		case req.Cmp(lim) > 0:
			t.Errorf("container %s: %s request %s above limit %s", c.Name, r, req.String(), lim.String())
		}
	}
}

func checkImage(t *testing.T, c corev1.Container) {
	t.Helper()
	_, tag, ok := strings.Cut(path.Base(c.Image), ":")
	if !ok || tag == "" || tag == "latest" {
		t.Errorf("container %s: image %q must be pinned to a tag", c.Name, c.Image)
	}
}

func TestServiceProbesAndPorts(t *testing.T) {
	inImage, err := contracttest.ImageBinaries("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	forEachOverlay(t, func(t *testing.T, b *build) {
		cfg := configMap(t, b, "epayflow-config").Data
		for _, w := range workloads(b) {
			svc, ours := services[w.name]
			if !ours {
				continue
			}
			t.Run(w.name, func(t *testing.T) {
				c := container(t, w.pod.Spec, w.name)
				if want := "/usr/local/bin/" + w.name; !slices.Equal(c.Command, []string{want}) {
					t.Errorf("command %v, want [%s]", c.Command, want)
				}
				if !inImage[w.name] {
					t.Errorf("runs /usr/local/bin/%s, which the Dockerfile does not build and copy into the image", w.name)
				}
				// The service's port, and /metrics on a listener of its own: never on http.
				want := []corev1.ContainerPort{{Name: "http", ContainerPort: svc.port}, {Name: "metrics", ContainerPort: svc.metricsPort}}
				if got := cfg[svc.metricsAddrEnv]; got != fmt.Sprintf(":%d", svc.metricsPort) {
					t.Errorf("%s=%q in epayflow-config, want :%d", svc.metricsAddrEnv, got, svc.metricsPort)
				}
				if _, ok := env(c, svc.metricsAddrEnv); ok {
					t.Errorf("%s set in the container's env: it belongs in epayflow-config", svc.metricsAddrEnv)
				}
				checkServicePorts(t, b, w.name, []corev1.ServicePort{
					{Name: "http", Port: svc.port, TargetPort: intstr.FromString("http")},
					{Name: "metrics", Port: svc.metricsPort, TargetPort: intstr.FromString("metrics")},
				})
				if !slices.Equal(c.Ports, want) {
					t.Errorf("ports %+v, want %+v", c.Ports, want)
				}
				if got := cfg[svc.addrEnv]; got != fmt.Sprintf(":%d", svc.port) {
					t.Errorf("%s=%q in epayflow-config, want :%d", svc.addrEnv, got, svc.port)
				}
				checkHTTPProbe(t, "readiness", c.ReadinessProbe, "/readyz", "http")
				checkHTTPProbe(t, "liveness", c.LivenessProbe, "/livez", "http")
				if c.StartupProbe != nil {
					checkHTTPProbe(t, "startup", c.StartupProbe, "/livez", "http")
				}
				if !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool {
					return e.ConfigMapRef != nil && strings.HasPrefix(e.ConfigMapRef.Name, "epayflow-config")
				}) {
					t.Error("not configured from epayflow-config")
				}
			})
		}
	})
}

// checkServicePorts: the Service named after the workload has exactly these ports.
func checkServicePorts(t *testing.T, b *build, name string, want []corev1.ServicePort) {
	t.Helper()
	s, ok := b.services[name]
	if !ok {
		t.Errorf("no Service %s", name)
		return
	}
	var got []corev1.ServicePort
	for _, p := range s.Spec.Ports {
		got = append(got, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: p.TargetPort})
	}
	if !slices.Equal(got, want) {
		t.Errorf("Service %s ports %+v, want %+v", name, got, want)
	}
}

func checkHTTPProbe(t *testing.T, what string, p *corev1.Probe, path, port string) {
	t.Helper()
	switch {
	case p == nil || p.HTTPGet == nil:
		t.Errorf("%s probe: want GET %s", what, path)
	case p.HTTPGet.Path != path || p.HTTPGet.Port.String() != port:
		t.Errorf("%s probe: GET %s on %s, want %s on %s", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, port)
	case p.PeriodSeconds <= 0 || p.FailureThreshold <= 0:
		t.Errorf("%s probe: set periodSeconds and failureThreshold", what)
	}
}

func TestIngest(t *testing.T) {
	minReplicas := map[string]int32{"dev": 1, "prod": 3}
	forEachOverlay(t, func(t *testing.T, b *build) {
		d, ok := b.deployments["ingest"]
		if !ok {
			t.Fatal("no Deployment ingest")
		}
		if got, want := replicas(d.Spec.Replicas), minReplicas[b.name]; got < want {
			t.Errorf("replicas %d, want at least %d", got, want)
		}
		if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			t.Error("rolling update must keep every replica serving (maxUnavailable 0)")
		}
		p := d.Spec.Template.Spec
		c := container(t, p, "ingest")
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
			t.Fatal("want a preStop sleep so load balancers stop sending before the drain")
		}
		pause := c.Lifecycle.PreStop.Sleep.Seconds
		if pause < 5 {
			t.Errorf("preStop sleep %ds: want at least 5s for endpoints to update", pause)
		}
		if p.TerminationGracePeriodSeconds == nil || *p.TerminationGracePeriodSeconds <= pause+shutdownBudget {
			t.Errorf("terminationGracePeriodSeconds must exceed preStop (%ds) + shutdown budget (%ds)", pause, shutdownBudget)
		}
		// The ingest verifies secret_hash: it needs EPAY_SECRET_KEYS.
		checkSecretFile(t, p, c, "EPAY_SECRET_KEYS", "epay-signing-keys", "EPAY_SECRET_KEYS")
		checkHPA(t, b, "Deployment", "ingest", minReplicas[b.name])
		checkPDB(t, b, d.Spec.Template.Labels, 1)
		checkAntiAffinity(t, p, d.Spec.Template.Labels, false)
		checkIngress(t, b)
	})
}

func TestInitiator(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		d, ok := b.deployments["initiator"]
		if !ok {
			t.Fatal("no Deployment initiator")
		}
		if _, ok := b.services["initiator"]; !ok {
			t.Error("no Service initiator")
		}
		checkHPA(t, b, "Deployment", "initiator", 1)
		c := container(t, d.Spec.Template.Spec, "initiator")
		for name, secret := range map[string]string{
			"EPAY_SECRET_KEYS": "epay-signing-keys", "EPAY_CLIENT_ID": "epay-credentials", "EPAY_CLIENT_SECRET": "epay-credentials",
			"EPAY_TERMINAL": "epay-credentials", "INITIATOR_API_KEYS": "initiator-api-keys", "INITIATOR_WORKER_KEY": "initiator-worker-key",
		} {
			checkSecretFile(t, d.Spec.Template.Spec, c, name, secret, name)
		}
	})
}

func checkHPA(t *testing.T, b *build, kind, name string, min int32) {
	t.Helper()
	h, ok := b.hpas[name]
	if !ok {
		t.Fatalf("no HorizontalPodAutoscaler %s", name)
	}
	if r := h.Spec.ScaleTargetRef; r.Kind != kind || r.Name != name || r.APIVersion != "apps/v1" {
		t.Errorf("HPA %s targets %s %s %s", name, r.APIVersion, r.Kind, r.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < min || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
		t.Errorf("HPA %s: min %v max %d, want min >= %d <= max", name, h.Spec.MinReplicas, h.Spec.MaxReplicas, min)
	}
	cpu := slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil
	})
	if !cpu {
		t.Errorf("HPA %s: want a CPU utilization target", name)
	}
	if w := deploymentOrStatefulSetReplicas(b, kind, name); w < *h.Spec.MinReplicas {
		t.Errorf("%s %s has %d replicas, below its HPA's minimum %d", kind, name, w, *h.Spec.MinReplicas)
	}
}

func deploymentOrStatefulSetReplicas(b *build, kind, name string) int32 {
	if kind == "Deployment" {
		return replicas(b.deployments[name].Spec.Replicas)
	}
	return replicas(b.statefulSets[name].Spec.Replicas)
}

func checkPDB(t *testing.T, b *build, podLabels map[string]string, maxUnavailable int) {
	t.Helper()
	for _, p := range b.pdbs {
		if selects(t, p.Spec.Selector, podLabels) {
			if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != maxUnavailable {
				t.Errorf("PodDisruptionBudget %s: want maxUnavailable %d", p.Name, maxUnavailable)
			}
			return
		}
	}
	t.Errorf("no PodDisruptionBudget selects pods %v", podLabels)
}

func checkAntiAffinity(t *testing.T, p corev1.PodSpec, podLabels map[string]string, required bool) {
	t.Helper()
	if p.Affinity == nil || p.Affinity.PodAntiAffinity == nil {
		t.Error("no pod anti-affinity")
		return
	}
	aa := p.Affinity.PodAntiAffinity
	var terms []corev1.PodAffinityTerm
	if required {
		terms = aa.RequiredDuringSchedulingIgnoredDuringExecution
	} else {
		for _, w := range aa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, term := range terms {
		if term.TopologyKey == "kubernetes.io/hostname" && selects(t, term.LabelSelector, podLabels) {
			return
		}
	}
	t.Errorf("no %s anti-affinity on kubernetes.io/hostname against its own pods", map[bool]string{true: "required", false: "preferred"}[required])
}

func checkIngress(t *testing.T, b *build) {
	t.Helper()
	if len(b.ingresses) != 1 {
		t.Fatalf("want exactly one Ingress (the ingest's), got %d", len(b.ingresses))
	}
	ing := b.ingresses["ingest"]
	if ing == nil {
		t.Fatal("no Ingress ingest")
	}
	if len(ing.Spec.TLS) == 0 {
		t.Error("the Ingress must terminate TLS")
	}
	var paths []string
	for _, r := range ing.Spec.Rules {
		if r.Host == "" || r.HTTP == nil {
			t.Errorf("rule without host or paths: %+v", r)
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service == nil || p.Backend.Service.Name != "ingest" || p.Backend.Service.Port.Name != "http" {
				t.Errorf("path %s goes to %+v, want the ingest's port http (never metrics)", p.Path, p.Backend)
			}
			if p.PathType == nil || *p.PathType != "Exact" {
				t.Errorf("path %s: want pathType Exact (nothing else of the ingest, such as /metrics, is public)", p.Path)
			}
			paths = append(paths, p.Path)
		}
	}
	slices.Sort(paths)
	if want := []string{"/epay/failure-postlink", "/epay/postlink"}; !slices.Equal(paths, want) {
		t.Errorf("Ingress paths %v, want %v", paths, want)
	}
	if ing.Spec.DefaultBackend != nil {
		t.Error("the Ingress must have no default backend")
	}
}

func TestWorker(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		s, ok := b.statefulSets["worker"]
		if !ok {
			t.Fatal("no StatefulSet worker")
		}
		if n, want := replicas(s.Spec.Replicas), map[string]int32{"dev": 1, "prod": 2}[b.name]; n != want {
			t.Errorf("replicas %d, want %d (prod: two, so that a worker lost with its node is replaced within a lease)", n, want)
		}
		if !slices.ContainsFunc(s.Spec.Template.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
			return c.TopologyKey == "kubernetes.io/hostname" && c.MaxSkew == 1 && c.WhenUnsatisfiable == corev1.DoNotSchedule &&
				selects(t, c.LabelSelector, s.Spec.Template.Labels)
		}) {
			t.Error("workers must be spread over nodes (maxSkew 1, DoNotSchedule): two lost with one node leave every shard without an owner for minutes")
		}
		c := container(t, s.Spec.Template.Spec, "worker")
		checkWorkerShards(t, c)
		for name, secret := range map[string]string{
			"EPAY_CLIENT_ID": "epay-credentials", "EPAY_CLIENT_SECRET": "epay-credentials", "EPAY_TERMINAL": "epay-credentials",
			"EPAY_SECRET_KEYS": "epay-signing-keys", "WORKER_STATUS_KEY": "worker-status-key", "WORKER_READ_KEYS": "worker-read-keys",
		} {
			checkSecretFile(t, s.Spec.Template.Spec, c, name, secret, name)
		}
		if e, ok := env(c, "POD_NAME"); !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Error("POD_NAME must come from the downward API (metadata.name): logs and shard leases name the pod")
		}
		db, ok := env(c, "WORKER_DB")
		if !ok || !path.IsAbs(db.Value) {
			t.Fatalf("WORKER_DB %q: want an absolute path on the data volume", db.Value)
		}
		checkVolumeClaim(t, s, c, "data", path.Dir(db.Value))
		if p := s.Spec.PersistentVolumeClaimRetentionPolicy; p == nil ||
			p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
			p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Error("the bbolt volumes must be retained when scaling down or deleting")
		}
		checkHeadless(t, b, s.Spec.ServiceName)
		checkPDB(t, b, s.Spec.Template.Labels, 1)
	})
}

// checkWorkerShards: the workers assign the shards among themselves (WORKER_SHARDS
// auto). A fixed list would give every pod of the StatefulSet the same shards, and
// "ordinal:R" would have to change with every scale.
func checkWorkerShards(t *testing.T, c corev1.Container) {
	t.Helper()
	if e, _ := env(c, "WORKER_SHARDS"); e.Value != "auto" {
		t.Errorf("WORKER_SHARDS=%q, want auto", e.Value)
	}
}

// checkVolumeClaim: a volumeClaimTemplate named claim with a storage request is mounted at dir.
func checkVolumeClaim(t *testing.T, s *appsv1.StatefulSet, c corev1.Container, claim, dir string) {
	t.Helper()
	i := slices.IndexFunc(s.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == claim })
	if i < 0 {
		t.Fatalf("%s: no volumeClaimTemplate %q", s.Name, claim)
	}
	pvc := s.Spec.VolumeClaimTemplates[i]
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) < 0 {
		t.Errorf("%s: claim %s requests %s, want at least 1Gi", s.Name, claim, q.String())
	}
	if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) {
		t.Errorf("%s: claim %s must be ReadWriteOnce", s.Name, claim)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == claim && m.MountPath == dir && !m.ReadOnly }) {
		t.Errorf("%s: claim %s is not mounted read-write at %s", s.Name, claim, dir)
	}
}

func checkHeadless(t *testing.T, b *build, name string) {
	t.Helper()
	svc, ok := b.services[name]
	if !ok || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %q must be a headless Service in the build", name)
	}
}

func TestNATS(t *testing.T) {
	want := map[string]int32{"dev": 1, "prod": 3}
	forEachOverlay(t, func(t *testing.T, b *build) {
		s, ok := b.statefulSets["nats"]
		if !ok {
			t.Fatal("no StatefulSet nats")
		}
		n := replicas(s.Spec.Replicas)
		if n != want[b.name] {
			t.Errorf("NATS replicas %d, want %d", n, want[b.name])
		}
		p := s.Spec.Template.Spec
		c := container(t, p, "nats")
		checkVolumeClaim(t, s, c, "data", "/data")
		checkHeadless(t, b, s.Spec.ServiceName)
		checkAntiAffinity(t, p, s.Spec.Template.Labels, true)
		checkPDB(t, b, s.Spec.Template.Labels, 1)
		for what, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if probe == nil || probe.HTTPGet == nil || !strings.HasPrefix(probe.HTTPGet.Path, "/healthz") || probe.HTTPGet.Port.String() != "monitor" {
				t.Errorf("NATS %s probe: want GET /healthz on the monitoring port", what)
			}
		}
		// A server restarted in a rollout or a drain is Ready only once its streams have
		// caught up (the full check, as nats-io's chart does): with js-enabled-only the next
		// server went while this one's R3 streams still counted on it for their quorum.
		if c.StartupProbe != nil && c.StartupProbe.HTTPGet != nil && c.StartupProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("NATS startup probe GET %s, want the full /healthz (streams and consumers current)", c.StartupProbe.HTTPGet.Path)
		}
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == "monitor" && cp.ContainerPort == 8222 }) {
			t.Error("NATS monitoring port 8222 must be named monitor")
		}
		exp := container(t, p, "exporter")
		if !slices.ContainsFunc(exp.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == "metrics" && cp.ContainerPort == 7777 }) {
			t.Error("the NATS exporter must serve metrics on 7777")
		}
		checkNATSConfig(t, configMap(t, b, "nats-config").Data["nats.conf"], int(n), s.Spec.ServiceName)
	})
}

func checkNATSConfig(t *testing.T, conf string, n int, headless string) {
	t.Helper()
	if !strings.Contains(conf, "jetstream {") || !strings.Contains(conf, "store_dir: /data/") {
		t.Error("nats.conf: want JetStream with its store on the /data volume")
	}
	routes := 0
	for i := range 10 {
		if strings.Contains(conf, fmt.Sprintf("nats://nats-%d.%s:6222", i, headless)) {
			routes++
		}
	}
	if n == 1 {
		if strings.Contains(conf, "cluster {") {
			t.Error("nats.conf: one server must not have a cluster block")
		}
		return
	}
	if !strings.Contains(conf, "cluster {") || routes != n {
		t.Errorf("nats.conf: want a cluster block with %d routes through %s, found %d", n, headless, routes)
	}
}

func TestStreamReplicasAndSettings(t *testing.T) {
	want := map[string]struct{ replicas, env string }{"dev": {"1", "test"}, "prod": {"3", "prod"}}
	forEachOverlay(t, func(t *testing.T, b *build) {
		cfg := configMap(t, b, "epayflow-config").Data
		w := want[b.name]
		if cfg["NATS_STREAM_REPLICAS"] != w.replicas {
			t.Errorf("NATS_STREAM_REPLICAS=%q, want %s", cfg["NATS_STREAM_REPLICAS"], w.replicas)
		}
		r, _ := strconv.Atoi(cfg["NATS_STREAM_REPLICAS"])
		if nats := b.statefulSets["nats"]; nats != nil && int32(r) > replicas(nats.Spec.Replicas) {
			t.Errorf("streams at R%d on %d NATS servers", r, replicas(nats.Spec.Replicas))
		}
		if cfg["EPAY_ENV"] != w.env {
			t.Errorf("EPAY_ENV=%q, want %s", cfg["EPAY_ENV"], w.env)
		}
		if s, err := strconv.Atoi(cfg["EPAY_SHARDS"]); err != nil || s < 1 || s > 1024 {
			t.Errorf("EPAY_SHARDS=%q: want 1..1024", cfg["EPAY_SHARDS"])
		}
		if p := cfg["EPAY_SECRET_HASH_POLICY"]; p != "require" && p != "accept-unverified" {
			t.Errorf("EPAY_SECRET_HASH_POLICY=%q", p)
		}
		if !strings.HasPrefix(cfg["NATS_URL"], "nats://nats:") {
			t.Errorf("NATS_URL=%q, want the nats Service", cfg["NATS_URL"])
		}
		for k, v := range cfg {
			if strings.Contains(strings.ToUpper(k), "SECRET_KEYS") || strings.Contains(k, "CLIENT_SECRET") || strings.Contains(k, "API_KEYS") {
				t.Errorf("%s=%q: secrets belong in Secrets, not in the ConfigMap", k, v)
			}
		}
	})
}
