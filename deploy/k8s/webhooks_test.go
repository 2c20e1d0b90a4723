package k8s_test

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// privateRanges are the addresses a webhook delivery must never reach through the
// network (the service's SSRF guard refuses them too).
var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"}

// TestWebhooksReachOnlyWhatTheyNeed: the webhooks pods may reach NATS, DNS and public
// addresses on 443 (the merchants' endpoints), nothing else; they are reached only by
// the merchant's clients on the API port and by monitoring on the metrics port; and no
// overlay lets deliveries reach private addresses or plain http.
func TestWebhooksReachOnlyWhatTheyNeed(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		pods := podLabels(b)
		lbls, ok := pods["webhooks"]
		if !ok {
			t.Fatal("no webhooks workload")
		}
		var internet bool
		for _, p := range policiesFor(t, b, lbls) {
			for _, rule := range p.Spec.Egress {
				for _, peer := range rule.To {
					switch {
					case namespaceName(peer) == "kube-system" && portAllows(rule.Ports, 53, "") && !portAllows(rule.Ports, 443, ""):
					case peer.PodSelector != nil && peer.NamespaceSelector == nil && selects(t, peer.PodSelector, pods["nats"]) &&
						onlyPorts(rule.Ports, 4222):
					case peer.IPBlock != nil && peer.IPBlock.CIDR == "0.0.0.0/0" && containsAll(peer.IPBlock.Except, privateRanges) &&
						onlyPorts(rule.Ports, 443):
						internet = true
					default:
						t.Errorf("policy %s lets the webhooks reach %+v on %v", p.Name, peer, rule.Ports)
					}
				}
			}
			for _, rule := range p.Spec.Ingress {
				for _, peer := range rule.From {
					switch {
					case reachesNamespace(t, peer, monitoringNS) && onlyPorts(rule.Ports, 0, "metrics"):
					case (peer.PodSelector != nil && peer.PodSelector.MatchLabels["epayflow.io/initiator-client"] == "true" ||
						peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["epayflow.io/initiator-client"] == "true") &&
						onlyPorts(rule.Ports, 8084):
					default:
						t.Errorf("policy %s lets %+v reach the webhooks on %v", p.Name, peer, rule.Ports)
					}
				}
			}
		}
		if !internet {
			t.Error("the webhooks may not reach the merchants' endpoints (public addresses, 443)")
		}
		cm := configMap(t, b, "epayflow-config")
		pod, _ := podSpec(b, "webhooks")
		c := container(t, pod, "webhooks")
		for _, v := range []string{"WEBHOOKS_ALLOW_PRIVATE", "WEBHOOKS_ALLOW_HTTP"} {
			_, inPod := env(c, v)
			if _, inConfig := cm.Data[v]; inPod || inConfig {
				t.Errorf("%s is set: deliveries must reach public https:// addresses only", v)
			}
		}
		checkSecretFile(t, pod, c, "WEBHOOKS_API_KEYS", "webhooks-api-keys", "WEBHOOKS_API_KEYS")
		// the service refuses to start in prod without them (webhooks.Config.validateEnv)
		if cm.Data["EPAY_ENV"] == "prod" {
			checkSecretFile(t, pod, c, "WEBHOOKS_EVENTS_PUBLIC_KEYS", "webhooks-api-keys", "WEBHOOKS_EVENTS_PUBLIC_KEYS")
			checkSecretFile(t, pod, c, "WEBHOOKS_SECRETS_KEY", "webhooks-api-keys", "WEBHOOKS_SECRETS_KEY")
		}
		if r := cm.Data["WEBHOOKS_REPLICAS"]; r != cm.Data["NATS_STREAM_REPLICAS"] {
			t.Errorf("WEBHOOKS_REPLICAS %q, want the streams' %q: the bucket holds the endpoints' secrets", r, cm.Data["NATS_STREAM_REPLICAS"])
		}
	})
}

// onlyPorts: the rule names ports, each one of numbers (or of the names).
func onlyPorts(ports []networkingv1.NetworkPolicyPort, number int32, names ...string) bool {
	if len(ports) == 0 {
		return false
	}
	for _, p := range ports {
		if p.Port == nil || p.EndPort != nil || p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			return false
		}
		if !(p.Port.IntVal == number && p.Port.StrVal == "" || p.Port.StrVal != "" && slices.Contains(names, p.Port.StrVal)) {
			return false
		}
	}
	return true
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// The webhooks Deployment runs one process at a time, in every overlay: a second one
// sharing the consumer (a replica, or a rolling update's surge) could send a newer event
// of an invoice before the ones a dying process held (docs/WEBHOOKS.md).
func TestWebhooksRunsOneProcessAtATime(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		d, ok := b.deployments["webhooks"]
		if !ok {
			t.Fatal("no Deployment webhooks")
		}
		if n := replicas(d.Spec.Replicas); n != 1 {
			t.Errorf("replicas %d, want 1", n)
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("strategy %q, want Recreate (a rolling update runs two processes at once)", d.Spec.Strategy.Type)
		}
		if h, ok := b.hpas["webhooks"]; ok {
			t.Errorf("an HPA %s scales webhooks", h.Name)
		}
	})
}
