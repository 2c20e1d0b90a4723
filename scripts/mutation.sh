#!/usr/bin/env bash
# Mutation testing (docs/TESTING.md, "Mutation testing"): gremlins, pinned, changes the
# code of each core package one mutant at a time and runs that package's tests; a
# mutant the tests still pass "lived". Not part of `make test`: it takes about an hour.
#
#   scripts/mutation.sh                  every core package
#   scripts/mutation.sh invoice bolt     some of them
#   scripts/mutation.sh -pass-only bolt  the second pass alone, on gremlins' last report
#
# The report per package (JSON) goes to bin/mutation/, and a summary table to stdout.
# After gremlins, a second pass (scripts/mutantpass) runs the mutants gremlins calls
# "not covered" (case conditions above all: Go's coverage has no block for them) with
# `go test -overlay`, and writes bin/mutation/<pkg>.pass.json; the summary gives
# gremlins' numbers and those with the second pass.
# The worker's whole suite takes minutes, too long to run per mutant: its mutants are
# those of the files that decide an ack (handler.go, relay.go, changelog.go), and each
# is tested by the tests named in worker_tests below (about 40 s a run).
set -euo pipefail
GREMLINS_VERSION=v0.6.0
cd "$(dirname "$0")/.."
out=bin/mutation
mkdir -p "$out"
GOBIN="$PWD/bin" go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
go build -o bin/mutantpass ./scripts/mutantpass

worker_files='^(handler|relay|changelog)\.go$'
worker_tests='^(TestAnEventIsPublishedWhileItsChangeIsCommitted|TestNothingIsPublishedEarlyBeforeTheOutboxARelayStartsWithIsOut|TestEarlyPublishesAreBoundedTakenOnceAndForgotten|TestAWaitThatEndsLeavesTheOtherWaitsOfItsEntry|TestTheRelaySendsWhileEarlierEventsWaitForTheirPubAcks|TestTheRelaySendsAnInvoicesNextEventOnlyAfterItsPrevious|TestReadyEventsAreLetGoOncePublished|TestGiveUpPoisonsOnlyTransientErrorsAtMaxDeliveries|TestNakDelayDoublesFromOneSecondToAMinute|TestEventsHeldInTheOutboxDuringAPaymentEventsOutageArePublishedOnceAfter|TestAFailingWriteIsNakedRedeliveredAndDeadLetteredAfterMaxDeliveries|TestSameCallbackTenTimesAndRedeliveredMakesOneEvent|TestWorkerCancelledMidStreamAndRestartedLosesAndDoublesNothing|TestPoisonMessagesGoToTheDLQWithTheirReason|TestAStaleOwnerCannotWriteOverAnInvoiceAnotherWorkerChanged|TestEventsOfAChangeSurviveTheLossOfTheFileBeforeTheyWereOut|TestAWorkerWhoseFileIsLostRestoresItsShardsFromTheChangelog|TestWorkerSIGKILLedBetweenCommitAndAckLosesAndDoublesNothing)$'

# The initiator's suite includes a browser and the pages: its mutants are those of the
# Idempotency-Key (idempotency.go), tested by the tests that hold a key to one invoice.
initiator_files='^idempotency\.go$'
initiator_tests='^(TestIdempotency.*|TestARetry.*|TestFreshInvoiceIDAlreadyOnTheBusIsNotHandedOut)$'

pass_only=false
if [ "${1:-}" = -pass-only ]; then
  pass_only=true
  shift
fi
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(invoice epay inbox jsonw bolt natsbus epayapi ingest worker initiator)

unleash() { # package, extra arguments
  local p=$1
  shift
  # one worker, one CPU per test run: the machine is shared, and a loaded test timing
  # out would be counted as killed
  bin/gremlins unleash --workers 1 --test-cpu 1 --timeout-coefficient 5 -o "$out/$p.json" "$@" "./internal/$p"
}

except() { # package, files regex: gremlins' -E for every other non-test file of it
  local f b
  for f in "internal/$1"/*.go; do
    b=$(basename "$f")
    [[ $b == *_test.go || $b =~ $2 ]] && continue
    printf -- '-E (^|/)%s$ ' "${b//./\\.}"
  done
}

run_gremlins() { # package: gremlins' run, the worker's on its files and tests only
  local p=$1
  case $p in
  worker)
    GOFLAGS="-run=$worker_tests" unleash "$p" $(except "$p" "$worker_files")
    ;;
  initiator)
    GOFLAGS="-run=$initiator_tests" unleash "$p" $(except "$p" "$initiator_files")
    ;;
  jsonw) # its test helper, jsonwtest, is tested by the encoders' tests in other packages
    unleash "$p" -E '(^|/)jsonwtest/'
    ;;
  *) unleash "$p" ;;
  esac
}

second_pass() { # package
  case $1 in
  worker) GOFLAGS="-run=$worker_tests" bin/mutantpass pass -dir "$out" "$1" ;;
  initiator) GOFLAGS="-run=$initiator_tests" bin/mutantpass pass -dir "$out" "$1" ;;
  *) bin/mutantpass pass -dir "$out" "$1" ;;
  esac
}

for p in "${pkgs[@]}"; do
  echo "== $p"
  if ! $pass_only; then
    start=$(date +%s)
    run_gremlins "$p" >"$out/$p.log" 2>&1 || true
    echo "$p: $(( $(date +%s) - start )) s"
    tail -5 "$out/$p.log"
  fi
  [ -f "$out/$p.json" ] || continue
  start=$(date +%s)
  rm -f "$out/$p.pass.json"
  second_pass "$p" >"$out/$p.pass.log" 2>&1 || true
  echo "$p, second pass: $(( $(date +%s) - start )) s"
  tail -3 "$out/$p.pass.log"
done

echo
bin/mutantpass summary -dir "$out" "${pkgs[@]}"
