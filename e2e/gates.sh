# shellcheck shell=bash
# The run "gates" of e2e/run.sh: three real linkd gates sharing one PostgreSQL (e2e/pg.sh,
# Debian's server on a temp dir and a free port), one LL-HLS origin fed by ffmpeg, headless
# Chromium. Sourced by run.sh, whose functions (watch, check_watch, check_page_status,
# wait_until, stop_pid, ...) it uses. The viewer on gate 2 is a browser of its own
# ("as viewer2": its own profile, another device); the first browser opens pages on gates 1
# and 3 and of the migrated database.
#
#   `linkctl status` names the state store, PostgreSQL, shared by 3 gates;
#   a link made on gate 3 is in force on gate 1 within 1 s and plays there; a session opened
#   on gate 1 plays on gate 3; a viewer on gate 2 is counted by gates 1 and 3; `linkctl off`
#   on gate 1 -> the page on gate 2 shows "disabled" within 2 s (measured), no /play bytes
#   1 s later, 410 when opened again on gate 3;
#   PostgreSQL killed (-9) for 10 s: the viewer on gate 2 plays on the whole time, a known
#   link still opens on gate 3, a write fails at once with the storage error (exit 1, code
#   "storage"), `linkctl status` says the state store is unreachable, then reachable again;
#   every link is still there on every gate and in the database, a link made after it is
#   back reaches the other gates, an `off` after it is back stops the viewer on gate 2;
#   `linkctl migrate --to`: a Go seed database (tests/upgrade/go-db.sql) run by a SQLite linkd,
#   copied to a new PostgreSQL database: every table's rows the same (e2e/dbrows.py), the
#   same `linkctl list`, a second copy onto it refused; a linkd on the copy plays an old
#   link in Chromium and refuses a switched-off one (410);
#   the database password is in no log and no linkctl output.

# shellcheck source=e2e/pg.sh
. "$E2E/pg.sh"

GATES=(1 2 3)
GATE_PIDS=()
GATE_PORT=()

# gate_url N URL: URL with its origin replaced by gate N's
gate_url() { echo "http://127.0.0.1:${GATE_PORT[$1]}/${2#http://*/}"; }
# lcg N ARGS...: linkctl on gate N's socket; what it prints is also kept in linkctl.log
lcg() {
  local n="$1" rc=0
  shift
  "$LINKCTL" --socket "$RUN_DIR/gate$n.sock" "$@" >"$RUN_DIR/lc.out" 2>"$RUN_DIR/lc.err" || rc=$?
  cat "$RUN_DIR/lc.out"; cat "$RUN_DIR/lc.err" >&2
  cat "$RUN_DIR/lc.out" "$RUN_DIR/lc.err" >>"$RUN_DIR/linkctl.log"
  return "$rc"
}

# start_gate N [VAR=VALUE]: linkd number N (its own port, socket and log) on the shared
# database, or on the one VAR names (DATABASE_URL=... or DB_PATH=... for SQLite)
start_gate() {
  local n="$1" db="${2:-DATABASE_URL=$PG_URL}"
  [ -n "${GATE_PORT[$n]:-}" ] || GATE_PORT[$n]="$(free_port)"
  (cd "$RUN_DIR" && exec env "$db" HTTP_ADDR="127.0.0.1:${GATE_PORT[$n]}" \
    BASE_URL="http://127.0.0.1:${GATE_PORT[$n]}" GATE_NAME="gate$n" RPC_SOCKET="$RUN_DIR/gate$n.sock" \
    MEDIAMTX_HLS_BASE_URL="http://127.0.0.1:$ORIGIN_PORT/live/stream" COOKIE_SECURE=false \
    PROBE_INTERVAL=2s LOG_LEVEL=info HTTP_TRUSTED_PROXY_COUNT=0 SHUTDOWN_GRACE=3s \
    "$LINKD") >>"$RUN_DIR/gate$n.log" 2>&1 &
  GATE_PIDS[$n]=$!
  if ! WAIT_PID=${GATE_PIDS[$n]} wait_until 20 "gate $n /healthz" curl -fs "http://127.0.0.1:${GATE_PORT[$n]}/healthz"; then
    tail -20 "$RUN_DIR/gate$n.log" >&2; return 1
  fi
  wait_until 10 "gate $n's socket" test -S "$RUN_DIR/gate$n.sock"
}

stop_gates() {
  local n
  for n in "${!GATE_PIDS[@]}"; do stop_pid "${GATE_PIDS[$n]}"; done
  GATE_PIDS=()
  if [ -n "$PG_DIR" ]; then
    pg_stop
    [ -z "${RUN_DIR:-}" ] || cp "$PG_LOG" "$RUN_DIR/postgres.log" 2>/dev/null || true
    pg_cleanup
  fi
}

start_gates() {
  RUN_DIR="$WORK/gates"
  mkdir -p "$RUN_DIR/media"
  GATE_PORT=()
  pg_init || return 1
  ORIGIN_PORT="$(free_port)"
  python3 "$E2E/origin.py" --dir "$RUN_DIR/media" --port "$ORIGIN_PORT" --ll >"$RUN_DIR/origin.log" 2>&1 &
  ORIGIN_PID=$!
  WAIT_PID=$ORIGIN_PID wait_until 10 "the origin" curl -fs "http://127.0.0.1:$ORIGIN_PORT/_stats" || return 1
  PUB_FLAGS=(--ll)
  start_publisher
  local n
  for n in "${GATES[@]}"; do start_gate "$n" || return 1; done
}

# new_link_on N TTL: make a link on gate N; sets LINK_ID and LINK_URL
new_link_on() {
  local out
  out="$(lcg "$1" --json new "$2")" || { fail "gate $1: linkctl new $2: $out"; return 1; }
  LINK_ID="$(json id <<<"$out")"
  LINK_URL="$(json url <<<"$out")"
  [ -n "$LINK_ID" ] && [ -n "$LINK_URL" ] || { fail "gate $1: linkctl new printed no id/url"; return 1; }
}

page_code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
page_is() { [ "$(page_code "$1")" = "$2" ]; }
# counted N ID: gate N counts at least one viewer of link ID
counted() { [ "$(lcg "$1" --json list | python3 -c 'import json, sys
print(sum(l["viewers"] for l in json.load(sys.stdin) if l["id"] == int(sys.argv[1])))' "$2")" -ge 1 ]; }
active_ids() { lcg "$1" --json list | python3 -c 'import json, sys
print(" ".join(str(l["id"]) for l in sorted(json.load(sys.stdin), key=lambda l: l["id"])))'; }
store_line() { lcg "$1" status | grep -i '^state store' || true; }
store_gates() { case "$(store_line "$1")" in *PostgreSQL*"$2 gates"*) return 0 ;; *) return 1 ;; esac; }
store_unreachable() { case "$(store_line "$1")" in *[Uu]nreachable*) return 0 ;; *) return 1 ;; esac; }
store_reachable() { local l; l="$(store_line "$1")"; case "$l" in *PostgreSQL*) ! store_unreachable "$1" ;; *) return 1 ;; esac; }

# elsewhere_plays: a link made on gate 3 is in force on gate 1 within 1 s and plays there
elsewhere_plays() {
  new_link_on 3 10m || return 0
  local made url1 took
  made=$(now_ms)
  url1="$(gate_url 1 "$LINK_URL")"
  if wait_until 5 "gate 1 to know the link" page_is "$url1" 200; then
    took=$(($(now_ms) - made))
    if [ "$took" -le 1000 ]; then pass "gates: a link made on gate 3 is in force on gate 1 $took ms later"
    else fail "gates: a link made on gate 3 took $took ms to reach gate 1 (more than 1 s)"; fi
  else
    fail "gates: a link made on gate 3 is unknown on gate 1 5 s later"
  fi
  watch open "$url1" >/dev/null
  check_watch "gates: the link made on gate 3 plays on gate 1" expect playing 25
  # the page ends here: its session renewals must not race the next page's cookie
  watch open about:blank >/dev/null
}

# off_elsewhere: a viewer on gate 2, counted everywhere, stopped by `off` on gate 1
off_elsewhere() {
  new_link_on 1 10m || return 0
  local url2 jar="$RUN_DIR/jar" code
  url2="$(gate_url 2 "$LINK_URL")"
  # a session made by gate 1 plays on gate 3 (one signing key for all gates)
  curl -s -c "$jar" -o /dev/null "$LINK_URL" || true
  code="$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "http://127.0.0.1:${GATE_PORT[3]}/play/index.m3u8" || true)"
  if [ "$code" = 200 ]; then pass "gates: a session opened on gate 1 plays on gate 3"; else fail "gates: a session opened on gate 1 answers $code on gate 3"; fi
  watch as viewer2 open "$url2" >/dev/null
  check_watch "gates: link $LINK_ID (made on gate 1) plays on gate 2" as viewer2 expect playing 25
  local n
  for n in 1 3; do
    if wait_until 10 "gate $n to count the viewer" counted "$n" "$LINK_ID"; then pass "gates: gate $n counts the viewer watching on gate 2"
    else fail "gates: gate $n does not count the viewer on gate 2 ($(lcg "$n" --json list | tr -d '\n '))"; fi
  done
  local off_ms
  off_ms=$(now_ms)
  if ! lcg 1 off "$LINK_ID" >/dev/null; then fail "gates: linkctl off $LINK_ID on gate 1"; return 0; fi
  check_watch "gates: the page on gate 2 shows disabled within 2 s of linkctl off on gate 1" as viewer2 expect disabled 2
  within_2s_of_off "$off_ms"
  check_watch "gates: the video on gate 2 stops" as viewer2 stopped 3
  check_watch "gates: no /play answer from gate 2 is still received 1 s after off" as viewer2 play-after $((off_ms + 1000))
  refused_403_since "$off_ms"
  check_page_status "gates: the switched-off link opened on gate 3" "$(gate_url 3 "$LINK_URL")" 410 disabled
}

# within_2s_of_off OFF_MS: the state of the last answer was seen at most 2 s after OFF_MS
# (the moment linkctl off was started on gate 1)
within_2s_of_off() {
  local seen
  seen="$(json at <<<"$LAST")"
  if [ -n "$seen" ] && [ $((seen - $1)) -le 2000 ]; then pass "gates: ... seen on gate 2 $((seen - $1)) ms after linkctl off was started on gate 1"
  else fail "gates: ... seen on gate 2 ${seen:+$((seen - $1)) ms }after linkctl off was started on gate 1 (more than 2 s, or never)"; fi
}

# refused_403_since MS: the viewer on gate 2 got a 403 from /play or /play/_session since MS
refused_403_since() {
  local res n1 n2
  res="$(watch as viewer2 statuses-after "$1")"
  n1="$(json play.403 <<<"$res")"; n2="$(json session.403 <<<"$res")"
  if [ $((${n1:-0} + ${n2:-0})) -gt 0 ]; then pass "gates: gate 2 refused the page with 403 after off (/play ${n1:-0}, /play/_session ${n2:-0})"
  else fail "gates: gate 2 did not refuse the page with 403 after off (saw $(json play <<<"$res") and $(json session <<<"$res"))"; fi
}

# watch_send COMMAND... / watch_recv: one browser step that runs while the shell does more
watch_send() { { echo "$*" >&"${WATCH[1]}"; } 2>/dev/null; }
watch_recv() {
  local line=""
  IFS= read -r -t 120 line <&"${WATCH[0]}" || line='{"ok":false,"reason":"no answer from watch.js (see watch.log)"}'
  echo "$line" >>"$WORK/watch-answers.log"
  echo "$line"
}

# shellcheck source=e2e/migrate.sh
. "$E2E/migrate.sh"

# rows_of_links: the number of rows of watch_links in PostgreSQL
rows_of_links() { pg_psql tempstream -At -c "SELECT count(*) FROM watch_links" 2>&1; }

# write_refused: linkctl new on gate 3 while the database is down: exit 1, code "storage",
# answered within 10 s
write_refused() {
  local t0 err rc=0 took
  t0=$(now_ms)
  lcg 3 --json new 10m >/dev/null 2>"$RUN_DIR/refused.err" || rc=$?
  took=$(($(now_ms) - t0))
  err="$(json error.code <"$RUN_DIR/refused.err" 2>/dev/null || true)"
  if [ "$rc" = 1 ] && [ "$err" = storage ] && [ "$took" -le 10000 ]; then
    pass "gates: database down: linkctl new is refused with the storage error in $took ms (exit 1: $(json error.message <"$RUN_DIR/refused.err"))"
  else
    fail "gates: database down: linkctl new gave exit $rc, code \"$err\" after $took ms ($(tr -d '\n' <"$RUN_DIR/refused.err"))"
  fi
}

# database_down: PostgreSQL killed for 10 s while a viewer watches on gate 2
database_down() {
  new_link_on 1 10m || return 0
  local id="$LINK_ID" url="$LINK_URL" ids=() rows res n t
  watch as viewer2 open "$(gate_url 2 "$url")" >/dev/null
  check_watch "gates: link $id plays on gate 2 before the database goes down" as viewer2 expect playing 25
  wait_until 10 "gate 1 to count the viewer" counted 1 "$id" || true
  for n in "${GATES[@]}"; do ids[$n]="$(active_ids "$n" || true)"; done
  rows="$(rows_of_links || true)"
  watch_send as viewer2 steady 14
  local down_ms
  down_ms=$(now_ms)
  pg_kill || { fail "gates: PostgreSQL could not be killed"; watch_recv >/dev/null; return 0; }
  echo "      PostgreSQL killed (-9); back in 10 s"
  write_refused
  if wait_until 8 "gate 2 to see the state store unreachable" store_unreachable 2; then
    pass "gates: database down: linkctl status on gate 2 says \"$(store_line 2)\" ($(secs_since "$down_ms") s after the kill)"
  else
    fail "gates: database down: linkctl status on gate 2 says \"$(store_line 2)\""
  fi
  if page_is "$(gate_url 3 "$url")" 200; then pass "gates: database down: the link still opens on gate 3"
  else fail "gates: database down: the link opened on gate 3 answers $(page_code "$(gate_url 3 "$url")")"; fi
  t=$((down_ms + 10000 - $(now_ms)))
  [ "$t" -le 0 ] || sleep "$((t / 1000)).$(printf '%03d' $((t % 1000)))"
  pg_start || { fail "gates: PostgreSQL did not start again"; watch_recv >/dev/null; return 0; }
  local up_ms
  up_ms=$(now_ms)
  echo "      PostgreSQL back after $(secs_since "$down_ms") s"
  res="$(watch_recv)"
  LAST="$res"
  if [ "$(json ok <<<"$res")" = true ] && [ "$(python3 -c 'import json, sys; print(int(json.load(sys.stdin)["advance"] >= 10))' <<<"$res")" = 1 ]; then
    pass "gates: the viewer on gate 2 played on through the outage ($(summary <<<"$res"))"
  else
    fail "gates: the viewer on gate 2 did not play on through the outage ($(summary <<<"$res"))"
  fi
  check_watch "gates: ... and plays on after it" as viewer2 expect playing 10
  after_database_down "$id" "$url" "$rows" "$up_ms" "${ids[@]}"
}

# after_database_down ID URL ROWS UP_MS IDS...: the state once PostgreSQL is back
after_database_down() {
  local id="$1" url="$2" rows="$3" up_ms="$4" n
  shift 4
  for n in "${GATES[@]}"; do
    if wait_until 15 "gate $n to see the state store reachable" store_reachable "$n"; then
      pass "gates: database back: gate $n says \"$(store_line "$n")\" ($(secs_since "$up_ms") s after the restart)"
    else
      fail "gates: database back: gate $n says \"$(store_line "$n")\" 15 s after the restart"
    fi
  done
  local before=("$@") same=1
  for n in "${GATES[@]}"; do [ "$(active_ids "$n")" = "${before[$((n - 1))]}" ] || same=0; done
  if [ "$same" = 1 ] && [ "$(rows_of_links)" = "$rows" ]; then
    pass "gates: database back: every gate lists the same active links as before, the database has its $rows links"
  else
    fail "gates: database back: links before [${before[*]}], now [$(active_ids 1) | $(active_ids 2) | $(active_ids 3)], rows $rows -> $(rows_of_links)"
  fi
  if wait_until 10 "gate 1 to count the viewer again" counted 1 "$id"; then pass "gates: database back: gate 1 counts the viewer on gate 2"
  else fail "gates: database back: gate 1 does not count the viewer on gate 2"; fi
  # the change feed is back: a link made on gate 3 reaches gate 2
  if new_link_on 3 10m; then
    local made
    made=$(now_ms)
    if wait_until 5 "gate 2 to know the new link" page_is "$(gate_url 2 "$LINK_URL")" 200; then
      pass "gates: database back: a link made on gate 3 is in force on gate 2 $(($(now_ms) - made)) ms later"
    else
      fail "gates: database back: a link made on gate 3 is unknown on gate 2 5 s later"
    fi
  fi
  local off_ms
  off_ms=$(now_ms)
  if lcg 1 off "$id" >/dev/null; then
    check_watch "gates: database back: the page on gate 2 shows disabled within 2 s of linkctl off on gate 1" as viewer2 expect disabled 2
    within_2s_of_off "$off_ms"
  else
    fail "gates: database back: linkctl off $id on gate 1"
  fi
}

run_gates() {
  echo "== gates: three linkd on one PostgreSQL, LL-HLS origin"
  if ! command -v pg_isready >/dev/null && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    fail "gates: PostgreSQL is not installed (run scripts/install-deps.sh)"; return
  fi
  start_gates || { fail "gates: the stack did not start (logs in $WORK/gates)"; stop_stack; return; }
  wait_until 15 "live=true" status_live_on 1 || fail "gates: the stream is not live on gate 1"
  if wait_until 10 "gate 1 to see 3 gates" store_gates 1 3; then pass "gates: linkctl status on gate 1 says \"$(store_line 1)\""
  else fail "gates: linkctl status on gate 1 says \"$(store_line 1)\", not PostgreSQL with 3 gates"; fi
  elsewhere_plays
  off_elsewhere
  database_down
  migrate_seed
  no_password_shown
  stop_stack
}

status_live_on() { [ "$(lcg "$1" --json status | json live)" = true ]; }

# no_password_shown: the database password is in no log of the run and no linkctl output
no_password_shown() {
  local hits
  hits="$(grep -rl --fixed-strings "$PG_PASS" "$RUN_DIR" "$WORK/watch-answers.log" 2>/dev/null || true)"
  if [ -z "$hits" ]; then pass "gates: the database password is in no log or output of the run"
  else fail "gates: the database password appears in: $(echo "$hits" | tr '\n' ' ')"; fi
}
