// Package k8s_test builds each kustomize overlay with `kubectl kustomize`, decodes every
// object strictly into the Kubernetes API types (an unknown or misspelt field is an
// error) and checks the properties issue 8 asks for: probes, securityContext, resources,
// replicas, volumes, PodDisruptionBudgets, HPAs, NetworkPolicies, ServiceMonitors and the
// settings that must agree between objects.
package k8s_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// overlays are the deployable builds, by name.
var overlays = []string{"dev", "prod"}

// ServiceMonitor is the part of monitoring.coreos.com/v1 we write; decoding is strict,
// so a field outside it fails the test rather than being ignored.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// PrometheusRule is the part of monitoring.coreos.com/v1 we write.
type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval,omitempty"`
			Rules    []struct {
				Alert       string            `json:"alert,omitempty"`
				Record      string            `json:"record,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// newObject returns an empty object of the Go type for apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Pod":
		return &corev1.Pod{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}, nil
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &ServiceMonitor{}, nil
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &PrometheusRule{}, nil
	}
	return nil, fmt.Errorf("no Go type for %s %s: add it to newObject", apiVersion, kind)
}

// decodeStrict decodes one YAML document into the API type its apiVersion and kind name.
func decodeStrict(doc []byte) (any, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, err
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data", tm.Kind)
	}
	return obj, nil
}

// splitYAML cuts a multi-document YAML stream into documents, dropping empty ones.
func splitYAML(stream []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) > 0 && strings.TrimSpace(string(doc)) != "---" {
			docs = append(docs, doc)
		}
	}
}

// build is one overlay's objects, indexed by type and name.
type build struct {
	name            string
	all             []any
	namespaces      []*corev1.Namespace
	configMaps      map[string]*corev1.ConfigMap
	secrets         []*corev1.Secret
	services        map[string]*corev1.Service
	serviceAccounts map[string]*corev1.ServiceAccount
	deployments     map[string]*appsv1.Deployment
	statefulSets    map[string]*appsv1.StatefulSet
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs            map[string]*policyv1.PodDisruptionBudget
	policies        map[string]*networkingv1.NetworkPolicy
	ingresses       map[string]*networkingv1.Ingress
	monitors        map[string]*ServiceMonitor
	rules           []*PrometheusRule
}

func index(name string, objs []any) (*build, error) {
	b := &build{
		name: name, all: objs,
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		deployments:     map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		policies: map[string]*networkingv1.NetworkPolicy{}, ingresses: map[string]*networkingv1.Ingress{},
		monitors: map[string]*ServiceMonitor{},
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Namespace:
			b.namespaces = append(b.namespaces, o)
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *corev1.Secret:
			b.secrets = append(b.secrets, o)
		case *corev1.Service:
			b.services[o.Name] = o
		case *corev1.ServiceAccount:
			b.serviceAccounts[o.Name] = o
		case *appsv1.Deployment:
			b.deployments[o.Name] = o
		case *appsv1.StatefulSet:
			b.statefulSets[o.Name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			b.hpas[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			b.pdbs[o.Name] = o
		case *networkingv1.NetworkPolicy:
			b.policies[o.Name] = o
		case *networkingv1.Ingress:
			b.ingresses[o.Name] = o
		case *ServiceMonitor:
			b.monitors[o.Name] = o
		case *PrometheusRule:
			b.rules = append(b.rules, o)
		default:
			return nil, fmt.Errorf("unindexed %T", o)
		}
	}
	return b, nil
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// mustBuild runs `kubectl kustomize` on an overlay once per test binary and decodes it.
func mustBuild(t *testing.T, overlay string) *build {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if b, ok := builds[overlay]; ok {
		return b
	}
	out := kustomize(t, filepath.Join("overlays", overlay))
	docs, err := splitYAML(out)
	if err != nil {
		t.Fatalf("overlay %s: split: %v", overlay, err)
	}
	var objs []any
	for i, doc := range docs {
		o, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("overlay %s: document %d: %v\n%s", overlay, i+1, err, doc)
		}
		objs = append(objs, o)
	}
	b, err := index(overlay, objs)
	if err != nil {
		t.Fatal(err)
	}
	builds[overlay] = b
	return b
}

func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found in PATH: it is part of the machine image (apt package kubectl; .ci/run installs it); `kubectl kustomize` builds the overlays")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	doc := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 3\n")
	if _, err := decodeStrict(doc); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("decodeStrict accepted a misspelt field: %v", err)
	}
	doc = []byte("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: x\n")
	if _, err := decodeStrict(doc); err == nil {
		t.Fatal("decodeStrict accepted an unknown kind")
	}
}

func TestOverlaysBuild(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			b := mustBuild(t, o)
			if len(b.all) == 0 {
				t.Fatal("empty build")
			}
			if len(b.namespaces) != 1 {
				t.Fatalf("want exactly one Namespace, got %d", len(b.namespaces))
			}
			if len(b.secrets) != 0 {
				t.Errorf("the build contains %d Secret(s): secrets are referenced, never committed", len(b.secrets))
			}
		})
	}
}
