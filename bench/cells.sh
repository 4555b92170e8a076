#!/usr/bin/env bash
# cells.sh - the wrk grid: payload x connections x targets, each target once per cell and
# round, back to back in rotating order. Appends one TSV row per run to OUT.
#
#   cells.sh -o OUT [-d SECS] [-r ROUNDS] [-c "50 200 1000"] [-p PATHS] [-C WRK_CPUS]
#            [-w QUIET_MAX_SECS] [-H HEADER] [-K CMD] NAME=PORT:PID[,PID...] ...
#
# -K CMD: a shell command printing the header, run before every wrk run instead of a fixed
# -H (playback sessions are short and renewed, as the watch page renews its own); it gets
# the target's NAME as $1.
# The first target is the baseline. PIDs are the processes whose CPU is charged to the
# target (a server and, for a proxy, its upstream). Per run: req/s, p50/p99 (wrk-report.lua),
# server CPU % (utime+stime of the PIDs over the run), wrk CPU %, and "other" CPU %: what
# the rest of the machine used meanwhile (all busy time in /proc/stat minus server and wrk).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
dur=4; rounds=2; conns="50 200 1000"; paths="/play/index.m3u8 /play/part.mp4 /play/seg.mp4"
wcpus=1; quiet=0; hdr=""; renew=""; out=""
while getopts "d:r:c:p:C:w:H:K:o:" o; do
  case $o in
    d) dur=$OPTARG ;; r) rounds=$OPTARG ;; c) conns=$OPTARG ;; p) paths=$OPTARG ;;
    C) wcpus=$OPTARG ;; w) quiet=$OPTARG ;; H) hdr=$OPTARG ;; K) renew=$OPTARG ;; o) out=$OPTARG ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# >= 1)) && [[ -n $out ]] || { sed -n '2,15p' "$0"; exit 2; }
((dur <= 60 && rounds <= 10)) || die "keep runs bounded: -d <= 60, -r <= 10"
names=(); ports=(); pidlists=()
for t in "$@"; do
  names+=("${t%%=*}"); rest=${t#*=}; ports+=("${rest%%:*}"); pidlists+=("${rest#*:}")
done
ntar=${#names[@]}
# set_hdr: the header of the next wrk run, renewed by -K when given
set_hdr() {
  [[ -n $renew ]] && { hdr=$(bash -c "$renew" _ "${1:-}") || die "-K command failed"; }
  hdr_args=(); [[ -n $hdr ]] && hdr_args=(-H "$hdr")
  return 0
}
[[ -s $out ]] || printf 'round\tpath\tconns\ttarget\trps\tp50_us\tp99_us\tsock_err\tnon2xx\tsrv_cpu\twrk_cpu\tother_cpu\tquiet_cores\n' > "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tempstream-cells.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# warm-up: connections, caches, page cache
for ((i = 0; i < ntar; i++)); do
  set_hdr "${names[i]}"
  for p in $paths; do
    taskset -c "$wcpus" timeout 10 wrk -t1 -c10 -d1s "${hdr_args[@]}" "http://127.0.0.1:${ports[i]}$p" > /dev/null 2>&1 || true
  done
done
TIMEFORMAT='%U %S'
cell=0
for ((r = 1; r <= rounds; r++)); do
  for path in $paths; do
    for c in $conns; do
      cell=$((cell + 1))
      for ((k = 0; k < ntar; k++)); do
        i=$(((k + r + cell) % ntar))   # rotate who goes first
        IFS=, read -r -a pids <<<"${pidlists[i]}"
        qc=0; ((quiet > 0)) && qc=$(quiet_wait "$quiet")
        set_hdr "${names[i]}"
        s0=$(cpu_ticks "${pids[@]}"); b0=$(busy_ticks); t0=$(date +%s%N)
        { time taskset -c "$wcpus" timeout $((dur + 15)) wrk -t1 -c"$c" -d"${dur}s" --timeout 5s \
            -s "$here/wrk-report.lua" "${hdr_args[@]}" "http://127.0.0.1:${ports[i]}$path" \
            > "$tmp/wrk.out" 2>&1 ; } 2> "$tmp/wrk.time" || true
        t1=$(date +%s%N); s1=$(cpu_ticks "${pids[@]}"); b1=$(busy_ticks)
        line=$(grep '^WRK ' "$tmp/wrk.out" || true)
        if [[ -z $line ]]; then
          echo "wrk failed for ${names[i]} $path c=$c:" >&2; cat "$tmp/wrk.out" >&2; continue
        fi
        read -r wu ws < "$tmp/wrk.time"
        awk -v line="$line" -v r="$r" -v path="$path" -v c="$c" -v name="${names[i]}" \
            -v wu="$wu" -v ws="$ws" -v s0="$s0" -v s1="$s1" -v b0="$b0" -v b1="$b1" \
            -v t0="$t0" -v t1="$t1" -v hz="$HZ" -v qc="$qc" 'BEGIN {
          n = split(line, kv, " ")
          for (j = 2; j <= n; j++) { split(kv[j], p, "="); v[p[1]] = p[2] }
          wall = (t1 - t0) / 1e9; secs = v["duration_us"] / 1e6
          srv = (s1 - s0) / hz / wall * 100; wrk = (wu + ws) / wall * 100
          other = (b1 - b0) / hz / wall * 100 - srv - wrk; if (other < 0) other = 0
          printf "%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s\n", r, path, c, name,
            v["requests"] / secs, v["p50_us"], v["p99_us"], v["sock_errors"], v["non2xx"], srv, wrk, other, qc
        }' >> "$out"
        tail -1 "$out" | awk -F'\t' '{ printf "  r%s %-17s c=%-5s %-6s %8s req/s  p99 %6.2f ms  srv %5.1f%%  wrk %5.1f%%  other %5.1f%%%s%s\n",
          $1, $2, $3, $4, $5, $7 / 1000, $10, $11, $12, ($12 > 25 ? "  NOISY" : ""),
          ($8 + $9 > 0 ? "  ERRORS sock=" $8 " non2xx=" $9 : "") }' >&2
      done
    done
  done
done
