#!/usr/bin/env bash
# Try tempstream on one machine with one command: a test-pattern stream, linkd, and a watch
# link to open in a browser.
#
#   scripts/demo.sh                       install what is missing, build, start, print the link
#   DEMO_PROFILE=debug scripts/demo.sh    debug build (faster to build, for development)
#   TELEGRAM_BOT_TOKEN=... ALLOWED_CHAT_IDS=123 scripts/demo.sh   also start botd
#
# What it starts (all on 127.0.0.1, all stopped by Ctrl-C or SIGTERM, nothing left behind):
#   - the stream: MediaMTX with the repository's mediamtx.yml when a `mediamtx` binary is on
#     PATH (ffmpeg publishes a test pattern to it over RTMP), otherwise the test HLS origin
#     e2e/origin.py fed by e2e/publish.sh (ffmpeg writing HLS files);
#   - linkd (HTTP on $DEMO_HTTP_ADDR, plain HTTP so COOKIE_SECURE=false), its database, socket
#     and logs in the state directory;
#   - botd, when TELEGRAM_BOT_TOKEN is set (ALLOWED_CHAT_IDS is then required).
# Then it makes a link with linkctl and prints the watch URL on a line of its own.
#
# Environment:
#   DEMO_PROFILE=release|debug   cargo profile (default release)
#   DEMO_HTTP_ADDR=127.0.0.1:8080
#   DEMO_STATE_DIR=dir           default ${XDG_STATE_HOME:-$HOME/.local/state}/tempstream-demo
#   DEMO_LINK_TTL=1h             lifetime of the link it makes
#   DEMO_SKIP_INSTALL=1          do not run scripts/install-deps.sh
# Exit status: 0 after Ctrl-C/SIGTERM, 1 when something failed to start or died.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${DEMO_PROFILE:-release}"
HTTP_ADDR="${DEMO_HTTP_ADDR:-127.0.0.1:8080}"
STATE="${DEMO_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/tempstream-demo}"
LINK_TTL="${DEMO_LINK_TTL:-1h}"

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

case "$PROFILE" in
  release) CARGO_PROFILE=(--release); BIN="$ROOT/target/release" ;;
  debug) CARGO_PROFILE=(); BIN="$ROOT/target/debug" ;;
  *) die "DEMO_PROFILE must be release or debug, not '$PROFILE'" ;;
esac
case "$HTTP_ADDR" in
  *:*[!0-9]*|*:) die "DEMO_HTTP_ADDR must be HOST:PORT, e.g. 127.0.0.1:8080 (got '$HTTP_ADDR')" ;;
  *:*) ;;
  *) die "DEMO_HTTP_ADDR must be HOST:PORT, e.g. 127.0.0.1:8080 (got '$HTTP_ADDR')" ;;
esac
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ] && [ -z "${ALLOWED_CHAT_IDS:-}" ]; then
  die "TELEGRAM_BOT_TOKEN is set but ALLOWED_CHAT_IDS is not: give the chat ids that may use the bot (comma-separated)"
fi

# --- processes: started here, stopped here, by PID ------------------------------------------
PIDS=()   # in start order; stopped in reverse
NAMES=()
stop_all() {
  local i pid deadline
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: ${NAMES[$i]} (pid $pid) did not stop in 15 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  NAMES=()
}
EXIT_CODE=1
SLEEP_PID=""
on_exit() {
  trap - EXIT INT TERM
  if [ -n "$SLEEP_PID" ]; then kill "$SLEEP_PID" 2>/dev/null || true; wait "$SLEEP_PID" 2>/dev/null || true; fi
  if [ ${#PIDS[@]} -gt 0 ]; then say "stopping"; stop_all; fi
  exit "$EXIT_CODE"
}
trap on_exit EXIT
trap 'EXIT_CODE=0; exit' INT TERM

# start NAME LOGFILE COMMAND...: run COMMAND in the background, remember its PID
start() {
  local name="$1" logfile="$2"; shift 2
  "$@" >"$logfile" 2>&1 </dev/null &
  PIDS+=("$!")
  NAMES+=("$name")
  LAST_PID=$!
}

# wait_for SECONDS WHAT PID COMMAND...: poll COMMAND until it succeeds
wait_for() {
  local limit="$1" what="$2" pid="$3"; shift 3
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || { echo "demo: $what not ready after ${limit}s" >&2; return 1; }
    sleep 0.1
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# --- 1. install and build -------------------------------------------------------------------
if [ "${DEMO_SKIP_INSTALL:-0}" != 1 ]; then
  "$ROOT/scripts/install-deps.sh"
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and run again"
BUILD=(-p linkd)
[ -z "${TELEGRAM_BOT_TOKEN:-}" ] || BUILD+=(-p botd)
say "cargo build${CARGO_PROFILE[*]:+ ${CARGO_PROFILE[*]}} ${BUILD[*]}"
(cd "$ROOT" && cargo build -q "${CARGO_PROFILE[@]}" "${BUILD[@]}") || die "the build failed"

mkdir -p "$STATE/logs"
chmod 700 "$STATE"
LOGS="$STATE/logs"
SOCK="$STATE/linkd.sock"

# --- 2. the stream ----------------------------------------------------------------------------
READ_USER="" READ_PASS="" MTX_PID="" AUTH_ADDR=""
if command -v mediamtx >/dev/null; then
  RTMP_PORT="$(free_port)"
  HLS_PORT="$(free_port)"
  AUTH_ADDR="127.0.0.1:$(free_port)"
  READ_USER=linkd READ_PASS="$(secret)"
  say "MediaMTX ($(command -v mediamtx)) with mediamtx.yml, RTMP on 127.0.0.1:$RTMP_PORT, HLS on 127.0.0.1:$HLS_PORT, asking linkd at $AUTH_ADDR"
  start mediamtx "$LOGS/mediamtx.log" env \
    MTX_RTMPADDRESS="127.0.0.1:$RTMP_PORT" MTX_HLSADDRESS="127.0.0.1:$HLS_PORT" \
    MTX_AUTHHTTPADDRESS="http://$AUTH_ADDR/mediamtx/auth" \
    MTX_PATHDEFAULTS_RUNONREADY="wget -q -O /dev/null --post-data ready http://$AUTH_ADDR/mediamtx/ready" \
    MTX_PATHDEFAULTS_RUNONNOTREADY="wget -q -O /dev/null --post-data not-ready http://$AUTH_ADDR/mediamtx/not-ready" \
    mediamtx "$ROOT/mediamtx.yml"
  MTX_PID=$LAST_PID
  wait_for 15 "MediaMTX" "$MTX_PID" bash -c "exec 3<>/dev/tcp/127.0.0.1/$RTMP_PORT" \
    || { tail -20 "$LOGS/mediamtx.log" >&2; die "MediaMTX did not start (log: $LOGS/mediamtx.log)"; }
  # The publisher starts once linkd is up: MediaMTX asks linkd whether its key is good.
else
  HLS_PORT="$(free_port)"
  MEDIA="$STATE/media"
  mkdir -p "$MEDIA"
  say "test HLS origin on 127.0.0.1:$HLS_PORT (no mediamtx on PATH), files in $MEDIA"
  start origin "$LOGS/origin.log" python3 "$ROOT/e2e/origin.py" --dir "$MEDIA" --port "$HLS_PORT"
  ORIGIN_PID=$LAST_PID
  wait_for 10 "the origin" "$ORIGIN_PID" curl -fs "http://127.0.0.1:$HLS_PORT/_stats" \
    || { tail -20 "$LOGS/origin.log" >&2; die "the test origin did not start (log: $LOGS/origin.log)"; }
  start publisher "$LOGS/publisher.log" "$ROOT/e2e/publish.sh" "$MEDIA"
fi

# --- 3. linkd -----------------------------------------------------------------------------------
LINKD_ENV=(
  HTTP_ADDR="$HTTP_ADDR" BASE_URL="http://$HTTP_ADDR" DB_PATH="$STATE/linkd.sqlite" RPC_SOCKET="$SOCK"
  MEDIAMTX_HLS_BASE_URL="http://127.0.0.1:$HLS_PORT/live/stream"
  COOKIE_SECURE=false PROBE_INTERVAL=2s HTTP_TRUSTED_PROXY_COUNT=0 LOG_LEVEL=info
)
[ -z "$READ_USER" ] || LINKD_ENV+=(MEDIAMTX_READ_USER="$READ_USER" MEDIAMTX_READ_PASSWORD="$READ_PASS")
[ -z "$AUTH_ADDR" ] || LINKD_ENV+=(MEDIA_AUTH_ADDR="$AUTH_ADDR" RTMP_PUBLIC_URL="rtmp://127.0.0.1:$RTMP_PORT/live")
if (exec 3<>"/dev/tcp/${HTTP_ADDR%:*}/${HTTP_ADDR##*:}") 2>/dev/null; then
  die "$HTTP_ADDR is already in use: stop what listens there or set DEMO_HTTP_ADDR"
fi
start linkd "$LOGS/linkd.log" env "${LINKD_ENV[@]}" "$BIN/linkd"
LINKD_PID=$LAST_PID
wait_for 30 "linkd" "$LINKD_PID" curl -fs "http://$HTTP_ADDR/healthz" \
  || { tail -20 "$LOGS/linkd.log" >&2; die "linkd did not start (log: $LOGS/linkd.log)"; }
wait_for 10 "linkd's socket" "$LINKD_PID" test -S "$SOCK" || die "linkd made no socket at $SOCK"
if [ -n "$MTX_PID" ]; then
  PUBLISH_URL="$("$BIN/linkctl" --socket "$SOCK" --json stream-key show \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["publish_url"])')" || die "linkctl could not show the stream key"
  start publisher "$LOGS/publisher.log" ffmpeg -hide_banner -nostdin -loglevel warning \
    -re -f lavfi -i "testsrc2=size=640x360:rate=30" -re -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -map 0:v -map 1:a -c:v libx264 -preset veryfast -tune zerolatency -profile:v main -pix_fmt yuv420p \
    -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -b:v 800k -maxrate 800k -bufsize 800k \
    -c:a aac -b:a 96k -ar 48000 -ac 2 -f flv "$PUBLISH_URL"
fi

# --- 4. botd (optional) ---------------------------------------------------------------------
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then
  start botd "$LOGS/botd.log" env RPC_SOCKET="$SOCK" LOG_LEVEL=info "$BIN/botd"
  say "botd started (log: $LOGS/botd.log)"
fi

# --- 5. a link ----------------------------------------------------------------------------------
URL="$("$BIN/linkctl" --socket "$SOCK" --json new "$LINK_TTL" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')" || die "linkctl could not make a link"

say "ready. State: $STATE   Logs: $LOGS"
say "more links: $BIN/linkctl --socket $SOCK new 30m    (list, off ID, status)"
say "watch link (valid $LINK_TTL), open it in a browser:"
echo "$URL"
say "Ctrl-C stops everything"

# --- 6. run until a signal, or until one of them dies -----------------------------------------
while :; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "demo: ${NAMES[$i]} exited; see $LOGS" >&2
      exit 1
    fi
  done
  sleep 1 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
  SLEEP_PID=""
done
