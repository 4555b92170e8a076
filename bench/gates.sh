# gates.sh - the cell "three gates on one origin" of run.sh (-s gates), sourced by it (uses
# its ports, state dir, start_linkd, new_link, quiet_wait, ...): PostgreSQL (e2e/pg.sh, on a
# temp dir and a free port), llorigin and three linkd on it (DATABASE_URL), all on
# SERVER_CPU; per gate a link of its own and an llviewers process (GEN_CPU) with a third of
# the viewers. Per gate: req/s, parts/s per viewer, errors, lag, CPU and CPU per request;
# for the whole: what the origin counted per part and per blocking playlist (one fetch per
# part per gate: 3), llorigin's and PostgreSQL's CPU. Rows go to gates.tsv, the table to
# gates.txt (bench/gates-table.py).

# shellcheck source=../e2e/pg.sh
source "$root/e2e/pg.sh"
GATE_PORTS=($((P + 10)) $((P + 11)) $((P + 12)))

# gates_run N: one run of N viewers spread over the three gates; appends rows to gates.tsv
gates_run() {
  local n=$1 i qc=0 per extra v gens=() pp=() s0=() s1=() g0 g1 o0 o1 q0 q1 b0 b1 t0 t1 pg
  per=$((n / 3)); extra=$((n % 3))
  ((quiet > 0)) && qc=$(quiet_wait "$quiet")
  curl -fs -X POST "http://127.0.0.1:$ORIG/_reset" > /dev/null || die "llorigin is not answering"
  for i in 0 1 2; do
    v=$((per + (i < extra ? 1 : 0)))
    taskset -c "$GCPU" "$bin/llviewers" --target "127.0.0.1:${GATE_PORTS[i]}" --viewers "$v" \
      --duration "$lldur" --ramp "$ramp" --master /play/index.m3u8 --open "${gate_watch[i]}" \
      > "$state/gates-$i.out" 2>&1 &
    gens+=($!); started+=($!)
  done
  sleep "$(awk -v r="$ramp" 'BEGIN { print r + 0.2 }')"
  pg=$(pg_procs | tr '\n' ' ')
  for i in 0 1 2; do s0+=("$(cpu_ticks "${gate_pid[i]}")"); done
  # shellcheck disable=SC2086
  g0=$(cpu_ticks "${gens[@]}"); o0=$(cpu_ticks "$opid"); q0=$(cpu_ticks $pg); b0=$(busy_ticks); t0=$(date +%s%N)
  curl -fs "http://127.0.0.1:$ORIG/_stats" > "$state/stats0.json" || die "llorigin /_stats failed"
  sleep "$(awk -v d="$lldur" 'BEGIN { print d - 0.7 }')"
  curl -fs "http://127.0.0.1:$ORIG/_stats" > "$state/stats1.json" || die "llorigin /_stats failed"
  for i in 0 1 2; do s1+=("$(cpu_ticks "${gate_pid[i]}")"); done
  # shellcheck disable=SC2086
  g1=$(cpu_ticks "${gens[@]}"); o1=$(cpu_ticks "$opid"); q1=$(cpu_ticks $pg); b1=$(busy_ticks); t1=$(date +%s%N)
  for ((i = 0; i < 300; i++)); do
    [[ -d /proc/${gens[0]} || -d /proc/${gens[1]} || -d /proc/${gens[2]} ]] || break
    sleep 0.1
  done
  for i in 0 1 2; do stop_pid "${gens[i]}"; wait "${gens[i]}" || true; done
  sleep 0.3
  curl -fs "http://127.0.0.1:$ORIG/_stats" > "$state/stats2.json" || die "llorigin /_stats failed"
  local results=()
  for i in 0 1 2; do
    cat "$state/gates-$i.out" >> "$res/gates-llviewers.log"
    results+=("$(grep '^RESULT ' "$state/gates-$i.out")") || { cat "$state/gates-$i.out" >&2; die "llviewers on gate $((i + 1)) failed ($n)"; }
  done
  python3 "$here/gates-table.py" --row "$n" "${results[@]}" "$state/stats0.json" "$state/stats1.json" \
    "$state/stats2.json" "${s0[@]}" "${s1[@]}" "$g0" "$g1" "$o0" "$o1" "$q0" "$q1" "$b0" "$b1" "$t0" "$t1" "$HZ" "$qc" \
    >> "$res/gates.tsv"
  tail -4 "$res/gates.tsv" | awk -F'\t' '{ printf "  %-5s %5s viewers  %6s req/s  %s parts/s/viewer  errors %s/%s  lag p50 %s p99 %s ms  srv %s%%\n",
    $2, $3, $4, $5, $7, $8, $9, $10, $12 }' >&2
}

gates_cell() {
  say "three gates: PostgreSQL, llorigin and 3 linkd on CPU $SCPU, viewers on CPU $GCPU, ${lldur}s measured after a ${ramp}s ramp"
  for port in "${GATE_PORTS[@]}"; do port_free "$port" || die "port $port is in use (set BASE_PORT)"; done
  PG_KEEP=0 pg_init || die "PostgreSQL did not start (install postgresql: scripts/install-deps.sh)"
  say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$PG_PORT"
  taskset -cp "$SCPU" "$PG_PID" > /dev/null
  local p
  for p in $(pg_procs); do taskset -cp "$SCPU" "$p" > /dev/null 2>&1 || true; done
  taskset -c "$SCPU" "$bin/llorigin" --listen "127.0.0.1:$ORIG" --max-seconds 1800 > "$state/llorigin.log" 2>&1 &
  opid=$!; started+=("$opid")
  wait_port "$ORIG" 10 || die "llorigin did not start"
  gate_pid=(); gate_watch=()
  local i
  for i in 0 1 2; do
    start_linkd "gate$((i + 1))" "${GATE_PORTS[i]}" "" "http://127.0.0.1:$ORIG/live/stream" "$bin" \
      "DATABASE_URL=$PG_URL"
    gate_pid+=("$ret")
    gate_watch+=("$(new_link "gate$((i + 1))")")
  done
  # the three links are rows of the one shared database, not of a SQLite file each
  [[ $(pg_psql tempstream -At -c "SELECT count(*) FROM watch_links" 2>&1) == 3 ]] \
    || die "the gates' links are not in PostgreSQL (does this linkd read DATABASE_URL?)"
  printf 'viewers\tgate\tgate_viewers\trps\tparts_v\tslowest_v\terrors\tnon200\tlag_p50\tlag_p99\tlag_max\tsrv_cpu\tgen_cpu\torigin_cpu\tpg_cpu\tother_cpu\tpart_req\tpart_distinct\tpart_max\tblk_req\tblk_distinct\tblk_max\tall_part_max\tall_blk_max\tquiet_cores\n' > "$res/gates.tsv"
  for n in $counts; do gates_run "$n"; done
  python3 "$here/gates-table.py" "$res/gates.tsv" | tee "$res/gates.txt"
  for i in 2 1 0; do stop_pid "${gate_pid[i]}"; done
  stop_pid "$opid"
  pg_cleanup
}
