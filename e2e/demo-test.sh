#!/usr/bin/env bash
# Test of scripts/demo.sh: start it (debug build, free port, temporary state dir), wait for
# the watch URL line, fetch the page (200), send SIGTERM, and check that it exits 0 and that
# no process it started is left.
#
#   e2e/demo-test.sh
#   DEMO_SKIP_INSTALL=1 e2e/demo-test.sh   do not let demo.sh run scripts/install-deps.sh
#
# Ends with "N passed, M failed"; exit 1 on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tempstream-demo-test.XXXXXX")"
PASS=0
FAIL=0
DEMO_PID=""
pass() { PASS=$((PASS + 1)); echo "PASS  $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL  $*"; }

# all descendants of a PID (children, their children, ...)
descendants() {
  local p c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$c"
    descendants "$c"
  done
}

cleanup() {
  trap - EXIT INT TERM
  if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
    local left
    left="$(descendants "$DEMO_PID")"
    kill -TERM "$DEMO_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$DEMO_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    # shellcheck disable=SC2086
    for p in $left $DEMO_PID; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  if [ "$FAIL" -gt 0 ]; then echo "demo-test: logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# setsid: the demo gets its own process group, as when started from a terminal
DEMO_PROFILE=debug DEMO_HTTP_ADDR="127.0.0.1:$PORT" DEMO_STATE_DIR="$WORK/state" DEMO_LINK_TTL=10m \
  setsid "$ROOT/scripts/demo.sh" >"$WORK/demo.out" 2>&1 </dev/null &
DEMO_PID=$!

# the build may be slow when the tree changed: up to 10 minutes
URL=""
deadline=$((SECONDS + 600))
while [ -z "$URL" ]; do
  URL="$(grep -m1 -E '^http://[^ ]+/live/stream/[^ /]+$' "$WORK/demo.out" || true)"
  [ -n "$URL" ] && break
  if ! kill -0 "$DEMO_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then break; fi
  sleep 0.2
done
if [ -z "$URL" ]; then
  fail "demo.sh printed no watch URL"
  tail -30 "$WORK/demo.out"
  echo "0 passed, $FAIL failed"
  exit 1
fi
pass "demo.sh printed a watch URL on a line of its own"

code="$(curl -s -o "$WORK/page.html" -w '%{http_code}' "$URL")"
if [ "$code" = 200 ] && grep -q 'id="video"' "$WORK/page.html"; then
  pass "the watch page answers 200 with the player"
else
  fail "the watch page answered $code"
fi

STARTED="$(descendants "$DEMO_PID" | tr '\n' ' ')"
echo "demo-test: demo.sh pid $DEMO_PID, its processes: $STARTED"
kill -TERM "$DEMO_PID"
rc=0
deadline=$((SECONDS + 30))
while kill -0 "$DEMO_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
if kill -0 "$DEMO_PID" 2>/dev/null; then
  fail "demo.sh still runs 30 s after SIGTERM"
else
  wait "$DEMO_PID" || rc=$?
  DEMO_PID=""
  if [ "$rc" = 0 ]; then pass "demo.sh exited 0 after SIGTERM"; else fail "demo.sh exited $rc after SIGTERM"; fi
fi

left=""
for p in $STARTED; do
  if kill -0 "$p" 2>/dev/null; then left="$left $p($(ps -o comm= -p "$p" 2>/dev/null))"; fi
done
if [ -z "$left" ]; then pass "no process started by demo.sh is left"; else fail "left behind:$left"; fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
