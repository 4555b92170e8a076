#!/usr/bin/env bash
# Runs every test of tempstream, on a fresh Debian 12 machine too: installs what is missing
# (Debian packages: libpq-dev and postgresql, also with SKIP_E2E=1; ffmpeg, chromium, caddy,
# systemd tools, python3-yaml; npm packages of e2e/), then runs
#   1. cargo test --workspace      hermetic tests: linkd, linkctl, botd with a fake Bot API
#   2. tests/deploy/run.sh         systemd units, Caddyfile, compose and MediaMTX config checks
#   3. e2e/run.sh                  real encoder, origin, linkd and headless Chromium
#   4. e2e/demo-test.sh            the one-command demo starts, serves and stops cleanly
#
#   scripts/test.sh                 everything
#   SKIP_E2E=1 scripts/test.sh      only 1 and 2
# Ends with a line `N passed, M failed` over the four groups; exit status 0 only if all pass.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1; then
  echo "test: cargo is missing: install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi

passed=0
failed=0
failures=()
step() {
  local name="$1"
  shift
  echo
  echo "=== $name: $*"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

if [ "${SKIP_E2E:-0}" != 1 ]; then
  scripts/install-deps.sh
else
  BUILD_ONLY=1 scripts/install-deps.sh
fi
cargo build --workspace --locked
step "cargo test" cargo test --workspace --locked
step "deploy checks" bash tests/deploy/run.sh
if [ "${SKIP_E2E:-0}" != 1 ]; then
  step "end to end" bash e2e/run.sh
  step "demo" bash e2e/demo-test.sh
fi

echo
if [ "$failed" -gt 0 ]; then
  echo "failed: ${failures[*]}"
fi
echo "test groups: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
