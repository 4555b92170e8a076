#!/usr/bin/env bash
# run.sh - tempstream's benchmark. Two parts, everything on 127.0.0.1, every run bounded:
#
#  1. The cached hot path: linkd's gated /play/* against nginx serving the same payloads as
#     static files (the baseline), with wrk over 9 cells (1 KB / 40 KB / 250 KB x 50 / 200 /
#     1000 connections). Servers on CPU 0 (linkd's upstream nginx too, its CPU charged to
#     linkd), wrk -t1 on CPU 1. Prints req/s, server CPU per request, p99 and the ratios.
#  2. LL-HLS: llviewers (CPU 1) against llorigin (CPU 0) directly, then through linkd (CPU 0):
#     parts/s per viewer, errors, delivery lag, upstream fetches per part and per blocking
#     playlist as counted by the origin, linkd's RSS.
#  3. Only with -s gates (bench/gates.sh): three linkd on one PostgreSQL and one llorigin
#     (CPU 0), a third of the viewers on each (CPU 1): per gate lag, CPU per request; origin
#     fetches per part (one per gate).
#
#   bench/run.sh [-d SECS] [-r ROUNDS] [-q] [-w QUIET_SECS] [-n "500 1000 2000"] [-s PART]
#     -d  seconds per wrk run (default 4)          -r  rounds of the wrk grid (default 2)
#     -q  quick smoke run: 1 round, 2 s runs, fewer viewers, no quiet wait (~2 min)
#     -w  before each run wait up to this long for the rest of the machine to be quiet
#         (< 0.25 cores busy; default 5, 0 = never wait)
#     -n  viewer counts of the LL-HLS part (default "500 1000 2000"; quick "200 1000")
#     -s  only this part: "cells", "ll" or "gates" (gates runs only when named)
# Env: BASE_PORT (default 18400; uses the next 12 ports), SERVER_CPU (0), GEN_CPU (1).
#   BIN_DIR=DIR: run the linkd, linkctl, llorigin and llviewers in DIR instead of building
#   the release build (e.g. target/debug for a functional run; its figures are not release's).
#   AB_BIN=DIR: also run the cells against the linkd and linkctl in DIR (e.g. the release
#   build of an earlier commit, in a worktree of its own) as target "linkd0", in the same
#   rounds, and print the table linkd0 -> linkd: an A/B of two builds in one run.
# Results (TSV, tables, logs) go to target/bench/run-DATE/; temp state to a temp dir.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
source "$here/lib.sh"

dur=""; rounds=""; quick=0; quiet=""; counts=""; only=""
while getopts "d:r:qw:n:s:" o; do
  case $o in
    d) dur=$OPTARG ;; r) rounds=$OPTARG ;; q) quick=1 ;; w) quiet=$OPTARG ;;
    n) counts=$OPTARG ;; s) only=$OPTARG ;; *) sed -n '2,27p' "$0"; exit 2 ;;
  esac
done
if ((quick)); then
  : "${dur:=2}" "${rounds:=1}" "${quiet:=0}" "${counts:=200 1000}"; lldur=4; ramp=1
else
  : "${dur:=4}" "${rounds:=2}" "${quiet:=5}" "${counts:=500 1000 2000}"; lldur=8; ramp=2
fi
((dur >= 1 && dur <= 60 && rounds >= 1 && rounds <= 10 && quiet <= 60)) \
  || die "keep runs bounded: -d 1..60, -r 1..10, -w <= 60"
for n in $counts; do ((n >= 1 && n <= 5000)) || die "-n: viewer counts 1..5000"; done
[[ -z $only || $only == cells || $only == ll || $only == gates ]] || die "-s: cells, ll or gates"
if [[ $only == gates ]]; then for n in $counts; do ((n >= 3)) || die "-n: at least 3 viewers for three gates"; done; fi
SCPU=${SERVER_CPU:-0}; GCPU=${GEN_CPU:-1}
P=${BASE_PORT:-18400}
NGX=$((P + 1)); UP=$((P + 2)); LINKD=$((P + 3)); MET=$((P + 4)); ORIG=$((P + 5)); LLD=$((P + 6)); LLMET=$((P + 7))
AB=$((P + 8)); ABMET=$((P + 9)); AB_BIN=${AB_BIN:-}
if [[ -n $AB_BIN ]]; then
  [[ -x $AB_BIN/linkd && -x $AB_BIN/linkctl ]] || die "AB_BIN: no linkd and linkctl in $AB_BIN"
fi
for port in $NGX $UP $LINKD $MET $ORIG $LLD $LLMET $AB $ABMET; do port_free "$port" || die "port $port is in use (set BASE_PORT)"; done

# --- tools, build ---------------------------------------------------------------------------
missing=()
for t in nginx wrk; do command -v "$t" > /dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  if [[ $(id -u) == 0 ]]; then apt-get install -y "${missing[@]}" > /dev/null
  else sudo -n apt-get install -y "${missing[@]}" > /dev/null; fi || die "cannot install ${missing[*]}"
fi
for t in taskset curl python3 awk; do command -v "$t" > /dev/null || die "$t is needed"; done
if [[ -n ${BIN_DIR:-} ]]; then
  bin=$(cd "$BIN_DIR" && pwd)
  for b in linkd linkctl llorigin llviewers; do [[ -x $bin/$b ]] || die "BIN_DIR: no $b in $bin"; done
  say "using the build in $bin"
else
  say "building (release)"
  (cd "$root" && cargo build --release -p linkd -p tempstream-bench) || die "cargo build failed"
  bin=${CARGO_TARGET_DIR:-$root/target}/release
fi

# --- state, results, cleanup ----------------------------------------------------------------
tmpbase=/dev/shm; [[ -d $tmpbase && -w $tmpbase ]] || tmpbase=${TMPDIR:-/tmp}
state=$(mktemp -d "$tmpbase/tempstream-bench.XXXXXX")
chmod 755 "$state"
res=${CARGO_TARGET_DIR:-$root/target}/bench/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$res"
started=()   # PIDs we started, stopped in reverse order on exit
cleanup() {
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do stop_pid "${started[i]}"; done
  if declare -F pg_cleanup > /dev/null; then pg_cleanup; fi
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "kernel: $(uname -r); memory: $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*nginx\///'); wrk: $(wrk -v 2>&1 | head -1 | awk '{ print $2 }'); $(rustc -V)"
  echo "command: ${BIN_DIR:+BIN_DIR=$BIN_DIR }bench/run.sh $*  (d=$dur s, r=$rounds, quiet wait <= ${quiet}s, LL ${lldur}s + ${ramp}s ramp, viewers: $counts)"
} | tee "$res/machine.txt" >&2

# start_nginx NAME PORT LOCATION: nginx serving the payloads under LOCATION, one worker on
# SERVER_CPU; sets ret="master,worker". (Not run in $(...): the PIDs must reach `started`.)
start_nginx() {
  local name=$1 port=$2 loc=$3 dir=$state/nginx-$1 user="" master worker i
  mkdir -p "$dir/tmp"
  [[ $(id -u) == 0 ]] && user="user root;"
  cat > "$dir/nginx.conf" <<CONF
$user
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $dir/error.log warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65s; keepalive_requests 1000000;
  open_file_cache max=64 inactive=60s; open_file_cache_valid 60s;
  types { application/vnd.apple.mpegurl m3u8; video/mp4 mp4; }
  default_type application/octet-stream;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location $loc { alias $state/www/; }
  }
}
CONF
  taskset -c "$SCPU" nginx -p "$dir/" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid;" \
    > "$dir/stdout.log" 2>&1 &
  master=$!; started+=("$master")
  wait_port "$port" 10 || { cat "$dir/error.log" "$dir/stdout.log" >&2; die "nginx $name did not start"; }
  for ((i = 0; i < 40; i++)); do worker=$(children "$master" | head -1); [[ -n $worker ]] && break; sleep 0.05; done
  ret="$master,$worker"
}

# start_linkd NAME PORT METRICS_PORT ORIGIN_URL [BIN_DIR] [DB]: linkd on SERVER_CPU with a
# temp socket and a temp SQLite database (or DB, e.g. DATABASE_URL=postgres://...), metrics on
# METRICS_PORT (none when empty); sets ret=PID.
start_linkd() {
  local name=$1 port=$2 met=$3 origin=$4 lbin=${5:-$bin} dir=$state/$1 pid i
  mkdir -p "$dir"
  local db=${6:-DB_PATH=$dir/db.sqlite}
  (cd "$dir" && exec env "$db" HTTP_ADDR="127.0.0.1:$port" BASE_URL="http://127.0.0.1:$port" \
    RPC_SOCKET="$dir/linkd.sock" MEDIAMTX_HLS_BASE_URL="$origin" COOKIE_SECURE=false \
    LOG_LEVEL=warn METRICS_ADDR="${met:+127.0.0.1:$met}" \
    taskset -c "$SCPU" "$lbin/linkd") > "$dir/linkd.log" 2>&1 &
  pid=$!; started+=("$pid")
  for ((i = 0; i < 200; i++)); do
    curl -fs "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && { ret=$pid; return 0; }
    [[ -d /proc/$pid ]] || break
    sleep 0.05
  done
  cat "$dir/linkd.log" >&2; die "linkd ($name) did not start"
}

# new_link NAME [BIN_DIR]: makes a link with linkctl; prints the watch path /live/stream/TOKEN.
new_link() {
  local url
  url=$("${2:-$bin}/linkctl" --socket "$state/$1/linkd.sock" --json new 1h \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])') || die "linkctl new failed"
  echo "/live/stream/${url##*/}"
}

# open_gate NAME PORT [BIN_DIR]: a link on linkd NAME, its watch page opened into the cookie
# jar ($state/jar, or $state/jar.ab for linkd0), and the gate checked: the payloads' bytes
# with the cookie, 403 without or with a forged one.
open_gate() {
  local name=$1 port=$2 jar=$state/jar watch code cookie f c1 c2
  [[ $name == linkd0 ]] && jar=$state/jar.ab
  watch=$(new_link "$name" "${3:-}")
  code=$(curl -s -c "$jar" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$watch")
  [[ $code == 200 ]] || die "$name: opening the watch link answered $code"
  cookie=$(awk '$6 == "watch_session" { print $7 }' "$jar")
  [[ -n $cookie ]] || die "$name: the watch page set no watch_session cookie"
  for f in index.m3u8 part.mp4 seg.mp4; do
    curl -fs -H "Cookie: watch_session=$cookie" "http://127.0.0.1:$port/play/$f" -o "$state/got" \
      || die "$name /play/$f failed"
    cmp -s "$state/got" "$state/www/$f" || die "$name /play/$f: not the upstream's bytes"
  done
  c1=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/play/part.mp4")
  c2=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: watch_session=${cookie%?}x" "http://127.0.0.1:$port/play/part.mp4")
  [[ $c1 == 403 && $c2 == 403 ]] || die "$name: the gate let a request through without a valid cookie ($c1, $c2)"
  say "$name: gate checked: 200 with the cookie (the upstream's bytes), 403 without ($c1) and forged ($c2)"
}

# --- part 1: the cached hot path against nginx static ---------------------------------------
if [[ -z $only || $only == cells ]]; then
  say "payloads and servers"
  bash "$here/payloads.sh" "$state/www"
  chmod -R a+rX "$state/www"
  start_nginx static "$NGX" /play/; ngx_pids=$ret
  start_nginx upstream "$UP" /live/stream/; up_pids=$ret
  start_linkd linkd "$LINKD" "$MET" "http://127.0.0.1:$UP/live/stream"; linkd_pid=$ret
  open_gate linkd "$LINKD"
  targets=("nginx=$NGX:$ngx_pids" "linkd=$LINKD:$linkd_pid,$up_pids")
  if [[ -n $AB_BIN ]]; then
    start_linkd linkd0 "$AB" "$ABMET" "http://127.0.0.1:$UP/live/stream" "$AB_BIN"; ab_pid=$ret
    open_gate linkd0 "$AB" "$AB_BIN"
    targets+=("linkd0=$AB:$ab_pid,$up_pids")
  fi
  say "wrk grid: 9 cells x ${#targets[@]} targets x $rounds round(s) x ${dur}s"
  # the watch page renews its short session by polling /play/_session; so does each wrk run
  cat > "$state/renew.sh" <<RENEW
jar=$state/jar; port=$LINKD
[[ \$1 == linkd0 ]] && { jar=$state/jar.ab; port=$AB; }
# (a build without /play/_session keeps the cookie it has)
curl -fs -b "\$jar" -c "\$jar" -o /dev/null "http://127.0.0.1:\$port/play/_session"
awk '\$6 == "watch_session" { print "Cookie: watch_session=" \$7 }' "\$jar"
RENEW
  renew="bash '$state/renew.sh' \"\$1\""
  bash "$here/cells.sh" -o "$res/cells.tsv" -d "$dur" -r "$rounds" -w "$quiet" -C "$GCPU" -K "$renew" \
    "${targets[@]}"
  python3 "$here/cells-table.py" "$res/cells.tsv" nginx linkd | tee "$res/cells.txt"
  if [[ -n $AB_BIN ]]; then
    say "A/B: linkd0 ($AB_BIN) is the baseline, linkd (this tree) the candidate"
    python3 "$here/cells-table.py" "$res/cells.tsv" linkd0 linkd | tee "$res/cells-ab.txt"
    stop_pid "$ab_pid"
  fi
  curl -fs "http://127.0.0.1:$MET/metrics" > "$res/linkd-cells.metrics" 2>/dev/null || true
  for pid in "$linkd_pid" "${up_pids%,*}" "${ngx_pids%,*}"; do stop_pid "$pid"; done
fi

# --- part 2: LL-HLS viewers ----------------------------------------------------------------
# ll_run TARGET N PORT MASTER PIDS [OPEN_PATH LINKD_PID]: one llviewers run; appends a row.
ll_run() {
  local i target=$1 n=$2 port=$3 master=$4 pids=$5 open=${6:-} lpid=${7:-} qc=0 gen s0 s1 g0 g1 b0 b1 t0 t1 rss=0 hwm=0
  local args=(--target "127.0.0.1:$port" --viewers "$n" --duration "$lldur" --ramp "$ramp" --master "$master")
  [[ -n $open ]] && args+=(--open "$open")
  ((quiet > 0)) && qc=$(quiet_wait "$quiet")
  curl -fs -X POST "http://127.0.0.1:$ORIG/_reset" > /dev/null || die "llorigin is not answering"
  IFS=, read -r -a pp <<<"$pids"
  taskset -c "$GCPU" "$bin/llviewers" "${args[@]}" > "$state/ll.out" 2>&1 &
  gen=$!; started+=("$gen")
  # CPU and fetch counts are sampled inside the viewers' measured window, from 0.2 s after
  # its start to 0.5 s before its end: the viewers still run at both ends, and requests that
  # leaving viewers cancel are counted separately (stats2, after the run)
  sleep "$(awk -v r="$ramp" 'BEGIN { print r + 0.2 }')"
  s0=$(cpu_ticks "${pp[@]}"); g0=$(cpu_ticks "$gen"); b0=$(busy_ticks); t0=$(date +%s%N)
  curl -fs "http://127.0.0.1:$ORIG/_stats" > "$state/stats0.json" || die "llorigin /_stats failed"
  sleep "$(awk -v d="$lldur" 'BEGIN { print d - 0.7 }')"
  curl -fs "http://127.0.0.1:$ORIG/_stats" > "$state/stats1.json" || die "llorigin /_stats failed"
  s1=$(cpu_ticks "${pp[@]}"); g1=$(cpu_ticks "$gen"); b1=$(busy_ticks); t1=$(date +%s%N)
  if [[ -n $lpid ]]; then rss=$(vm_kb "$lpid" VmRSS); hwm=$(vm_kb "$lpid" VmHWM); fi
  # llviewers stops at its deadline by itself; give it 30 s more at most
  for ((i = 0; i < 300; i++)); do [[ -d /proc/$gen ]] || break; sleep 0.1; done
  stop_pid "$gen"
  wait "$gen" || true
  sleep 0.3
  curl -fs "http://127.0.0.1:$ORIG/_stats" > "$state/stats2.json" || die "llorigin /_stats failed"
  cat "$state/ll.out" >> "$res/llviewers.log"
  local result
  result=$(grep '^RESULT ' "$state/ll.out") || { cat "$state/ll.out" >&2; die "llviewers failed ($target, $n)"; }
  python3 - "$target" "$result" "$state/stats0.json" "$state/stats1.json" "$state/stats2.json" "$s0" "$s1" "$g0" "$g1" "$b0" "$b1" "$t0" "$t1" "$HZ" "$rss" "$hwm" "$qc" \
    >> "$res/ll.tsv" <<'PY'
import json, sys
target, result, f0, f1, f2, s0, s1, g0, g1, b0, b1, t0, t1, hz, rss, hwm, qc = sys.argv[1:]
v = dict(kv.split("=", 1) for kv in result.split()[1:])
before, after, end = (json.load(open(f)) for f in (f0, f1, f2))
wall = (int(t1) - int(t0)) / 1e9
pct = lambda a, b: max(0.0, (int(b) - int(a)) / float(hz) / wall * 100)
srv, gen = pct(s0, s1), pct(g0, g1)
other = max(0.0, pct(b0, b1) - srv - gen)

def fetches(kind):
    # files of this kind requested in the measured window, and all requests each of them
    # got since the run started (so a second fetch during the ramp still counts)
    a, b = before["per_path"], after["per_path"]
    keys = [k for k in b if kind(k) and b[k] > a.get(k, 0)]
    counts = [b[k] for k in keys]
    return [sum(counts), len(keys), max(counts, default=0)]

is_part = lambda k: "_video1_part" in k
is_blocking = lambda k: "?_HLS_msn=" in k
whole = end["parts"]["max_per"], end["blocking_playlists"]["max_per"]
print("\t".join(str(x) for x in [
    target, v["viewers"], v["rps"], v["parts_per_viewer_s"], v["slowest_viewer_parts_s"],
    v["errors"], v["non200"], v["lag_p50_ms"], v["lag_p99_ms"], v["lag_max_ms"], v["part_p99_ms"],
    "%.1f" % srv, "%.1f" % gen, "%.1f" % other,
    *fetches(is_part), *fetches(is_blocking), *whole, rss, hwm, qc]))
PY
  tail -1 "$res/ll.tsv" | awk -F'\t' '{ printf "  %-6s %5s viewers  %6s req/s  %s parts/s/viewer  errors %s/%s  lag p50 %s p99 %s ms  srv %s%%  gen %s%%  other %s%%%s\n",
    $1, $2, $3, $4, $6, $7, $8, $9, $12, $13, $14, ($14 > 25 ? "  NOISY" : "") }' >&2
}

if [[ -z $only || $only == ll ]]; then
  say "LL-HLS: llorigin on CPU $SCPU, viewers on CPU $GCPU, ${lldur}s measured after a ${ramp}s ramp"
  printf 'target\tviewers\trps\tparts_v\tslowest_v\terrors\tnon200\tlag_p50\tlag_p99\tlag_max\tpart_p99\tsrv_cpu\tgen_cpu\tother_cpu\tpart_req\tpart_distinct\tpart_max\tblk_req\tblk_distinct\tblk_max\tall_part_max\tall_blk_max\trss_kb\thwm_kb\tquiet_cores\n' > "$res/ll.tsv"
  taskset -c "$SCPU" "$bin/llorigin" --listen "127.0.0.1:$ORIG" --max-seconds 1800 > "$state/llorigin.log" 2>&1 &
  opid=$!; started+=("$opid")
  wait_port "$ORIG" 10 || die "llorigin did not start"
  for n in $counts; do
    ll_run direct "$n" "$ORIG" /live/stream/index.m3u8 "$opid"
  done
  start_linkd linkd-ll "$LLD" "$LLMET" "http://127.0.0.1:$ORIG/live/stream"; lpid=$ret
  watch=$(new_link linkd-ll)
  idle_rss=$(vm_kb "$lpid" VmRSS)
  for n in $(printf '%s\n' 1 100 $counts | sort -nu); do
    ll_run linkd "$n" "$LLD" /play/index.m3u8 "$lpid,$opid" "$watch" "$lpid"
  done
  curl -fs "http://127.0.0.1:$LLMET/metrics" > "$res/linkd-ll.metrics" 2>/dev/null || true
  python3 "$here/ll-table.py" "$res/ll.tsv" "$idle_rss" | tee "$res/ll.txt"
fi
# --- part 3: three gates on one origin (only when named) -----------------------------------
if [[ $only == gates ]]; then
  source "$here/gates.sh"
  gates_cell
fi
say "results in $res"
