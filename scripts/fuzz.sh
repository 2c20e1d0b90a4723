#!/usr/bin/env bash
# Runs every Fuzz* target in the module for the given time each (default 10s).
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    echo "fuzz $pkg $name for $t"
    go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg"
  done
done
