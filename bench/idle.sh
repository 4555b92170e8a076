#!/usr/bin/env bash
# idle.sh - memory per idle connection: linkd and nginx, in one run, on 127.0.0.1.
#
#   bench/idle.sh [-n "1000 10000"] [-H]
#
# For each count N and each server: start it fresh, read its RSS, hold N keep-alive
# connections that were each served once (linkd: `/play/part.mp4` of a real session through
# the gate, so each connection has been through the whole path once; nginx: the same file from
# disk), read its RSS again. Prints RSS at rest, RSS with N connections and kB per connection.
# linkd runs with HTTP_MAX_CONNECTIONS_PER_CLIENT raised (all connections come from one
# address here). Env: BASE_PORT (default 18500; uses the next 5 ports), SERVER_CPU (0).
# -H: instead, a heap profile of linkd holding the first count of connections: linkd built
# with the system allocator (feature `system-allocator`, in target/heap) runs under heaptrack,
# and bench/heap-sites.py prints the allocation sites that hold the most at the peak, in bytes
# per connection (needs heaptrack: apt install heaptrack).
# Results go to target/bench/idle-DATE/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
source "$here/lib.sh"

counts="1000 10000"; heap=0
while getopts "n:H" o; do
  case $o in n) counts=$OPTARG ;; H) heap=1 ;; *) sed -n '2,16p' "$0"; exit 2 ;; esac
done
if ((heap)); then
  for t in heaptrack heaptrack_print; do command -v "$t" > /dev/null || die "$t is missing (apt install heaptrack)"; done
  counts=${counts%% *}
fi
BASE_PORT=${BASE_PORT:-18500}; SCPU=${SERVER_CPU:-0}
NGX=$((BASE_PORT)); UP=$((BASE_PORT + 1)); LINKD=$((BASE_PORT + 2)); MET=$((BASE_PORT + 3))
for p in $NGX $UP $LINKD $MET; do port_free "$p" || die "port $p is in use (set BASE_PORT)"; done
for t in nginx curl python3 taskset; do command -v "$t" > /dev/null || die "$t is missing"; done
ulimit -n "$(ulimit -Hn)"
for n in $counts; do
  ((n + 256 <= $(ulimit -n))) || die "$n connections need an open-file limit of $((n + 256)) (hard limit $(ulimit -Hn))"
done

res=$root/target/bench/idle-$(date -u +%Y%m%d-%H%M%S); mkdir -p "$res"
state=$(mktemp -d); chmod a+rx "$state"; started=()
cleanup() { local p; for p in "${started[@]}"; do stop_pid "$p"; done; rm -rf "$state"; }
trap cleanup EXIT
if ((heap)); then
  say "building linkd with the system allocator (release, target/heap)"
  (cd "$root" && CARGO_TARGET_DIR=$root/target/heap \
    cargo build --release --locked -q -p linkd --bins --features system-allocator)
  bin=$root/target/heap/release; wrap=(heaptrack -o "$res/heap")
else
  say "building linkd (release)"
  (cd "$root" && cargo build --release --locked -q -p linkd --bins)
  bin=$root/target/release; wrap=()
fi
bash "$here/payloads.sh" "$state/www"; chmod -R a+rX "$state/www"

# nginx NAME PORT LOCATION: nginx serving $state/www at LOCATION; sets ret=MASTER,WORKER.
nginx_on() {
  local name=$1 port=$2 loc=$3 dir=$state/$1 master worker i
  mkdir -p "$dir/tmp"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1; worker_rlimit_nofile 20000;
error_log $dir/error.log warn;
events { worker_connections 20000; }
http {
  access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65s; keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server { listen 127.0.0.1:$port backlog=4096; location $loc { alias $state/www/; } }
}
CONF
  taskset -c "$SCPU" nginx -p "$dir/" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid;" \
    > "$dir/stdout.log" 2>&1 &
  master=$!; started+=("$master")
  wait_port "$port" 10 || { cat "$dir/error.log" >&2; die "nginx $name did not start"; }
  for ((i = 0; i < 40; i++)); do worker=$(children "$master" | head -1); [[ -n $worker ]] && break; sleep 0.05; done
  ret="$master,$worker"
}

# linkd_on: linkd on $LINKD with a temp database, its upstream the nginx on $UP; sets ret=PID.
linkd_on() {
  local dir=$state/linkd pid i
  rm -rf "$dir"; mkdir -p "$dir"
  HTTP_ADDR=127.0.0.1:$LINKD BASE_URL=http://127.0.0.1:$LINKD DB_PATH=$dir/db.sqlite \
    RPC_SOCKET=$dir/linkd.sock MEDIAMTX_HLS_BASE_URL=http://127.0.0.1:$UP/live/stream \
    COOKIE_SECURE=false LOG_LEVEL=warn METRICS_ADDR=127.0.0.1:$MET \
    HTTP_MAX_CONNECTIONS=100000 HTTP_MAX_CONNECTIONS_PER_CLIENT=100000 \
    taskset -c "$SCPU" "${wrap[@]}" "$bin/linkd" > "$dir/linkd.log" 2>&1 &
  pid=$!; started+=("$pid")
  for ((i = 0; i < 200; i++)); do
    curl -fs "http://127.0.0.1:$LINKD/healthz" > /dev/null 2>&1 && { ret=$pid; return 0; }
    [[ -d /proc/$pid ]] || break
    sleep 0.05
  done
  cat "$dir/linkd.log" >&2; die "linkd did not start"
}

# cookie: a session cookie of a new link on linkd (its watch page opened once).
cookie() {
  local url jar=$state/jar
  url=$("$bin/linkctl" --socket "$state/linkd/linkd.sock" --json new 1h \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')
  curl -fs -c "$jar" -o /dev/null "http://127.0.0.1:$LINKD/live/stream/${url##*/}"
  awk '$6 == "watch_session" { print "watch_session=" $7 }' "$jar"
}

# row SERVER N REST_KB JSON: one line of idle.tsv from idle.py's answer.
row() {
  python3 -c 'import json, sys; j = json.loads(sys.argv[4]); print("\t".join([*sys.argv[1:4], str(j["rss_kb"]), str(j["open"])]))' \
    "$@" >> "$res/idle.tsv"
}

nginx_on upstream "$UP" /live/stream/; up=$ret

# heap_profile N: linkd under heaptrack holds N connections, then stops; prints its peak's sites.
heap_profile() {
  local n=$1 hpid lpid c k i f
  linkd_on; hpid=$ret; c=$(cookie)
  curl -fs -H "Cookie: $c" -o /dev/null "http://127.0.0.1:$LINKD/play/part.mp4"
  for k in $(children "$hpid"); do [[ $(cat "/proc/$k/comm" 2> /dev/null) == linkd ]] && lpid=$k; done
  [[ -n ${lpid:-} ]] || die "no linkd under heaptrack"
  python3 "$here/idle.py" 127.0.0.1 "$LINKD" /play/part.mp4 "$n" "$lpid" "$c" > "$res/idle.json"
  kill -TERM "$lpid"
  for ((i = 0; i < 600; i++)); do [[ -d /proc/$hpid ]] || break; sleep 0.1; done
  [[ -d /proc/$hpid ]] && die "heaptrack did not finish within 60 s"
  f=$(ls "$res"/heap.*); say "heap profile: $f"
  heaptrack_print -f "$f" --print-peaks 0 --print-allocators 0 --print-temporary 0 \
    --flamegraph-cost-type peak -F "$res/heap.stacks" > /dev/null
  python3 "$here/heap-sites.py" "$res/heap.stacks" "$n" 14 | tee "$res/heap.txt"
}
if ((heap)); then
  heap_profile "$counts"
  echo "results: $res"
  exit 0
fi
printf 'server\tconns\trest_kb\tloaded_kb\topen\n' > "$res/idle.tsv"
for n in $counts; do
  nginx_on static "$NGX" /play/; ngx=$ret
  rest=$(( $(vm_kb "${ngx%,*}" VmRSS) + $(vm_kb "${ngx#*,}" VmRSS) ))
  out=$(python3 "$here/idle.py" 127.0.0.1 "$NGX" /play/part.mp4 "$n" "$ngx")
  row nginx "$n" "$rest" "$out"
  stop_pid "${ngx%,*}"
  linkd_on; lpid=$ret; c=$(cookie)
  # one request first, so the shared answer is cached before the resting figure
  curl -fs -H "Cookie: $c" -o /dev/null "http://127.0.0.1:$LINKD/play/part.mp4"
  rest=$(vm_kb "$lpid" VmRSS)
  out=$(python3 "$here/idle.py" 127.0.0.1 "$LINKD" /play/part.mp4 "$n" "$lpid" "$c")
  row linkd "$n" "$rest" "$out"
  stop_pid "$lpid"
done
python3 - "$res/idle.tsv" <<'PY' | tee "$res/idle.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"{'server':8} {'conns':>6} {'RSS at rest':>12} {'RSS held':>10} {'kB/conn':>8} {'open':>6}")
for r in rows:
    n, rest, held = int(r["conns"]), int(r["rest_kb"]), int(r["loaded_kb"])
    print(f"{r['server']:8} {n:6d} {rest / 1024:9.1f} MB {held / 1024:7.1f} MB "
          f"{(held - rest) / n:8.1f} {int(r['open']):6d}")
PY
echo "results: $res"
