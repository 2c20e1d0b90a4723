package k8s_test

import (
	"path"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/worker"
)

// The streams identity (NATS user streams, the only one that may create or change a
// stream or bucket) is the worker's init container's alone: `worker streams` with the
// password of Secret nats-streams, mounted into that container only. The worker's own
// container cannot read it (it mounts no volume of nats-streams, and no container but
// the init container does), so a worker's password alone, or a shell in the worker's
// container, cannot seal EPAY_INBOX or cap EPAY_STATE. The init container reads the
// settings that shape the streams from the same places as the worker's container.
func TestTheStreamsIdentityIsTheWorkersInitContainersOnly(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, b *build) {
		pod, ok := podSpec(b, "worker")
		if !ok {
			t.Fatal("no worker")
		}
		if len(pod.InitContainers) != 1 || pod.InitContainers[0].Name != "streams" {
			t.Fatalf("the worker's init containers: %d, want one named streams", len(pod.InitContainers))
		}
		ic := pod.InitContainers[0]
		if cmd := slices.Concat(ic.Command, ic.Args); len(cmd) != 2 || path.Base(cmd[0]) != "worker" || cmd[1] != "streams" {
			t.Errorf("init container streams runs %q, want worker streams", cmd)
		}
		if ic.Image != container(t, pod, "worker").Image {
			t.Errorf("init container streams: image %s, not the worker's", ic.Image)
		}
		if e, _ := env(ic, "NATS_USER"); e.Value != string(natsbus.RoleStreams) {
			t.Errorf("init container streams: NATS_USER=%q, want streams", e.Value)
		}
		e, _ := env(ic, "NATS_PASSWORD_FILE")
		if got := secretMountedAt(t, pod, ic, path.Dir(e.Value)); got != "nats-streams" {
			t.Errorf("init container streams: NATS_PASSWORD_FILE %s is not in Secret nats-streams (%q)", e.Value, got)
		}
		checkSecretFile(t, pod, ic, "NATS_PASSWORD", "nats-"+string(natsbus.RoleStreams), "password")

		// No other container of any workload mounts nats-streams; the NATS servers only its
		// key nats-server.conf (their users/streams.conf).
		for _, w := range workloads(b) {
			for _, c := range append(slices.Clone(w.pod.Spec.InitContainers), w.pod.Spec.Containers...) {
				if w.name == "worker" && c.Name == "streams" {
					continue
				}
				for _, m := range c.VolumeMounts {
					i := slices.IndexFunc(w.pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
					if i < 0 {
						continue
					}
					v := w.pod.Spec.Volumes[i]
					if v.Secret != nil && v.Secret.SecretName == "nats-streams" {
						t.Errorf("%s/%s mounts Secret nats-streams at %s: only the worker's init container may", w.name, c.Name, m.MountPath)
					}
					if v.Projected != nil {
						for _, src := range v.Projected.Sources {
							if src.Secret != nil && src.Secret.Name == "nats-streams" &&
								(w.name != "nats" || slices.ContainsFunc(src.Secret.Items, func(it corev1.KeyToPath) bool { return it.Key != natsServerConfKey })) {
								t.Errorf("%s/%s mounts Secret nats-streams (projected) at %s", w.name, c.Name, m.MountPath)
							}
						}
					}
				}
				for _, e := range c.Env {
					if strings.HasPrefix(e.Name, "WORKER_STREAMS_NATS_") {
						t.Errorf("%s/%s sets %s: the streams identity is the init container's", w.name, c.Name, e.Name)
					}
				}
			}
		}

		// The settings `worker streams` reads, the same as the worker's.
		initEnv, workerEnv := containerEnv(t, b, ic), containerEnv(t, b, container(t, pod, "worker"))
		for _, v := range worker.StreamsFlagEnvNames() {
			for _, k := range []string{v, v + "_FILE"} {
				if k == "NATS_USER" || k == "NATS_PASSWORD" || k == "NATS_PASSWORD_FILE" {
					continue
				}
				if initEnv[k] != workerEnv[k] {
					t.Errorf("%s: init container streams %q, the worker %q: `worker streams` must make what the worker checks", k, initEnv[k], workerEnv[k])
				}
			}
		}
	})
}

// containerEnv is c's environment as the kubelet sets it from ConfigMaps and values
// (envFrom, then env; a valueFrom stands as "valueFrom <its source>").
func containerEnv(t *testing.T, b *build, c corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		for k, v := range configMap(t, b, ef.ConfigMapRef.Name).Data {
			out[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			out[e.Name] = "valueFrom " + e.ValueFrom.String()
			continue
		}
		out[e.Name] = e.Value
	}
	return out
}
