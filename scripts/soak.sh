#!/usr/bin/env bash
# Soak test of linkd: real binaries, loopback only, bounded in time.
#
#   scripts/soak.sh                         600 s, release build
#   SOAK_SECONDS=120 scripts/soak.sh        shorter
#   SOAK_PROFILE=debug scripts/soak.sh      use the debug build (no release build needed)
#
# Starts a static HLS origin (python3 -m http.server over a generated playlist and segments),
# linkd, and for SOAK_SECONDS:
#   - VIEWERS viewer loops (curl): get a new link from linkctl, open the watch page, play the
#     playlist and segments a few times, leave; every 4th viewer has its link switched off with
#     linkctl while it plays and must then get 403 (an injected, expected refusal);
#   - IDLE_CONNS idle keep-alive connections held by a small python client (ulimit -n raised);
#   - a sample of linkd's RSS and open descriptors every 10 s, printed as a table.
# linkd closes idle connections after its 30 s header timeout; the client then opens the next
# wave, so the idle load lasts the whole run. At the end the idle connections and viewers
# stop, and the script checks that descriptors are back near the baseline (+FD_SLACK), RSS is
# back near it (+RSS_SLACK_KIB or +50%, once it has stopped falling) and did not grow after
# the first wave of idle connections, there were no errors but the injected ones, and linkd stops with exit 0 on
# SIGTERM.
# Exit status 0 when every check passes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOAK_SECONDS="${SOAK_SECONDS:-600}"
SOAK_PROFILE="${SOAK_PROFILE:-release}"
VIEWERS="${VIEWERS:-4}"
IDLE_CONNS="${IDLE_CONNS:-10000}"
FD_SLACK="${FD_SLACK:-10}"
RSS_SLACK_KIB="${RSS_SLACK_KIB:-32768}"

cd "$ROOT"
if [ "$SOAK_PROFILE" = release ]; then
  cargo build --release -p linkd
  BIN="$ROOT/target/release"
else
  cargo build -p linkd
  BIN="$ROOT/target/debug"
fi

WORK="$(mktemp -d)"
# Run copies, so a rebuild in the tree during the soak does not pull the binaries away.
mkdir "$WORK/bin"
cp "$BIN/linkd" "$BIN/linkctl" "$WORK/bin/"
BIN="$WORK/bin"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# More descriptors for linkd and the idle client (up to the hard limit).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 500)) ]; then
  IDLE_CONNS=$(($(ulimit -n) - 500))
  echo "soak: descriptor limit $(ulimit -n): holding $IDLE_CONNS idle connections" >&2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A static HLS stream in MediaMTX's layout.
HLS="$WORK/hls/live/stream"
mkdir -p "$HLS"
{
  printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n'
  for i in 0 1 2 3; do
    printf '#EXTINF:1.0,\nseg%d.ts\n' "$i"
    head -c 65536 /dev/urandom >"$HLS/seg$i.ts"
  done
} >"$HLS/index.m3u8"
OPORT="$(free_port)"
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/hls" "$OPORT" >/dev/null 2>&1 &
ORIGIN=$!
PIDS+=($ORIGIN)

HPORT="$(free_port)"
SOCK="$WORK/linkd.sock"
env -i PATH="$PATH" \
  BASE_URL="http://127.0.0.1:$HPORT" \
  MEDIAMTX_HLS_BASE_URL="http://127.0.0.1:$OPORT/live/stream" \
  HTTP_ADDR="127.0.0.1:$HPORT" DB_PATH="$WORK/db.sqlite" RPC_SOCKET="$SOCK" \
  COOKIE_SECURE=false HTTP_TRUSTED_PROXY_COUNT=0 LOG_LEVEL=warn \
  MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" \
  "$BIN/linkd" 2>"$WORK/linkd.log" &
LINKD=$!
PIDS+=($LINKD)
H="http://127.0.0.1:$HPORT"
for _ in $(seq 1 200); do
  curl -fsS "$H/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -fsS "$H/healthz" >/dev/null || { echo "soak: linkd did not start" >&2; cat "$WORK/linkd.log" >&2; exit 1; }
ctl() { "$BIN/linkctl" --socket "$SOCK" "$@"; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$LINKD/status"; }
fds() { ls "/proc/$LINKD/fd" | wc -l; }

# One viewer loop; writes one line per outcome into $WORK/outcomes.
viewer() {
  local v="$1" n=0 jar url id off
  while [ ! -e "$WORK/stop" ]; do
    n=$((n + 1))
    jar="$WORK/jar.$v"
    if ! out="$(ctl --json new 10m --note "soak $v")"; then
      echo "error new" >>"$WORK/outcomes"; continue
    fi
    url="$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' <<<"$out")"
    id="$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' <<<"$out")"
    code="$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" "$url")"
    [ "$code" = 200 ] || { echo "error watch $code" >>"$WORK/outcomes"; continue; }
    off=$(( (v + n) % 4 == 0 ))
    for round in 1 2 3 4 5; do
      for f in index.m3u8 seg0.ts seg3.ts; do
        code="$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$H/play/$f")"
        if [ "$code" = 200 ]; then echo "ok" >>"$WORK/outcomes"; else echo "error play $code" >>"$WORK/outcomes"; fi
      done
      if [ "$off" = 1 ] && [ "$round" = 3 ]; then
        ctl off "$id" >/dev/null || echo "error off" >>"$WORK/outcomes"
        code="$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$H/play/index.m3u8")"
        if [ "$code" = 403 ]; then echo "injected" >>"$WORK/outcomes"; else echo "error after-off $code" >>"$WORK/outcomes"; fi
        break
      fi
    done
    [ "$off" = 1 ] || ctl off "$id" >/dev/null || echo "error leave" >>"$WORK/outcomes"
  done
}

# The idle client: holds N idle keep-alive connections; when linkd has closed them all (it
# closes connections idle for its 30 s header timeout), opens the next wave. Reports
# "open failed waves" every 2 s.
cat >"$WORK/idle.py" <<'EOF'
import os, socket, sys, time
port, n, stop, report = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
failed, waves, conns = 0, 0, []

def still_open(s):
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False

while not os.path.exists(stop):
    conns = [s for s in conns if still_open(s) or s.close()]
    if not conns:
        waves += 1
        for i in range(n):
            if os.path.exists(stop):
                break
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(req)
                data = b""
                while not data.endswith(b"ok"):
                    chunk = s.recv(4096)
                    if not chunk:
                        raise OSError("closed")
                    data += chunk
                s.setblocking(False)
                conns.append(s)
            except OSError:
                failed += 1
    with open(report + ".tmp", "w") as f:
        f.write(f"{len(conns)} {failed} {waves}\n")
    os.replace(report + ".tmp", report)
    time.sleep(2)
for s in conns:
    s.close()
EOF

echo "soak: $SOAK_SECONDS s, $VIEWERS viewers, $IDLE_CONNS idle connections, $SOAK_PROFILE build, linkd pid $LINKD"
for v in $(seq 1 "$VIEWERS"); do viewer "$v" & PIDS+=($!); done
sleep 5
BASE_RSS="$(rss)"
BASE_FDS="$(fds)"
python3 "$WORK/idle.py" "$HPORT" "$IDLE_CONNS" "$WORK/stop-idle" "$WORK/idle" &
IDLE=$!
PIDS+=($IDLE)

printf '%6s %10s %6s %8s %8s %6s %9s\n' t_s rss_kib fds idle_open plays_ok errors injected
row() {
  local idle="-"
  [ -e "$WORK/idle" ] && idle="$(cut -d' ' -f1 "$WORK/idle")"
  printf '%6s %10s %6s %8s %8s %6s %9s\n' "$1" "$(rss)" "$(fds)" "$idle" \
    "$(grep -c '^ok' "$WORK/outcomes" || true)" "$(grep -c '^error' "$WORK/outcomes" || true)" \
    "$(grep -c '^injected' "$WORK/outcomes" || true)"
}
touch "$WORK/outcomes"
row 0
START=$(date +%s)
PEAK_FDS=0
while [ $(($(date +%s) - START)) -lt "$SOAK_SECONDS" ]; do
  sleep 10
  f="$(fds)"; [ "$f" -gt "$PEAK_FDS" ] && PEAK_FDS="$f"
  row $(($(date +%s) - START))
  # RSS with the first wave of idle connections open: later waves must not add to it.
  if [ -z "${WAVE1_RSS:-}" ] && [ -e "$WORK/idle" ] && [ "$(cut -d' ' -f1 "$WORK/idle")" -ge "$IDLE_CONNS" ]; then
    WAVE1_RSS="$(rss)"
  fi
done
WAVE1_RSS="${WAVE1_RSS:-$(rss)}"

IDLE_AT_END="$(cut -d' ' -f1 "$WORK/idle" 2>/dev/null || echo 0)"
IDLE_FAILED="$(cut -d' ' -f2 "$WORK/idle" 2>/dev/null || echo 0)"
IDLE_WAVES="$(cut -d' ' -f3 "$WORK/idle" 2>/dev/null || echo 0)"
touch "$WORK/stop" "$WORK/stop-idle"
wait "$IDLE" 2>/dev/null || true
for p in "${PIDS[@]}"; do
  if [ "$p" != "$LINKD" ] && [ "$p" != "$ORIGIN" ]; then wait "$p" 2>/dev/null || true; fi
done
# Settle: descriptors close as the connections go.
for _ in $(seq 1 150); do [ "$(fds)" -le $((BASE_FDS + FD_SLACK)) ] && break; sleep 0.1; done
# Then memory: the allocator returns freed pages over about a second and cached stream files
# expire (30 s). Sample every 0.5 s until RSS is within the allowance and has stopped falling
# (less than 256 KiB down over the last second), at most 50 s.
SETTLE_T0=$(date +%s)
r1="$(rss)"; r2="$r1"
for _ in $(seq 1 100); do
  sleep 0.5
  r="$(rss)"
  if { [ "$r" -le $((BASE_RSS + RSS_SLACK_KIB)) ] || [ "$r" -le $((BASE_RSS * 3 / 2)) ]; } \
    && [ $((r2 - r)) -lt 256 ]; then
    break
  fi
  r2="$r1"; r1="$r"
done
SETTLE_S=$(($(date +%s) - SETTLE_T0))
END_RSS="$(rss)"
END_FDS="$(fds)"
row end

OK="$(grep -c '^ok' "$WORK/outcomes" || true)"
ERRORS="$(grep -c '^error' "$WORK/outcomes" || true)"
INJECTED="$(grep -c '^injected' "$WORK/outcomes" || true)"
ctl --json status >"$WORK/status" || true
kill -TERM "$LINKD"
T0=$(date +%s)
set +e
wait "$LINKD"
EXIT=$?
set -e
STOP_S=$(($(date +%s) - T0))

fail=0
check() { if eval "$2"; then echo "PASS  $1"; else echo "FAIL  $1"; fail=1; fi; }
echo
echo "baseline rss ${BASE_RSS} KiB, fds ${BASE_FDS}; peak fds ${PEAK_FDS}; end rss ${END_RSS} KiB, fds ${END_FDS}"
echo "plays ok ${OK}, unexpected errors ${ERRORS}, injected refusals ${INJECTED}"
echo "idle connections: $IDLE_WAVES waves of $IDLE_CONNS, $IDLE_FAILED failed to open, $IDLE_AT_END open at the end"
echo "rss with the first idle wave ${WAVE1_RSS} KiB; memory settled ${SETTLE_S} s after the last connection closed"
check "plays happened" '[ "$OK" -gt 0 ]'
check "no errors beyond the injected ones" '[ "$ERRORS" -eq 0 ]'
check "injected refusals were seen" '[ "$INJECTED" -gt 0 ]'
check "all idle connections opened" '[ "$IDLE_FAILED" -eq 0 ]'
check "descriptors back near baseline (<= $BASE_FDS + $FD_SLACK)" '[ "$END_FDS" -le $((BASE_FDS + FD_SLACK)) ]'
check "rss back near baseline (<= +50% or +$RSS_SLACK_KIB KiB)" \
  '[ "$END_RSS" -le $((BASE_RSS + RSS_SLACK_KIB)) ] || [ "$END_RSS" -le $((BASE_RSS * 3 / 2)) ]'
check "rss does not grow after the first idle wave (<= +10% + 8 MiB)" \
  '[ "$END_RSS" -le $((WAVE1_RSS * 11 / 10 + 8192)) ]'
check "linkd exits 0 on SIGTERM (took ${STOP_S}s)" '[ "$EXIT" -eq 0 ]'
if [ "$ERRORS" -gt 0 ]; then sort "$WORK/outcomes" | uniq -c | grep error | head; fi
if grep -q '"level":"ERROR"\| ERROR ' "$WORK/linkd.log"; then
  echo "linkd logged errors:"; grep 'ERROR' "$WORK/linkd.log" | head -5
fi
exit "$fail"
