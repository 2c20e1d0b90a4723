#!/usr/bin/env bash
# Checks that the tools `make test` needs besides Go are installed, all of them before
# any test runs, and names every missing one with its Debian package in one message:
#   chromium  the browser tests (the shop page, the sandbox's card form)   package chromium
#   promtool  make rules-check (the alert rules and their unit tests)      package prometheus
#   kubectl   make k8s-check (kustomize builds of the manifests)           package kubectl
#   nats      the runbook's NATS commands (docs.TestRunbookNATSCommandsRunAsAdmin)
#             go install github.com/nats-io/natscli/nats@v0.5.0
# .ci/run installs them. CHROMIUM_PATH names a browser elsewhere (internal/sandbox/browsertest).
#   scripts/check-tools.sh          (make tools-check; make test runs it first)
# Bash builtins only: its test runs it with a PATH of its own.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

chromium_found() {
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    [ -x "$CHROMIUM_PATH" ]
    return
  fi
  local name
  for name in chromium chromium-browser google-chrome headless-shell; do
    have "$name" && return 0
  done
  return 1
}

missing=()
packages=()
go_tools=()
chromium_found || { missing+=("chromium (the browser tests)"); packages+=(chromium); }
have promtool || { missing+=("promtool (make rules-check)"); packages+=(prometheus); }
have kubectl || { missing+=("kubectl (make k8s-check)"); packages+=(kubectl); }
have nats || { missing+=("nats (the runbook's NATS commands)"); go_tools+=(github.com/nats-io/natscli/nats@v0.5.0); }

if [ ${#missing[@]} -gt 0 ]; then
  list=""
  for i in "${!missing[@]}"; do
    if [ "$i" -eq 0 ]; then
      list=${missing[$i]}
    elif [ "$i" -eq $((${#missing[@]} - 1)) ]; then
      list="$list and ${missing[$i]}"
    else
      list="$list, ${missing[$i]}"
    fi
  done
  install=""
  if [ ${#packages[@]} -gt 0 ]; then
    install="apt-get install ${packages[*]} (Debian packages)"
  fi
  if [ ${#go_tools[@]} -gt 0 ]; then
    install="${install:+$install, }go install ${go_tools[*]}"
  fi
  echo "make test: missing $list; install: $install; .ci/run installs them" >&2
  exit 1
fi
echo "tools-check: chromium, promtool, kubectl and nats found"
