#!/usr/bin/env bash
# Builds every kustomize overlay and runs the Go test that decodes each object strictly
# into the Kubernetes API types and checks probes, securityContext, resources, replicas,
# volumes, policies and monitors (deploy/k8s), plus the observability checks.
#   scripts/k8s-check.sh            (make k8s-check)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v kubectl >/dev/null 2>&1 || {
  echo "k8s-check: kubectl not found; it is part of the machine image (apt-get install kubectl)" >&2
  exit 1
}
for overlay in deploy/k8s/overlays/*/; do
  n=$(kubectl kustomize "$overlay" | grep -c '^kind:')
  echo "k8s-check: ${overlay%/} builds ($n objects)"
done
go test -count=1 ./deploy/...
