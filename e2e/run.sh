#!/usr/bin/env bash
# End-to-end scenario with real parts: ffmpeg publisher -> HLS origin (e2e/origin.py) -> linkd
# -> headless Chromium on the watch page (e2e/watch.js), links made with linkctl.
#
#   e2e/run.sh                 all runs (about 5-7 minutes on 2 cores)
#   e2e/run.sh classic ll      only the named runs: classic, ll, auth, caddy, audit, rtmp, limits,
#                              gates
#   E2E_BUILD=1 e2e/run.sh     run `cargo build -p linkd` even when target/debug/linkd exists
#   KEEP_E2E=1 e2e/run.sh      keep the work directory (logs, DB) also when everything passed
#
# Runs:
#   classic  MPEG-TS origin. A link plays (the page starts muted playback by itself);
#            `linkctl off` -> the same page shows "disabled" within 2 s, says so, the video
#            stops, no /play answer is received 1 s after off, the page saw a 403, the link
#            opened again is a 410 page; a second link: publisher stopped -> "offline"
#            within 15 s and `linkctl status` live=false within 25 s; publisher restarted ->
#            live=true within 15 s and the same page (no reload) plays again within 30 s;
#            then, on that page (e2e/lifecycle.sh): linkd restarted (SIGTERM, new process
#            within 5 s) -> plays on, counted again within 10 s; linkd stopped ->
#            "unreachable", started -> plays; its link deleted -> "invalid". Extend while
#            watching (linkctl, and the bot's /extend through botd and a fake Bot API) ->
#            new expiry shown within 5 s, plays past the old one; a link
#            expiring while watched -> "expired" within 2 s, no /play bytes 1 s later, 410;
#            a 3 s link shows "expired"; an unknown token "invalid"; /play without the
#            cookie is 403.
#   ll       LL-HLS origin with MediaMTX 1.18+ sessions: plays in low-latency mode (blocking
#            playlist reloads reach the origin through linkd), "disabled" within 2 s as in
#            classic; extend, restart and expiry while watching as in classic.
#   auth     the origin requires Basic auth; linkd gets MEDIAMTX_READ_USER/PASSWORD: plays,
#            "disabled" within 2 s.
#   caddy    Caddy with the repository's Caddyfile in front of linkd
#            (HTTP_TRUSTED_PROXY_COUNT=1), LL-HLS + sessions: plays, "disabled" within 2 s.
#   audit    who watched: a Chromium viewer appears in `linkctl viewers` (browser Chrome, its
#            network, its device); reloaded, it is the same device; once the page is left,
#            its sessions end within 30 s and `linkctl log` tells "opened 2 times from 1
#            device" with the ended sessions' browser and bytes.
#   rtmp     the real nginx-rtmp asks linkd (MEDIA_AUTH_ADDR) who may publish: the stream
#            key plays through the gate, a wrong or rotated key is refused at the handshake,
#            rotating while live stops the publisher, live/offline reach `linkctl status`
#            within 1 s, linkd down refuses publishers (e2e/rtmp.sh).
#   limits   sharing limits in two browsers (e2e/limits.sh): viewer cap reached, one-time
#            link refused on a second browser, kicked, rotated, off --all.
#   gates    three linkd gates on one PostgreSQL (e2e/gates.sh, e2e/pg.sh): a link made on
#            one gate plays on another, `linkctl off` on gate 1 stops the viewer on gate 2
#            within 2 s, PostgreSQL killed for 10 s loses no link and no viewer, writes are
#            refused meanwhile and `status` says so; `linkctl migrate --to` copies a Go seed
#            database exactly and a linkd on the copy plays an old link (e2e/migrate.sh).
#
# Needs scripts/install-deps.sh done once. Everything binds to 127.0.0.1 on free ports; every
# process started here is stopped on exit. Ends with "N passed, M failed"; exit 1 on failure
# (the work directory with all logs is then kept and its path printed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/e2e"
cd "$ROOT"

RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(classic ll auth caddy audit rtmp limits gates)
for r in "${RUNS[@]}"; do
  case "$r" in classic|ll|auth|caddy|audit|rtmp|limits|gates) ;; *) echo "run.sh: unknown run '$r' (classic, ll, auth, caddy, audit, rtmp, limits, gates)" >&2; exit 2 ;; esac
done

for tool in ffmpeg python3 node curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool missing (run scripts/install-deps.sh)" >&2; exit 1; }
done
[ -d "$E2E/node_modules/playwright-core" ] || { echo "run.sh: e2e/node_modules missing (run scripts/install-deps.sh)" >&2; exit 1; }

LINKD="$ROOT/target/debug/linkd"
LINKCTL="$ROOT/target/debug/linkctl"
BOTD="$ROOT/target/debug/botd"
if [ "${E2E_BUILD:-0}" = 1 ] || [ ! -x "$LINKD" ] || [ ! -x "$LINKCTL" ] || [ ! -x "$BOTD" ]; then
  echo "run.sh: cargo build -p linkd -p botd"
  cargo build -q -p linkd -p botd
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tempstream-e2e.XXXXXX")"
LAST="{}"
PASS=0
FAIL=0
# PIDs of what the current run started, stopped in reverse order
ORIGIN_PID="" PUB_PID="" LINKD_PID="" CADDY_PID="" BOT_PID="" TG_PID="" WATCH_PID_SAVED=""

stop_pid() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_stack() {
  stop_pid "$BOT_PID"; BOT_PID=""
  stop_pid "$TG_PID"; TG_PID=""
  stop_pid "$CADDY_PID"; CADDY_PID=""
  stop_pid "$LINKD_PID"; LINKD_PID=""
  stop_gates
  stop_pid "$PUB_PID"; PUB_PID=""
  stop_pid "$ORIGIN_PID"; ORIGIN_PID=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +eu  # stop everything, whatever state the run was left in
  if [ -n "$WATCH_PID_SAVED" ]; then
    # "quit" lets watch.js close Chromium and remove its profile; a signal only if it hangs
    [ -z "${WATCH[1]:-}" ] || { echo quit >&"${WATCH[1]}"; } 2>/dev/null
    local deadline=$((SECONDS + 10))
    while kill -0 "$WATCH_PID_SAVED" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    stop_pid "$WATCH_PID_SAVED"
  fi
  stop_stack
  if [ "$FAIL" -gt 0 ] || [ "$rc" -ne 0 ] || [ "${KEEP_E2E:-0}" = 1 ]; then
    echo "run.sh: logs and state kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
secs_since() { local d=$(($(now_ms) - $1)); printf '%d.%02d' $((d / 1000)) $((d % 1000 / 10)); }

pass() { PASS=$((PASS + 1)); echo "PASS  $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL  $*"; }

# json FIELD: read a JSON document on stdin, print FIELD (dotted path) or "" when absent
json() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else json.dumps(v) if isinstance(v, (dict, list, bool)) else v)' "$1"
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND (quietly) until it succeeds; gives
# up early when $WAIT_PID (if set) has exited
wait_until() {
  local limit="$1" what="$2"; shift 2
  local deadline=$(($(now_ms) + limit * 1000))
  until "$@" >/dev/null 2>&1; do
    if [ "$(now_ms)" -ge "$deadline" ]; then echo "run.sh: timed out after ${limit}s waiting for $what" >&2; return 1; fi
    if [ -n "${WAIT_PID:-}" ] && ! kill -0 "$WAIT_PID" 2>/dev/null; then echo "run.sh: exited while waiting for $what" >&2; return 1; fi
    sleep 0.1
  done
}

# --- the browser ---------------------------------------------------------------------------
coproc WATCH { exec node "$E2E/watch.js" --serve 2>>"$WORK/watch.log"; }
WATCH_PID_SAVED="$WATCH_PID"

# watch COMMAND...: send one command to watch.js, print its JSON answer
watch() {
  local line=""
  if [ -z "${WATCH[1]:-}" ] || ! { echo "$*" >&"${WATCH[1]}"; } 2>/dev/null \
     || ! IFS= read -r -t 120 line <&"${WATCH[0]}"; then
    line='{"ok":false,"reason":"no answer from watch.js (see watch.log)"}'
  fi
  echo "$line" >>"$WORK/watch-answers.log"
  echo "$line"
}

# summary of a watch.js answer for the PASS/FAIL line
summary() {
  python3 -c 'import json, sys
r = json.load(sys.stdin)
keys = ["seconds", "advance", "overSeconds", "hlsLatency", "state", "reloaded", "reason"]
out = ["%s=%s" % (k, r[k]) for k in keys if r.get(k) is not None]
req = r.get("requests") or {}
if req.get("blockingReloads"): out.append("blockingReloads=%s" % req["blockingReloads"])
print(" ".join(out))'
}

# check_watch NAME COMMAND...: one browser step, pass when it answers ok
check_watch() {
  local name="$1"; shift
  local res
  res="$(watch "$@")"
  if [ "$(json ok <<<"$res" 2>/dev/null)" = true ]; then pass "$name ($(summary <<<"$res"))"; else fail "$name ($(summary <<<"$res"))"; fi
  LAST="$res"
}

# --- the stack -----------------------------------------------------------------------------
# start_stack RUN [origin flags...]: origin + publisher + linkd (+ caddy for RUN=caddy)
start_stack() {
  local run="$1"; shift
  RUN_DIR="$WORK/$run"
  mkdir -p "$RUN_DIR/media"
  ORIGIN_PORT="$(free_port)"
  HTTP_PORT="$(free_port)"
  ORIGIN_FLAGS=("$@")
  PUB_FLAGS=()
  case " $* " in *" --ll "*) PUB_FLAGS=(--ll) ;; esac
  python3 "$E2E/origin.py" --dir "$RUN_DIR/media" --port "$ORIGIN_PORT" "$@" >"$RUN_DIR/origin.log" 2>&1 &
  ORIGIN_PID=$!
  WAIT_PID=$ORIGIN_PID wait_until 10 "the origin" curl -fs "http://127.0.0.1:$ORIGIN_PORT/_stats" || return 1
  start_publisher

  SOCK="$RUN_DIR/linkd.sock"
  BASE_URL="http://127.0.0.1:$HTTP_PORT"
  local proxies=0
  if [ "$run" = caddy ]; then
    CADDY_PORT="$(free_port)"
    BASE_URL="http://127.0.0.1:$CADDY_PORT"
    proxies=1
  fi
  LINKD_ENV=(HTTP_ADDR="127.0.0.1:$HTTP_PORT" BASE_URL="$BASE_URL" DB_PATH="$RUN_DIR/linkd.sqlite"
    RPC_SOCKET="$SOCK" MEDIAMTX_HLS_BASE_URL="http://127.0.0.1:$ORIGIN_PORT/live/stream"
    COOKIE_SECURE=false PROBE_INTERVAL=2s LOG_LEVEL=info HTTP_TRUSTED_PROXY_COUNT="$proxies"
    SHUTDOWN_GRACE=3s)
  if [ -n "${READ_USER:-}" ]; then LINKD_ENV+=(MEDIAMTX_READ_USER="$READ_USER" MEDIAMTX_READ_PASSWORD="$READ_PASS"); fi
  start_linkd || return 1

  if [ "$run" = caddy ]; then
    # the Caddyfile keeps Caddy's admin endpoint on localhost:2019
    if (exec 3<>/dev/tcp/127.0.0.1/2019) 2>/dev/null; then
      echo "run.sh: 127.0.0.1:2019 is taken (Caddy's admin endpoint); cannot start Caddy" >&2; return 1
    fi
    mkdir -p "$RUN_DIR/caddy"
    env SITE_ADDRESS="http://127.0.0.1:$CADDY_PORT" LINKD_UPSTREAM="127.0.0.1:$HTTP_PORT" \
      XDG_DATA_HOME="$RUN_DIR/caddy" XDG_CONFIG_HOME="$RUN_DIR/caddy" HOME="$RUN_DIR/caddy" \
      caddy run --config "$ROOT/Caddyfile" --adapter caddyfile >"$RUN_DIR/caddy.log" 2>&1 &
    CADDY_PID=$!
    if ! WAIT_PID=$CADDY_PID wait_until 15 "Caddy" curl -fs "$BASE_URL/healthz"; then tail -20 "$RUN_DIR/caddy.log" >&2; return 1; fi
  fi
}

# start_linkd: linkd with $LINKD_ENV, on the same address, database and socket every time
start_linkd() {
  env "${LINKD_ENV[@]}" "$LINKD" >>"$RUN_DIR/linkd.log" 2>&1 &
  LINKD_PID=$!
  if ! WAIT_PID=$LINKD_PID wait_until 20 "linkd /healthz" curl -fs "http://127.0.0.1:$HTTP_PORT/healthz"; then
    tail -20 "$RUN_DIR/linkd.log" >&2; return 1
  fi
  wait_until 10 "linkd's socket" test -S "$SOCK" || return 1
}

start_publisher() {
  "$E2E/publish.sh" "$RUN_DIR/media" "${PUB_FLAGS[@]}" >>"$RUN_DIR/publish.log" 2>&1 &
  PUB_PID=$!
  PUB_STARTED=$(now_ms)
}

lc() { "$LINKCTL" --socket "$SOCK" "$@"; }
status_live() { [ "$(lc --json status | json live)" = "$1" ]; }

# new_link TTL: make a link, set LINK_ID, LINK_URL and LINK_EXPIRES (Unix seconds)
new_link() {
  local out
  out="$(lc --json new "$1")" || { fail "linkctl new $1: $out"; return 1; }
  LINK_ID="$(json id <<<"$out")"
  LINK_URL="$(json url <<<"$out")"
  LINK_EXPIRES="$(json expires_at <<<"$out")"
  [ -n "$LINK_ID" ] && [ -n "$LINK_URL" ] || { fail "linkctl new $1 printed no id/url"; return 1; }
}

# plays_then_disabled RUN: the core check of every run
plays_then_disabled() {
  local run="$1"
  PLAYS_ANSWER="{}"
  new_link 10m || return 0
  watch open "$LINK_URL" >/dev/null
  check_watch "$run: link $LINK_ID plays" expect playing 25
  local plays="$LAST"
  local off_ms
  off_ms=$(now_ms)  # just before: the page may be refused before linkctl has exited
  if lc off "$LINK_ID" >/dev/null; then
    check_watch "$run: same page shows disabled within 2 s of linkctl off" expect disabled 2
    check_text "$run: the page says the link was switched off" "switched off"
    check_watch "$run: video stops after disabled" stopped 3
    check_watch "$run: no /play answer is still received 1 s after off" play-after $((off_ms + 1000))
    check_status_seen "$run: the page was refused with 403 after off" "$off_ms" 403
    check_page_status "$run: opening the switched-off link again" "$LINK_URL" 410 disabled
  else
    fail "$run: linkctl off $LINK_ID"
  fi
  PLAYS_ANSWER="$plays"
}

origin_stat() { curl -fs "http://127.0.0.1:$ORIGIN_PORT/_stats" | json "$1"; }

# check_text NAME WORDS: the page's status line (from the last answer) contains WORDS
check_text() {
  local text
  text="$(json text <<<"$LAST")"
  case "$text" in *"$2"*) pass "$1 (\"$text\")" ;; *) fail "$1 (status line \"$text\")" ;; esac
}

# check_status_seen NAME SINCE_MS STATUS: the page got STATUS from /play or /play/_session
check_status_seen() {
  local res n1 n2
  res="$(watch statuses-after "$2")"
  n1="$(json "play.$3" <<<"$res")"; n2="$(json "session.$3" <<<"$res")"
  if [ $((${n1:-0} + ${n2:-0})) -gt 0 ]; then pass "$1 (/play ${n1:-0}, /play/_session ${n2:-0})"; else fail "$1 (saw $(json play <<<"$res") and $(json session <<<"$res"))"; fi
}

# check_page_status NAME URL STATUS STATE: the watch page answers STATUS and shows STATE
check_page_status() {
  local res
  res="$(watch open "$2")"
  if [ "$(json httpStatus <<<"$res")" = "$3" ]; then pass "$1: $3"; else fail "$1: $(json httpStatus <<<"$res"), not $3"; fi
  check_watch "$1: the page shows $4" expect "$4" 5
}

# shellcheck source=e2e/lifecycle.sh
. "$E2E/lifecycle.sh"
# shellcheck source=e2e/rtmp.sh
. "$E2E/rtmp.sh"
# shellcheck source=e2e/limits.sh
. "$E2E/limits.sh"
# shellcheck source=e2e/gates.sh
. "$E2E/gates.sh"

# --- runs ----------------------------------------------------------------------------------
run_classic() {
  echo "== classic: MPEG-TS origin"
  start_stack classic || { fail "classic: the stack did not start (logs in $WORK/classic)"; stop_stack; return; }
  if wait_until 15 "live=true" status_live true; then
    pass "classic: linkctl status says live ($(secs_since "$PUB_STARTED") s after the publisher started)"
  else
    fail "classic: linkctl status not live within 15 s of the publisher starting"
  fi
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' "$BASE_URL/play/index.m3u8")"
  if [ "$code" = 403 ]; then pass "classic: /play/index.m3u8 without the cookie is 403"; else fail "classic: /play/index.m3u8 without the cookie is $code, not 403"; fi

  plays_then_disabled classic

  # a second link: the stream stops and comes back while the page stays open
  if new_link 10m; then
    watch open "$LINK_URL" >/dev/null
    check_watch "classic: link $LINK_ID plays" expect playing 25
    stop_pid "$PUB_PID"; PUB_PID=""
    local stopped_at
    stopped_at=$(now_ms)
    check_watch "classic: same page shows offline within 15 s of the stream stopping" expect offline 15
    local left=$((25 - ($(now_ms) - stopped_at) / 1000))
    if wait_until "$left" "live=false" status_live false; then
      pass "classic: linkctl status says not live ($(secs_since "$stopped_at") s after the stop)"
    else
      fail "classic: linkctl status still live 25 s after the stop"
    fi
    start_publisher
    if wait_until 15 "live=true" status_live true; then
      pass "classic: linkctl status says live again ($(secs_since "$PUB_STARTED") s after the restart)"
    else
      fail "classic: linkctl status not live within 15 s of the restart"
    fi
    left=$((30 - ($(now_ms) - PUB_STARTED) / 1000))
    [ "$left" -ge 1 ] || left=1
    check_watch "classic: same page plays again, without reload, within 30 s of the restart" expect playing "$left"
    restart_while_watching classic
    unreachable_then_back classic
    link_gone_is_invalid classic
  fi
  extend_while_watching classic
  bot_extend_while_watching classic
  expiry_while_watching classic

  # a link that runs out while its page is open, then a fresh visit of the same link
  if new_link 3s; then
    watch open "$LINK_URL" >/dev/null
    check_watch "classic: a 3 s link shows expired" expect expired 10
    check_page_status "classic: opening an expired link" "$LINK_URL" 410 expired
  fi
  watch open "$BASE_URL/live/stream/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" >/dev/null
  check_watch "classic: an unknown token shows invalid" expect invalid 5
  stop_stack
}

run_ll() {
  echo "== ll: LL-HLS origin with MediaMTX 1.18+ sessions"
  start_stack ll --ll --sessions || { fail "ll: the stack did not start (logs in $WORK/ll)"; stop_stack; return; }
  plays_then_disabled ll
  local br
  br="$(json requests.blockingReloads <<<"$PLAYS_ANSWER")"
  if [ "${br:-0}" -gt 0 ]; then pass "ll: the player used blocking playlist reloads through linkd ($br)"; else fail "ll: no blocking playlist reload reached linkd"; fi
  local created
  created="$(origin_stat sessionsCreated)"
  if [ "${created:-0}" -ge 1 ]; then pass "ll: linkd went through the origin's session flow ($created sessions)"; else fail "ll: the origin created no session"; fi
  extend_while_watching ll
  restart_while_watching ll
  expiry_while_watching ll
  stop_stack
}

run_auth() {
  echo "== auth: origin with read credentials"
  READ_USER=e2ereader READ_PASS="$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
  start_stack auth --require-auth "$READ_USER:$READ_PASS" || { fail "auth: the stack did not start (logs in $WORK/auth)"; stop_stack; READ_USER=""; return; }
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ORIGIN_PORT/live/stream/index.m3u8")"
  if [ "$code" = 401 ]; then pass "auth: the origin refuses a reader without credentials (401)"; else fail "auth: the origin answered $code without credentials"; fi
  plays_then_disabled auth
  stop_stack
  READ_USER=""
}

run_caddy() {
  echo "== caddy: Caddy (repository Caddyfile) in front of linkd, LL-HLS + sessions"
  if ! command -v caddy >/dev/null; then fail "caddy: caddy is not installed (run scripts/install-deps.sh)"; return; fi
  if [ ! -f "$ROOT/Caddyfile" ]; then fail "caddy: no Caddyfile in the repository"; return; fi
  start_stack caddy --ll --sessions || { fail "caddy: the stack did not start (logs in $WORK/caddy)"; stop_stack; return; }
  plays_then_disabled caddy
  local br
  br="$(json requests.blockingReloads <<<"$PLAYS_ANSWER")"
  if [ "${br:-0}" -gt 0 ]; then pass "caddy: blocking playlist reloads pass through Caddy ($br)"; else fail "caddy: no blocking playlist reload went through Caddy"; fi
  stop_stack
}

# viewers_are N [BROWSER]: linkctl viewers lists N sessions (all of BROWSER, on one device)
viewers_are() {
  lc --json viewers | python3 -c 'import json, sys
v = json.load(sys.stdin)
n, browser = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else None)
ok = len(v) == n and all(x["browser"] == browser and x["client"] == "127.0.0.0/24" for x in v)
ok = ok and len({x["device"] for x in v}) <= 1
sys.exit(0 if ok else 1)' "$@"
}

run_audit() {
  echo "== audit: who watched"
  start_stack audit || { fail "audit: the stack did not start (logs in $WORK/audit)"; stop_stack; return; }
  if ! new_link 10m; then stop_stack; return; fi
  watch open "$LINK_URL" >/dev/null
  check_watch "audit: link $LINK_ID plays" expect playing 25
  if wait_until 10 "a viewer" viewers_are 1 Chrome; then
    pass "audit: linkctl viewers shows the Chromium viewer (Chrome, 127.0.0.0/24)"
  else
    fail "audit: linkctl viewers does not show the viewer: $(lc --json viewers | tr -d '\n ')"
  fi
  watch open "$LINK_URL" >/dev/null
  check_watch "audit: the reloaded page plays" expect playing 25
  watch open "about:blank" >/dev/null
  if wait_until 30 "the sessions to end" viewers_are 0; then
    pass "audit: the sessions end once the page is left"
  else
    fail "audit: sessions still listed 30 s after the page was left"
  fi
  local story
  story="$(lc log "$LINK_ID" | head -n 1)"
  case "$story" in
    *"opened 2 times from 1 device"*) pass "audit: linkctl log tells the story ($story)" ;;
    *) fail "audit: linkctl log says \"$story\"" ;;
  esac
  if lc --json log "$LINK_ID" | python3 -c 'import json, sys
ended = [e for e in json.load(sys.stdin)["events"] if e["kind"] == "session_ended"]
sys.exit(0 if len(ended) == 2 and all(e["browser"] == "Chrome" and e["bytes"] > 0 for e in ended) else 1)'; then
    pass "audit: linkctl log lists both ended sessions with browser and bytes"
  else
    fail "audit: ended sessions missing in linkctl log --json"
  fi
  stop_stack
}

T0=$(now_ms)
for r in "${RUNS[@]}"; do "run_$r"; done
echo "run.sh: $(secs_since "$T0") s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
