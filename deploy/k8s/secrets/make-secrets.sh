#!/usr/bin/env bash
# Prints the Secrets the epayflow workloads reference, as YAML, for
#   deploy/k8s/secrets/make-secrets.sh NAMESPACE | kubectl create -f -
# Values come from the environment; nothing is written to disk. Missing keys and passwords
# are generated; read them back from the cluster to store them in your secret manager:
#   kubectl -n NAMESPACE get secret epay-signing-keys -o jsonpath='{.data.EPAY_SECRET_KEYS}' | base64 -d
# `kubectl create` never replaces a Secret: run again, it makes only the missing ones.
# Every run generates NEW values for what the environment does not give, so piping it into
# `kubectl apply` replaces them all: a rotation of every key at once, which breaks what the
# old keys signed and sealed unless they are passed in (docs/DEPLOY.md, "Deploy" and
# "Rotate NATS passwords").
#
#   EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL   required (from Halyk ePay)
#   EPAY_SECRET_KEYS    optional, KID:secret[,KID:secret...]; default: one new key "A"
#   INITIATOR_API_KEYS  optional, comma-separated; default: one new key (payments and reads)
#   INITIATOR_OPERATE_KEYS optional, comma-separated; default: one new key (these also refund,
#                       charge and cancel: give them only to the backends that must)
#   WORKER_STATUS_KEY   optional; default: a new key (the HMAC of the worker's status answers)
#   WORKER_STATUS_KEY_PREVIOUS optional, comma-separated; default: none (the keys of before a
#                       rotation of WORKER_STATUS_KEY, which still verify: docs/DEPLOY.md)
#   WEBHOOKS_API_KEYS   optional, comma-separated (16+ characters each); default: one new key
#   WEBHOOKS_SECRETS_KEY optional, base64 of 32 bytes; default: a new key (seals the endpoints'
#                       signing secrets in EPAY_WEBHOOKS; a new one makes the sealed ones unreadable)
#   WORKER_EVENTS_KEY   optional, whsk_<base64 Ed25519 seed>; default: a new key. Its public key
#                       (WEBHOOKS_EVENTS_PUBLIC_KEYS, made with openssl) is printed on stderr
#                       for the merchants' subscribers, and given to the webhooks service
#   INITIATOR_WORKER_KEY optional; default: a new key. WORKER_READ_KEYS is built from it
#                       (initiator:operate:KEY: it reads, and makes the merchants' refunds, charges, cancels) unless given
#   WORKER_OPERATOR_KEY optional (16+ characters); default: a new key. WORKER_READ_KEYS gets it
#                       as ops:operator:KEY, the on-call's key of the worker API: it reads and
#                       resolves the invoices that need a human (docs/RUNBOOK.md, EpayflowReviewRising)
#   WORKER_READ_KEYS    optional, name:scope:key[,...]; default: the two entries above. Given,
#                       it is taken as it is (INITIATOR_WORKER_KEY's entry must be in it) and
#                       WORKER_OPERATOR_KEY is not used
#   NATS_INGEST_PASSWORD, NATS_INITIATOR_PASSWORD, NATS_WORKER_PASSWORD,
#   NATS_SUBSCRIBER_PASSWORD, NATS_ADMIN_PASSWORD, NATS_DLQ_PASSWORD,
#   NATS_WEBHOOKS_PASSWORD, NATS_STREAMS_PASSWORD   optional; default: new passwords
#
# The services read every secret from a file (the workloads mount these Secrets and set
# X_FILE). Each NATS user has a Secret nats-<role> with two keys holding the same
# password: "password" (mounted into that service only) and "nats-server.conf" (mounted
# into the NATS servers, included by authorization.conf). nats-subscriber is for the
# merchants' systems (read payments.> only); nats-admin for operators (nats-box); nats-dlq
# for `worker dlq` (read, delete and replay DLQ entries), mounted in the worker's pod;
# nats-webhooks for the webhooks service (PAYMENT_EVENTS and its EPAY_WEBHOOKS bucket);
# nats-streams for `worker streams`, the worker's init container, the only identity that
# may create or change a stream or bucket (never mounted into the worker's own container).
set -euo pipefail

ns=${1:?usage: make-secrets.sh NAMESPACE  (with EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL set)}
: "${EPAY_CLIENT_ID:?set EPAY_CLIENT_ID}"
: "${EPAY_CLIENT_SECRET:?set EPAY_CLIENT_SECRET}"
: "${EPAY_TERMINAL:?set EPAY_TERMINAL}"

# 32 random bytes, base64 without + / = : letters and digits only, safe in nats.conf quotes.
random() { head -c 32 /dev/urandom | base64 | tr -d '\n=+/' ; }

if [ -z "${EPAY_SECRET_KEYS:-}" ]; then
  EPAY_SECRET_KEYS="A:$(random)"
  echo "make-secrets: generated a new signing key A" >&2
fi
if [ -z "${INITIATOR_API_KEYS:-}" ]; then
  INITIATOR_API_KEYS="$(random)"
  echo "make-secrets: generated a new INITIATOR_API_KEYS key" >&2
fi
if [ -z "${INITIATOR_OPERATE_KEYS:-}" ]; then
  INITIATOR_OPERATE_KEYS="$(random)"
  echo "make-secrets: generated a new INITIATOR_OPERATE_KEYS key" >&2
fi
if [ -z "${WORKER_STATUS_KEY:-}" ]; then
  WORKER_STATUS_KEY="$(random)"
  echo "make-secrets: generated a new WORKER_STATUS_KEY" >&2
fi
if [ -z "${INITIATOR_WORKER_KEY:-}" ]; then
  INITIATOR_WORKER_KEY="$(random)"
  echo "make-secrets: generated a new INITIATOR_WORKER_KEY" >&2
fi
if [ -z "${WEBHOOKS_API_KEYS:-}" ]; then
  WEBHOOKS_API_KEYS="$(random)"
  echo "make-secrets: generated a new WEBHOOKS_API_KEYS key" >&2
fi
if [ -z "${WEBHOOKS_SECRETS_KEY:-}" ]; then
  WEBHOOKS_SECRETS_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  echo "make-secrets: generated a new WEBHOOKS_SECRETS_KEY" >&2
fi
if [ -z "${WORKER_EVENTS_KEY:-}" ]; then
  WORKER_EVENTS_KEY="whsk_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  echo "make-secrets: generated a new WORKER_EVENTS_KEY" >&2
fi
# Its public key: the seed in an Ed25519 PKCS#8 structure, through openssl.
WEBHOOKS_EVENTS_PUBLIC_KEYS="whpk_$({ printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040'; printf %s "${WORKER_EVENTS_KEY#whsk_}" | base64 -d; } |
  openssl pkey -inform DER -pubout -outform DER | tail -c 32 | base64 | tr -d '\n')"
echo "make-secrets: the events public key (subscribers verify events with it): $WEBHOOKS_EVENTS_PUBLIC_KEYS" >&2
if [ -z "${WORKER_READ_KEYS:-}" ]; then
  if [ -z "${WORKER_OPERATOR_KEY:-}" ]; then
    WORKER_OPERATOR_KEY="$(random)"
    echo "make-secrets: generated a new WORKER_OPERATOR_KEY (WORKER_READ_KEYS entry ops:operator)" >&2
  fi
  case $WORKER_OPERATOR_KEY in
    *[!A-Za-z0-9._~-]*) echo "make-secrets: WORKER_OPERATOR_KEY may hold only letters, digits and . _ ~ -" >&2; exit 1 ;;
  esac
  if [ ${#WORKER_OPERATOR_KEY} -lt 16 ]; then
    echo "make-secrets: WORKER_OPERATOR_KEY must be at least 16 characters (the worker refuses a shorter key)" >&2; exit 1
  fi
  WORKER_READ_KEYS="initiator:operate:$INITIATOR_WORKER_KEY,ops:operator:$WORKER_OPERATOR_KEY"
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
secret initiator-api-keys "INITIATOR_API_KEYS=$INITIATOR_API_KEYS" "INITIATOR_OPERATE_KEYS=$INITIATOR_OPERATE_KEYS"
secret worker-status-key "WORKER_STATUS_KEY=$WORKER_STATUS_KEY" "WORKER_STATUS_KEY_PREVIOUS=${WORKER_STATUS_KEY_PREVIOUS:-}" \
  "WORKER_EVENTS_KEY=$WORKER_EVENTS_KEY"
secret worker-read-keys "WORKER_READ_KEYS=$WORKER_READ_KEYS"
secret initiator-worker-key "INITIATOR_WORKER_KEY=$INITIATOR_WORKER_KEY"
secret webhooks-api-keys "WEBHOOKS_API_KEYS=$WEBHOOKS_API_KEYS" "WEBHOOKS_EVENTS_PUBLIC_KEYS=$WEBHOOKS_EVENTS_PUBLIC_KEYS" \
  "WEBHOOKS_SECRETS_KEY=$WEBHOOKS_SECRETS_KEY"

# One NATS user per role (internal/natsbus/roles.go, deploy/k8s/base/nats/authorization.conf).
for role in ingest initiator worker subscriber admin dlq webhooks streams; do
  ROLE=$(echo "$role" | tr '[:lower:]' '[:upper:]')
  var="NATS_${ROLE}_PASSWORD"
  pw=${!var:-}
  if [ -z "$pw" ]; then
    pw=$(random)
    echo "make-secrets: generated a new NATS password for $role" >&2
  fi
  case $pw in
    *[!A-Za-z0-9._~-]*) echo "make-secrets: $var may hold only letters, digits and . _ ~ -" >&2; exit 1 ;;
  esac
  secret "nats-$role" "password=$pw" "nats-server.conf=${ROLE}_PASSWORD: \"$pw\""
done
