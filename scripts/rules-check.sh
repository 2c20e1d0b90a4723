#!/usr/bin/env bash
# Checks the alert rules with promtool: syntax (check rules) and the unit tests of every
# alert firing and staying quiet (test rules).
#   scripts/rules-check.sh          (make rules-check)
set -euo pipefail
cd "$(dirname "$0")/../deploy/observability"

command -v promtool >/dev/null 2>&1 || {
  echo "rules-check: promtool not found; install Debian's prometheus package (apt-get install prometheus)" >&2
  exit 1
}
promtool check rules prometheus-rules.yml
promtool test rules tests/*.yml
