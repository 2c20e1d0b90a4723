package k8s_test

import (
	"path"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// natsBoxBuild builds a nats-box kustomization (deploy/k8s/tools for dev,
// overlays/prod/nats-box for prod) and returns its one Pod.
func natsBoxBuild(t *testing.T, dir string) *corev1.Pod {
	t.Helper()
	docs, err := splitYAML(kustomize(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%s: %d objects, want the nats-box Pod alone", dir, len(docs))
	}
	o, err := decodeStrict(docs[0])
	if err != nil {
		t.Fatal(err)
	}
	pod, ok := o.(*corev1.Pod)
	if !ok || pod.Name != "nats-box" {
		t.Fatalf("%s: holds a %T, want Pod nats-box", dir, o)
	}
	for _, c := range pod.Spec.Containers {
		checkContainerSecurity(t, c)
		checkResources(t, c)
		checkImage(t, c)
	}
	return pod
}

// TestNATSBoxTrustsTheNATSCAInProd: the runbook's nats commands carry no --tlsca, so the
// prod nats-box must give the CLI NATS_CA: the ca.crt of the very Secret the prod services
// verify NATS with, mounted where NATS_CA points, and required. The dev one sets none (dev's
// NATS has no TLS, and the CLI refuses a CA file that does not exist).
func TestNATSBoxTrustsTheNATSCAInProd(t *testing.T) {
	env := func(c corev1.Container, name string) (string, bool) {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value, true
			}
		}
		return "", false
	}
	dev := natsBoxBuild(t, "tools")
	if v, ok := env(dev.Spec.Containers[0], "NATS_CA"); ok {
		t.Errorf("deploy/k8s/tools: NATS_CA=%q in dev, where NATS has no TLS", v)
	}

	// The Secret of the CA the prod services verify NATS with.
	var caSecret string
	for _, w := range workloads(mustBuild(t, "prod")) {
		for _, c := range w.pod.Spec.Containers {
			if _, ok := env(c, "NATS_CA"); !ok {
				continue
			}
			for _, v := range w.pod.Spec.Volumes {
				if v.Name == "nats-ca" && v.Secret != nil {
					caSecret = v.Secret.SecretName
				}
			}
		}
	}
	if caSecret == "" {
		t.Fatal("prod: no service has NATS_CA from a volume nats-ca: the test is stale")
	}

	prod := natsBoxBuild(t, "overlays/prod/nats-box")
	c := prod.Spec.Containers[0]
	ca, ok := env(c, "NATS_CA")
	if !ok {
		t.Fatal("overlays/prod/nats-box: no NATS_CA: the runbook's nats commands fail the TLS handshake")
	}
	for _, name := range []string{"NATS_URL", "NATS_USER", "NATS_PASSWORD"} {
		if _, ok := env(c, name); !ok {
			t.Errorf("overlays/prod/nats-box: %s lost by the patch", name)
		}
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if path.Dir(ca) == m.MountPath {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("NATS_CA=%s: no volume mounted at %s", ca, path.Dir(ca))
	}
	for _, v := range prod.Spec.Volumes {
		if v.Name != mount.Name {
			continue
		}
		switch {
		case v.Secret == nil || v.Secret.SecretName != caSecret:
			t.Errorf("NATS_CA=%s: volume %s is not Secret %s, the one the services verify NATS with", ca, v.Name, caSecret)
		case v.Secret.Optional == nil || *v.Secret.Optional:
			t.Errorf("volume %s: optional in prod, where NATS_CA requires its file", v.Name)
		default:
			found := false
			for _, it := range v.Secret.Items {
				found = found || it.Key == "ca.crt" && it.Path == path.Base(ca)
			}
			if !found {
				t.Errorf("volume %s: no item ca.crt at %s", v.Name, path.Base(ca))
			}
		}
		return
	}
	t.Errorf("no volume %s in the pod", mount.Name)
}
