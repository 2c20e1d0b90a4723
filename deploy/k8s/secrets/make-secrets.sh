#!/usr/bin/env bash
# Prints the three Secrets the epayflow workloads reference, as YAML, for
#   deploy/k8s/secrets/make-secrets.sh NAMESPACE | kubectl apply -f -
# Values come from the environment; nothing is written to disk. Missing signing or API keys
# are generated; read them back from the cluster to store them in your secret manager:
#   kubectl -n NAMESPACE get secret epay-signing-keys -o jsonpath='{.data.EPAY_SECRET_KEYS}' | base64 -d
#
#   EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL   required (from Halyk ePay)
#   EPAY_SECRET_KEYS    optional, KID:secret[,KID:secret...]; default: one new key "A"
#   INITIATOR_API_KEYS  optional, comma-separated; default: one new key
set -euo pipefail

ns=${1:?usage: make-secrets.sh NAMESPACE  (with EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL set)}
: "${EPAY_CLIENT_ID:?set EPAY_CLIENT_ID}"
: "${EPAY_CLIENT_SECRET:?set EPAY_CLIENT_SECRET}"
: "${EPAY_TERMINAL:?set EPAY_TERMINAL}"

random() { head -c 32 /dev/urandom | base64 | tr -d '\n=+/' ; }

if [ -z "${EPAY_SECRET_KEYS:-}" ]; then
  EPAY_SECRET_KEYS="A:$(random)"
  echo "make-secrets: generated a new signing key A" >&2
fi
if [ -z "${INITIATOR_API_KEYS:-}" ]; then
  INITIATOR_API_KEYS="$(random)"
  echo "make-secrets: generated a new INITIATOR_API_KEYS key" >&2
fi

secret() { # name key=value...
  local name=$1; shift
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl create secret generic "$name" --namespace "$ns" "${args[@]}" --dry-run=client -o yaml
  echo '---'
}

secret epay-credentials \
  "EPAY_CLIENT_ID=$EPAY_CLIENT_ID" "EPAY_CLIENT_SECRET=$EPAY_CLIENT_SECRET" "EPAY_TERMINAL=$EPAY_TERMINAL"
secret epay-signing-keys "EPAY_SECRET_KEYS=$EPAY_SECRET_KEYS"
secret initiator-api-keys "INITIATOR_API_KEYS=$INITIATOR_API_KEYS"
