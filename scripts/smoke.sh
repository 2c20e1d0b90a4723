#!/usr/bin/env bash
# End-to-end check of a deployment: a test payment through the initiator's POST /v1/payments,
# paid with ePay's published test card, ePay's callback through the ingest, the worker's
# invoice `paid` with the callback and the payment event in its history.
#
#   scripts/smoke.sh -initiator URL -api-key-file FILE -worker URL -worker-key-file FILE [options]
#
#   -initiator URL          the initiator (POST /v1/payments)
#   -api-key KEY | -api-key-file FILE        a merchant API key (INITIATOR_API_KEYS)
#   -worker URL             the worker's read API (GET /v1/invoices/{id})
#   -worker-key KEY | -worker-key-file FILE  a read API key (WORKER_READ_KEYS)
#   -amount N               amount in KZT (default 100)
#   -wait SECONDS           how long to wait for `paid` (default 600)
#   -page FILE              where to write the payment page (default: a new file in $TMPDIR)
#   -pay-sandbox            pay on the local ePay sandbox's card form by itself (make run), no browser
#
# It writes a payment page (payment-api.js and the payment object, as a shop's page does),
# prints its file:// URL to open and pay with 4405 6397 0401 5096, 01/27, CVC 321, then polls
# the worker until the invoice is paid (exit 0), failed or in review, or -wait passes (exit 1).
# Against ePay's test environment this checks everything: ePay's token, the payment, the
# callback reaching PUBLIC_BASE_URL, the worker, the event. Needs curl and jq.
set -euo pipefail

die() { echo "smoke: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

initiator= worker= api_key=${SMOKE_API_KEY:-} worker_key=${SMOKE_WORKER_KEY:-}
amount=100 wait=600 page= pay_sandbox=
while [ $# -gt 0 ]; do
  case $1 in
    -initiator) initiator=${2:?}; shift 2 ;;
    -worker) worker=${2:?}; shift 2 ;;
    -api-key) api_key=${2:?}; shift 2 ;;
    -api-key-file) api_key=$(head -n1 "${2:?}" | cut -d, -f1) || die "cannot read $2"; shift 2 ;;
    -worker-key) worker_key=${2:?}; shift 2 ;;
    -worker-key-file) worker_key=$(head -n1 "${2:?}") || die "cannot read $2"; shift 2 ;;
    -amount) amount=${2:?}; shift 2 ;;
    -wait) wait=${2:?}; shift 2 ;;
    -page) page=${2:?}; shift 2 ;;
    -pay-sandbox) pay_sandbox=1; shift ;;
    -h|-help|--help) usage 0 ;;
    *) echo "smoke: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$initiator" ] && [ -n "$worker" ] && [ -n "$api_key" ] && [ -n "$worker_key" ] ||
  { echo "smoke: -initiator, -worker, an API key and a worker read key are required" >&2; usage; }
case $amount in ''|*[!0-9]*) die "-amount $amount: want a whole number of KZT" ;; esac
case $wait in ''|*[!0-9]*) die "-wait $wait: want seconds" ;; esac
for tool in curl jq; do command -v $tool >/dev/null || die "$tool is not installed"; done
initiator=${initiator%/} worker=${worker%/}

# 1. A payment, as a merchant backend starts one.
idem="smoke-$(date +%s)-$$"
resp=$(mktemp) && trap 'rm -f "$resp"' EXIT
code=$(curl -sS -o "$resp" -w '%{http_code}' --max-time 60 -X POST "$initiator/v1/payments" \
  -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' -H "Idempotency-Key: $idem" \
  -d "{\"kind\":\"payment\",\"amount\":$amount,\"currency\":\"KZT\",\"description\":\"epayflow smoke test\"}") ||
  die "POST $initiator/v1/payments: no answer"
[ "$code" = 201 ] || die "POST $initiator/v1/payments: HTTP $code $(head -c 500 "$resp")"
invoice=$(jq -er .invoiceId "$resp") || die "no invoiceId in the answer: $(head -c 500 "$resp")"
payform_js=$(jq -er .payformJsUrl "$resp")
object=$(jq -c .paymentObject "$resp")
echo "invoice $invoice created: $amount KZT, ePay token for terminal $(jq -r .paymentObject.terminal "$resp")"
echo "  postLink $(jq -r .paymentObject.postLink "$resp") (ePay must reach it)"

# 2. The payment page: ePay's payment-api.js and halyk.pay(paymentObject), as a shop's page.
page=${page:-$(mktemp "${TMPDIR:-/tmp}/epayflow-smoke-$invoice-XXXXXX.html")}
safe_object=${object//<\//<\\/}
cat >"$page" <<EOF
<!doctype html>
<meta charset="utf-8">
<title>epayflow smoke test: invoice $invoice</title>
<h1>Invoice $invoice: $amount KZT</h1>
<p>Pay with ePay's published test card <b>4405 6397 0401 5096</b>, expiry <b>01/27</b>, CVC <b>321</b>.</p>
<button id="pay" type="button">Pay</button>
<script src="$payform_js"></script>
<script>
  var paymentObject = $safe_object;
  document.getElementById('pay').onclick = function () { halyk.pay(paymentObject); };
</script>
EOF
echo "payment page: file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
echo "  open it, press Pay and pay with 4405 6397 0401 5096, 01/27, CVC 321"

# 2b. The local sandbox's card form, filled by curl (make run only).
if [ -n "$pay_sandbox" ]; then
  base=${payform_js%/payform/payment-api.js}
  base=${base%/redesign-payform/payment-api.js}
  form=$(curl -sS --max-time 30 -X POST "$base/payform" --data-urlencode "payment=$object" --data-urlencode mode=pay) ||
    die "POST $base/payform: no answer (is this the local sandbox?)"
  session=$(printf '%s' "$form" | sed -n 's/.*name="session" value="\([^"]*\)".*/\1/p' | head -n1)
  [ -n "$session" ] || die "the sandbox's card form did not open: $(printf '%s' "$form" | head -c 300)"
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -X POST "$base/payform/card" \
    --data-urlencode "session=$session" --data-urlencode card-number=4405639704015096 \
    --data-urlencode card-expiry=01/27 --data-urlencode card-cvc=321 --data-urlencode 'card-holder=SMOKE TEST') ||
    die "POST $base/payform/card: no answer"
  case $code in 2??|303) echo "paid on the sandbox's card form (HTTP $code)" ;; *) die "the sandbox's card form answered HTTP $code" ;; esac
fi

# 3. The worker: wait for paid.
echo "waiting up to ${wait}s for the worker to say paid ($worker/v1/invoices/$invoice)"
deadline=$(( $(date +%s) + wait )) last=
while :; do
  code=$(curl -sS -o "$resp" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $worker_key" \
    "$worker/v1/invoices/$invoice") || code=000
  case $code in
    200) state=$(jq -r .state "$resp") ;;
    404) state="(not known yet)" ;;
    401) die "the worker refuses the read key: HTTP 401 $(head -c 300 "$resp")" ;;
    *) state="(HTTP $code)" ;;
  esac
  if [ "$state" != "$last" ]; then echo "  $(date +%T) $state"; last=$state; fi
  case $state in
    paid) break ;;
    failed|review|unmatched)
      die "invoice $invoice is $state: $(jq -c '{reasonCode, reason, reviewReason}' "$resp")" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || die "invoice $invoice is not paid after ${wait}s (last: $state): was it paid? can ePay reach the postLink?"
  sleep 2
done

# 4. What happened, from the worker's history: the callback and the events.
jq -r '.history[] | "  \(.appliedAt) \(.kind) \(.stateBefore // "-") -> \(.stateAfter)" +
  (if .verified == null then "" else " verified=\(.verified)" end) +
  (if (.events // []) | length > 0 then " events=\(.events | join(","))" else "" end)' "$resp"
jq -e '[.history[] | select(.kind == "success")] | length > 0' "$resp" >/dev/null ||
  die "invoice $invoice is paid, but no success callback reached the ingest (the status API said so): check that ePay reaches PUBLIC_BASE_URL"
jq -e '[.history[] | (.events // [])[]] | length > 0' "$resp" >/dev/null ||
  die "invoice $invoice is paid, but its history names no payment event"
echo "ok: invoice $invoice paid ($(jq -r '"transaction \(.transactionId), card \(.cardMask // "-")"' "$resp")), callback applied, event published"
