#!/usr/bin/env bash
# profile.sh - a profile of linkd serving one cell of the kit: linkd (release) and its upstream
# nginx on SERVER_CPU, wrk -t1 on GEN_CPU for SECS seconds with a valid session, and
# `perf record` (DWARF call graphs) on linkd meanwhile. Prints linkd's CPU per request and
# where the profile is; `perf report -i FILE --no-children` reads it. With -n the profiled
# server is that nginx serving the files from disk as the kit's baseline does; with -l the
# profile is flat (no call graphs, lighter). bench/profile-diff.py compares two profiles per
# function in CPU time per request.
#
#   bench/profile.sh [-f index.m3u8|part.mp4|seg.mp4] [-c CONNS] [-d SECS] [-o DIR] [-n] [-l]
# Env: BIN_DIR (linkd and linkctl to run; default: build the release), BASE_PORT (18600).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
source "$here/lib.sh"

file=index.m3u8; conns=50; secs=5; out=""; server=linkd; graph=(--call-graph dwarf,16384)
while getopts "f:c:d:o:nl" o; do
  case $o in
    f) file=$OPTARG ;; c) conns=$OPTARG ;; d) secs=$OPTARG ;; o) out=$OPTARG ;;
    n) server=nginx ;; l) graph=() ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
  esac
done
[[ $file =~ ^(index\.m3u8|part\.mp4|seg\.mp4)$ ]] || die "-f: index.m3u8, part.mp4 or seg.mp4"
((conns >= 1 && conns <= 5000 && secs >= 1 && secs <= 60)) || die "-c 1..5000, -d 1..60"
for t in perf nginx wrk taskset curl python3; do command -v "$t" > /dev/null || die "$t is needed"; done
if [[ -z ${BIN_DIR:-} ]]; then
  (cd "$root" && cargo build --release -p linkd) || die "cargo build failed"
  BIN_DIR=${CARGO_TARGET_DIR:-$root/target}/release
fi
P=${BASE_PORT:-18600}; UP=$((P + 1)); SCPU=${SERVER_CPU:-0}; GCPU=${GEN_CPU:-1}
for port in $P $UP; do port_free "$port" || die "port $port is in use (set BASE_PORT)"; done
out=${out:-$root/target/bench/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
state=$(mktemp -d); chmod a+rx "$state"; started=()
trap 'for p in "${started[@]}"; do stop_pid "$p"; done; rm -rf "$state"' EXIT

bash "$here/payloads.sh" "$state/www" > /dev/null; chmod -R a+rX "$state/www"
mkdir -p "$state/up/tmp" "$state/l"
cat > "$state/up/nginx.conf" <<CONF
worker_processes 1; worker_rlimit_nofile 20000; error_log $state/up/error.log warn;
events { worker_connections 8192; multi_accept on; }
http { access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
  open_file_cache max=64 inactive=60s; open_file_cache_valid 60s;
  client_body_temp_path tmp/b; proxy_temp_path tmp/p;
  fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;
  types { application/vnd.apple.mpegurl m3u8; video/mp4 mp4; }
  server { listen 127.0.0.1:$UP backlog=4096; location /live/stream/ { alias $state/www/; } } }
CONF
taskset -c "$SCPU" nginx -p "$state/up/" -c "$state/up/nginx.conf" -g "daemon off; pid $state/up/pid;" &
np=$!; started+=("$np")
HTTP_ADDR=127.0.0.1:$P BASE_URL=http://127.0.0.1:$P DB_PATH=$state/l/db.sqlite RPC_SOCKET=$state/l/s \
  MEDIAMTX_HLS_BASE_URL=http://127.0.0.1:$UP/live/stream COOKIE_SECURE=false LOG_LEVEL=warn \
  HTTP_MAX_CONNECTIONS_PER_CLIENT=100000 taskset -c "$SCPU" "$BIN_DIR/linkd" > "$state/l/log" 2>&1 &
lp=$!; started+=("$lp")
wait_port "$P" && wait_port "$UP" || die "linkd or nginx did not start"
url=$("$BIN_DIR/linkctl" --socket "$state/l/s" --json new 1h | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
curl -fsS -c "$state/jar" -o /dev/null "http://127.0.0.1:$P/live/stream/${url##*/}"
cookie=$(awk '$6 == "watch_session" { print $7 }' "$state/jar")
curl -fsS -H "Cookie: watch_session=$cookie" -o /dev/null "http://127.0.0.1:$P/play/$file"

sp=$lp; target=http://127.0.0.1:$P/play/$file
if [[ $server == nginx ]]; then
  sp=$(children "$np" | head -1); target=http://127.0.0.1:$UP/live/stream/$file
  [[ -n $sp ]] || die "nginx has no worker"
fi
t0=$(cpu_ticks "$sp")
perf record -q -F 1999 "${graph[@]}" -p "$sp" -o "$out/perf.data" -- \
  taskset -c "$GCPU" wrk -t1 -c"$conns" -d"${secs}s" -H "Cookie: watch_session=$cookie" \
  "$target" > "$out/wrk.txt" 2>&1
t1=$(cpu_ticks "$sp")
reqs=$(awk '/requests in/ {print $1}' "$out/wrk.txt")
[[ -n $reqs && $reqs -gt 0 ]] || die "wrk made no requests (see $out/wrk.txt)"
awk -v r="$reqs" -v t=$((t1 - t0)) -v hz="$HZ" -v f="$file" -v c="$conns" -v o="$out/perf.data" -v s="$server" \
  'BEGIN { printf "%s c %d: %d requests, %s %.2f us CPU per request (under perf); profile %s\n", f, c, r, s, t / hz * 1e6 / r, o }' \
  | tee "$out/summary.txt"
