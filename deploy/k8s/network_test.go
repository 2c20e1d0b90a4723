package k8s_test

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Namespaces the policies let in: the ingress controller's and Prometheus'.
const (
	ingressControllerNS = "ingress-nginx"
	monitoringNS        = "monitoring"
)

func podLabels(b *build) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, w := range workloads(b) {
		out[w.name] = w.pod.Labels
	}
	return out
}

// policiesFor returns the NetworkPolicies that select a workload's pods.
func policiesFor(t *testing.T, b *build, lbls map[string]string) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, p := range b.policies {
		if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 || selects(t, &p.Spec.PodSelector, lbls) {
			out = append(out, p)
		}
	}
	return out
}

// portAllows: a policy port entry lets port (by number or by the pod's port name) through.
func portAllows(ports []networkingv1.NetworkPolicyPort, number int32, name string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.Int && p.Port.IntVal == number || p.Port.Type == intstr.String && p.Port.StrVal == name {
			return true
		}
	}
	return false
}

// reachesNamespace: a peer lets in pods of namespace ns (matched by its
// kubernetes.io/metadata.name label), an empty namespaceSelector (every namespace) included.
func reachesNamespace(t *testing.T, peer networkingv1.NetworkPolicyPeer, ns string) bool {
	t.Helper()
	if peer.NamespaceSelector == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
	if err != nil {
		t.Fatalf("bad namespaceSelector %v: %v", peer.NamespaceSelector, err)
	}
	return s.Matches(labels.Set{"kubernetes.io/metadata.name": ns})
}

func namespaceName(peer networkingv1.NetworkPolicyPeer) string {
	if peer.NamespaceSelector == nil {
		return ""
	}
	return peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
}

func TestNetworkPolicies(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		deny, ok := b.policies["default-deny"]
		if !ok || len(deny.Spec.PodSelector.MatchLabels)+len(deny.Spec.PodSelector.MatchExpressions) != 0 ||
			!slices.Contains(deny.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) ||
			!slices.Contains(deny.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) ||
			len(deny.Spec.Ingress)+len(deny.Spec.Egress) != 0 {
			t.Fatal("want a default-deny policy: every pod, ingress and egress, no rule")
		}
		pods := podLabels(b)
		for name, lbls := range pods {
			t.Run(name, func(t *testing.T) { checkPodPolicies(t, b, name, lbls, pods) })
		}
	})
}

func checkPodPolicies(t *testing.T, b *build, name string, lbls map[string]string, pods map[string]map[string]string) {
	t.Helper()
	var dns, scrape, fromIngress, natsEgress bool
	for _, p := range policiesFor(t, b, lbls) {
		for _, rule := range p.Spec.Egress {
			for _, peer := range rule.To {
				if namespaceName(peer) == "kube-system" && portAllows(rule.Ports, 53, "") {
					dns = true
				}
				if peer.PodSelector != nil && peer.NamespaceSelector == nil && selects(t, peer.PodSelector, pods["nats"]) && portAllows(rule.Ports, 4222, "client") {
					natsEgress = true
				}
			}
		}
		for _, rule := range p.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.IPBlock != nil {
					t.Errorf("policy %s lets in an IP block: only the ingress controller reaches the ingest from outside", p.Name)
				}
				if reachesNamespace(t, peer, monitoringNS) {
					scrape = scrape || checkMonitoringPorts(t, b, p.Name, name, rule.Ports)
				}
				if namespaceName(peer) == ingressControllerNS {
					fromIngress = true
				}
				// Another namespace reaches NATS's client port only when labelled for the
				// merchants' subscribers (the NATS user subscriber: payments.> read only), and
				// never the cluster routes.
				readers := peer.NamespaceSelector != nil && peer.PodSelector == nil &&
					maps.Equal(peer.NamespaceSelector.MatchLabels, map[string]string{"epayflow.io/payment-events-reader": "true"}) &&
					len(peer.NamespaceSelector.MatchExpressions) == 0 && !portAllows(rule.Ports, 6222, "cluster")
				if name == "nats" && peer.NamespaceSelector != nil && !readers &&
					(portAllows(rule.Ports, 4222, "client") || portAllows(rule.Ports, 6222, "cluster")) {
					t.Errorf("policy %s lets another namespace reach NATS", p.Name)
				}
				if name == "nats" && portAllows(rule.Ports, 4222, "client") && !readers {
					checkNATSClients(t, b, p.Name, peer, pods)
				}
			}
		}
	}
	if !dns {
		t.Error("no egress to cluster DNS")
	}
	if !scrape {
		t.Errorf("Prometheus (namespace %s) may not reach its metrics port", monitoringNS)
	}
	if fromIngress != (name == "ingest") {
		t.Errorf("reachable from the ingress controller: %v; only the ingest must be", fromIngress)
	}
	if _, ours := services[name]; ours && !natsEgress {
		t.Error("may not reach NATS on 4222")
	}
}

// checkNATSClients: a peer allowed to NATS's client port selects exactly our three services.
func checkNATSClients(t *testing.T, b *build, policy string, peer networkingv1.NetworkPolicyPeer, pods map[string]map[string]string) {
	t.Helper()
	if peer.PodSelector == nil {
		t.Errorf("policy %s opens NATS 4222 to every pod", policy)
		return
	}
	var clients []string
	for name, lbls := range pods {
		if selects(t, peer.PodSelector, lbls) {
			clients = append(clients, name)
		}
	}
	slices.Sort(clients)
	if want := []string{"ingest", "initiator", "webhooks", "worker"}; !slices.Equal(clients, want) && !slices.Equal(clients, []string{"nats"}) {
		t.Errorf("policy %s lets %v reach NATS 4222, want %v", policy, clients, want)
	}
}

func TestOnlyIngestIsExposed(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		for _, s := range b.services {
			if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("Service %s is %s: only the ingest's Ingress is reachable from outside", s.Name, s.Spec.Type)
			}
		}
		for name, ing := range b.ingresses {
			if name != "ingest" {
				t.Errorf("Ingress %s: only the ingest is reachable from outside", ing.Name)
			}
		}
	})
}

func TestServicesSelectTheirPods(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		for _, s := range b.services {
			var matched []workload
			for _, w := range workloads(b) {
				if selects(t, metav1Selector(s.Spec.Selector), w.pod.Labels) {
					matched = append(matched, w)
				}
			}
			if len(matched) != 1 {
				t.Errorf("Service %s selects %d workloads, want 1", s.Name, len(matched))
				continue
			}
			for _, sp := range s.Spec.Ports {
				if !hasPort(matched[0].pod.Spec, sp.TargetPort) {
					t.Errorf("Service %s port %s: targetPort %s is not a container port of %s", s.Name, sp.Name, sp.TargetPort.String(), matched[0].name)
				}
			}
		}
	})
}

// targetsMetrics: a Service's targetPort is the pod's container port named metrics.
func targetsMetrics(p corev1.PodSpec, target intstr.IntOrString) bool {
	for _, c := range p.Containers {
		for _, cp := range c.Ports {
			if cp.Name == "metrics" {
				return target.Type == intstr.String && target.StrVal == "metrics" || target.Type == intstr.Int && target.IntVal == cp.ContainerPort
			}
		}
	}
	return false
}

func hasPort(p corev1.PodSpec, target intstr.IntOrString) bool {
	for _, c := range p.Containers {
		for _, cp := range c.Ports {
			if target.Type == intstr.String && cp.Name == target.StrVal || target.Type == intstr.Int && cp.ContainerPort == target.IntVal {
				return true
			}
		}
	}
	return false
}

func TestServiceMonitors(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		scraped := map[string]bool{}
		for _, m := range b.monitors {
			var matched []*corev1.Service
			for _, s := range b.services {
				if selects(t, &m.Spec.Selector, s.Labels) {
					matched = append(matched, s)
				}
			}
			if len(matched) != 1 {
				t.Errorf("ServiceMonitor %s selects %d Services, want exactly 1 (each pod scraped once)", m.Name, len(matched))
				continue
			}
			svc := matched[0]
			if len(m.Spec.Endpoints) == 0 {
				t.Errorf("ServiceMonitor %s has no endpoint", m.Name)
			}
			for _, e := range m.Spec.Endpoints {
				if e.Path != "/metrics" || e.Interval == "" {
					t.Errorf("ServiceMonitor %s: endpoint %+v, want path /metrics and an interval", m.Name, e)
				}
				i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port })
				if i < 0 {
					t.Errorf("ServiceMonitor %s: Service %s has no port %q", m.Name, svc.Name, e.Port)
					continue
				}
				// The port monitoring may reach (TestNetworkPolicies): the listener for
				// /metrics alone, never the service's own port.
				if e.Port != "metrics" {
					t.Errorf("ServiceMonitor %s scrapes port %q, want metrics", m.Name, e.Port)
				}
				for _, w := range workloads(b) {
					if selects(t, metav1Selector(svc.Spec.Selector), w.pod.Labels) && !targetsMetrics(w.pod.Spec, svc.Spec.Ports[i].TargetPort) {
						t.Errorf("ServiceMonitor %s: Service %s port %s targets %s, not %s's container port named metrics",
							m.Name, svc.Name, e.Port, svc.Spec.Ports[i].TargetPort.String(), w.name)
					}
				}
			}
			for _, w := range workloads(b) {
				if selects(t, metav1Selector(svc.Spec.Selector), w.pod.Labels) {
					scraped[w.name] = true
				}
			}
		}
		for _, w := range []string{"ingest", "worker", "initiator", "webhooks", "nats"} {
			if !scraped[w] {
				t.Errorf("no ServiceMonitor scrapes %s", w)
			}
		}
		if len(b.rules) != 1 || len(b.rules[0].Spec.Groups) == 0 {
			t.Fatalf("want one PrometheusRule with groups, got %d", len(b.rules))
		}
		for _, g := range b.rules[0].Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" && !strings.Contains(r.Annotations["runbook_url"], "RUNBOOK.md#") {
					t.Errorf("alert %s has no runbook_url", r.Alert)
				}
			}
		}
	})
}

// TestReferencesResolve: every ConfigMap a pod uses is in the build, and every Secret key
// it uses (in its environment or as a file) is one secrets/secret.example.yaml documents
// (the Secrets themselves are not in the build).
func TestReferencesResolve(t *testing.T) {
	example := exampleSecrets(t)
	forEachOverlay(t, func(t *testing.T, b *build) {
		for _, w := range workloads(b) {
			p := w.pod.Spec
			secretKeys := func(vol, name string, items []corev1.KeyToPath) {
				keys, ok := example[name]
				if !ok {
					t.Errorf("%s: volume %s uses Secret %s, not documented in secrets/secret.example.yaml", w.name, vol, name)
				}
				for _, it := range items {
					if !keys[it.Key] {
						t.Errorf("%s: volume %s uses key %s of Secret %s, not documented in secrets/secret.example.yaml", w.name, vol, it.Key, name)
					}
				}
			}
			for _, v := range p.Volumes {
				if v.ConfigMap != nil {
					if _, ok := b.configMaps[v.ConfigMap.Name]; !ok {
						t.Errorf("%s: volume %s uses ConfigMap %s, not in the build", w.name, v.Name, v.ConfigMap.Name)
					}
				}
				if v.Secret != nil {
					secretKeys(v.Name, v.Secret.SecretName, v.Secret.Items)
				}
				if v.Projected != nil {
					for _, src := range v.Projected.Sources {
						if src.ConfigMap != nil {
							if _, ok := b.configMaps[src.ConfigMap.Name]; !ok {
								t.Errorf("%s: volume %s projects ConfigMap %s, not in the build", w.name, v.Name, src.ConfigMap.Name)
							}
						}
						if src.Secret != nil {
							secretKeys(v.Name, src.Secret.Name, src.Secret.Items)
						}
					}
				}
			}
			for _, c := range p.Containers {
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil {
						if _, ok := b.configMaps[ef.ConfigMapRef.Name]; !ok {
							t.Errorf("%s: envFrom ConfigMap %s not in the build", w.name, ef.ConfigMapRef.Name)
						}
					}
					if ef.SecretRef != nil {
						t.Errorf("%s: envFrom a whole Secret; reference each key", w.name)
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						continue
					}
					ref := e.ValueFrom.SecretKeyRef
					if keys, ok := example[ref.Name]; !ok || !keys[ref.Key] {
						t.Errorf("%s: env %s uses secret %s key %s, not documented in secrets/secret.example.yaml", w.name, e.Name, ref.Name, ref.Key)
					}
				}
			}
		}
	})
}

func exampleSecrets(t *testing.T) map[string]map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("secrets/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitYAML(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, doc := range docs {
		o, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("secret.example.yaml: %v", err)
		}
		s, ok := o.(*corev1.Secret)
		if !ok {
			t.Fatalf("secret.example.yaml holds a %T", o)
		}
		out[s.Name] = map[string]bool{}
		for k := range s.StringData {
			out[s.Name][k] = true
		}
	}
	return out
}

// TestSecretExampleIsNotDeployed: the example sits beside the kustomizations, never in one.
func TestSecretExampleIsNotDeployed(t *testing.T) {
	for _, kz := range []string{"base/kustomization.yaml", "overlays/dev/kustomization.yaml", "overlays/prod/kustomization.yaml"} {
		raw, err := os.ReadFile(kz)
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Resources       []string `json:"resources"`
			SecretGenerator []any    `json:"secretGenerator"`
		}
		if err := yaml.Unmarshal(raw, &k); err != nil {
			t.Fatalf("%s: %v", kz, err)
		}
		for _, r := range k.Resources {
			if strings.Contains(r, "secret") {
				t.Errorf("%s deploys %s: secrets are referenced, never committed", kz, r)
			}
		}
		if len(k.SecretGenerator) > 0 {
			t.Errorf("%s generates Secrets: secrets are referenced, never committed", kz)
		}
	}
}

func metav1Selector(m map[string]string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: m}
}

// checkMonitoringPorts: every workload has a port named metrics (a listener for /metrics
// alone: the ingest's, the initiator's and the worker's *_METRICS_ADDR, NATS's exporter),
// and it is the only port of the workload the monitoring namespace may reach: a rule
// letting that namespace in names the metrics port, by name or number, and nothing else
// (not every port, not a range, never http: the callbacks, the payments API or the
// worker's read API). It reports whether the rule lets the metrics port through.
func checkMonitoringPorts(t *testing.T, b *build, policy, name string, ports []networkingv1.NetworkPolicyPort) bool {
	t.Helper()
	pod, ok := podSpec(b, name)
	if !ok {
		t.Errorf("policy %s: no workload %s", policy, name)
		return false
	}
	var metrics []corev1.ContainerPort
	for _, c := range pod.Containers {
		for _, cp := range c.Ports {
			if cp.Name == "metrics" {
				metrics = append(metrics, cp)
			}
		}
	}
	if len(metrics) != 1 {
		t.Errorf("%s has %d container ports named metrics, want 1 (a listener for /metrics alone)", name, len(metrics))
		return false
	}
	mp := metrics[0].ContainerPort
	if len(ports) == 0 {
		t.Errorf("policy %s opens every port of %s to namespace %s: only its metrics port (%d) may be", policy, name, monitoringNS, mp)
		return false
	}
	for _, p := range ports {
		switch {
		case p.Port == nil:
			t.Errorf("policy %s opens every port of %s to namespace %s: only its metrics port (%d) may be", policy, name, monitoringNS, mp)
		case p.EndPort != nil:
			t.Errorf("policy %s opens %s's ports %s-%d to namespace %s: only its metrics port (%d) may be", policy, name, p.Port.String(), *p.EndPort, monitoringNS, mp)
		case p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP:
			t.Errorf("policy %s opens %s's port %s over %s to namespace %s: want TCP", policy, name, p.Port.String(), *p.Protocol, monitoringNS)
		case p.Port.Type == intstr.String && p.Port.StrVal == "metrics", p.Port.Type == intstr.Int && p.Port.IntVal == mp:
		default:
			t.Errorf("policy %s opens %s's port %s to namespace %s: only its metrics port (%d) may be", policy, name, p.Port.String(), monitoringNS, mp)
		}
	}
	for _, c := range pod.Containers {
		for _, cp := range c.Ports {
			if cp.Name != "metrics" && portAllows(ports, cp.ContainerPort, cp.Name) {
				t.Errorf("policy %s opens %s's port %s (%d) to namespace %s: only its metrics port may be", policy, name, cp.Name, cp.ContainerPort, monitoringNS)
			}
		}
	}
	return portAllows(ports, mp, "metrics")
}
