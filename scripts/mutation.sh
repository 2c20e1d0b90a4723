#!/usr/bin/env bash
# Mutation testing (docs/TESTING.md, "Mutation testing"): gremlins, pinned, changes the
# code of each core package one mutant at a time and runs that package's tests; a
# mutant the tests still pass "lived". Not part of `make test`: it takes about an hour.
#
#   scripts/mutation.sh                 every core package
#   scripts/mutation.sh invoice bolt    some of them
#
# The report per package (JSON) goes to bin/mutation/, and a summary table to stdout.
# The worker's whole suite takes minutes, too long to run per mutant: its mutants are
# those of the files that decide an ack (handler.go, relay.go, changelog.go), and each
# is tested by the tests named in worker_tests below (about 40 s a run).
set -euo pipefail
GREMLINS_VERSION=v0.6.0
cd "$(dirname "$0")/.."
out=bin/mutation
mkdir -p "$out"
GOBIN="$PWD/bin" go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"

worker_files='^(handler|relay|changelog)\.go$'
worker_tests='^(TestGiveUpPoisonsOnlyTransientErrorsAtMaxDeliveries|TestNakDelayDoublesFromOneSecondToAMinute|TestEventsHeldInTheOutboxDuringAPaymentEventsOutageArePublishedOnceAfter|TestAFailingWriteIsNakedRedeliveredAndDeadLetteredAfterMaxDeliveries|TestSameCallbackTenTimesAndRedeliveredMakesOneEvent|TestWorkerCancelledMidStreamAndRestartedLosesAndDoublesNothing|TestPoisonMessagesGoToTheDLQWithTheirReason|TestAStaleOwnerCannotWriteOverAnInvoiceAnotherWorkerChanged|TestEventsOfAChangeSurviveTheLossOfTheFileBeforeTheyWereOut|TestAWorkerWhoseFileIsLostRestoresItsShardsFromTheChangelog)$'

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(invoice epay bolt natsbus epayapi ingest worker)

unleash() { # package, extra arguments
  local p=$1
  shift
  # one worker, one CPU per test run: the machine is shared, and a loaded test timing
  # out would be counted as killed
  bin/gremlins unleash --workers 1 --test-cpu 1 --timeout-coefficient 5 -o "$out/$p.json" "$@" "./internal/$p"
}

for p in "${pkgs[@]}"; do
  echo "== $p"
  start=$(date +%s)
  case $p in
  worker)
    excl=()
    for f in internal/worker/*.go; do
      b=$(basename "$f")
      [[ $b == *_test.go || $b =~ $worker_files ]] && continue
      excl+=(-E "(^|/)${b//./\\.}\$")
    done
    GOFLAGS="-run=$worker_tests" unleash "$p" "${excl[@]}" >"$out/$p.log" 2>&1 || true
    ;;
  *) unleash "$p" >"$out/$p.log" 2>&1 || true ;;
  esac
  echo "$p: $(( $(date +%s) - start )) s"
  tail -5 "$out/$p.log"
done

echo
echo "| package | killed | lived | not covered | timed out | efficacy | mutator coverage | time |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for p in "${pkgs[@]}"; do
  [ -f "$out/$p.json" ] || { echo "| $p | (no report: see $out/$p.log) |"; continue; }
  jq -r --arg p "$p" '"| \($p) | \(.mutants_killed) | \(.mutants_lived) | \(.mutants_not_covered) | \([.files[].mutations[] | select(.status=="TIMED OUT")] | length) | \(.test_efficacy*100|round/100)% | \(.mutations_coverage*100|round/100)% | \(.elapsed_time|round) s |"' "$out/$p.json"
done
echo
echo "Lived and not covered:"
for p in "${pkgs[@]}"; do
  [ -f "$out/$p.json" ] || continue
  jq -r --arg p "$p" '.files[] | .file_name as $f | .mutations[] | select(.status=="LIVED" or .status=="NOT COVERED") | "  \($p)/\($f):\(.line):\(.column) \(.type) \(.status)"' "$out/$p.json"
done
