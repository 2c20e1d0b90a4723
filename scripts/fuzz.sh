#!/usr/bin/env bash
# Runs every Fuzz* target in the module for the given time each (default 10s).
#
# Go 1.26's fuzzing coordinator can end a duration-bounded run with
# "context deadline exceeded" and no failing input when the -fuzztime deadline
# races a busy worker (go.dev/issue/75804, fixed in Go 1.27). A target that
# fails that way, having written no reproducer, is run once more; a real
# finding always prints "Failing input written to" and fails at once.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# deadline_flake reports whether the run in $log ended only by the coordinator race.
deadline_flake() {
  grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"
}

grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    for try in 1 2; do
      echo "fuzz $pkg $name for $t"
      if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg" 2>&1 | tee "$log"; then
        break
      fi
      if [ "$try" = 1 ] && deadline_flake; then
        echo "fuzz $pkg $name: the -fuzztime deadline race of Go's coordinator (go.dev/issue/75804), no failing input; running once more"
        continue
      fi
      exit 1
    done
  done
done
