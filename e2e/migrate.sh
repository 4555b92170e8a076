# shellcheck shell=bash
# `linkctl migrate --to postgres://...` in the run "gates" of e2e/run.sh: sourced by
# e2e/gates.sh, whose stack (PostgreSQL of e2e/pg.sh, the origin, start_gate, lcg) it uses.
#
#   a Go seed database (tests/upgrade/go-db.sql: goose's table, links in every state) run by
#   a SQLite linkd (gate 5: its migrations, a link of its own, a greeting, an extension, a
#   link opened and played: audit rows), stopped, copied into a new PostgreSQL database:
#   migrate exits 0; every table's rows are the same in both (e2e/dbrows.py); a linkd on the
#   copy (gate 4) lists the same active links; a second copy onto it is refused (exit 1 and
#   the reason); gate 4 plays the Go link 7 in Chromium and answers the switched-off Go link 9
#   with 410.

GO7=Go7tomorrowBBBBBBBBBBBBBBBBBBB-_
GO9=Go9disabledDDDDDDDDDDDDDDDDDDDDD

# seed_sqlite PATH: the Go database, then a SQLite linkd's life on it (gate 5, stopped after)
seed_sqlite() {
  local seed="$1" jar="$RUN_DIR/migrate/jar"
  python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.executescript(open(sys.argv[2]).read()); db.commit()' \
    "$seed" "$ROOT/tests/upgrade/go-db.sql" || return 1
  start_gate 5 "DB_PATH=$seed" || return 1
  lcg 5 new 1h --note "made on SQLite" >/dev/null || return 1
  lcg 5 greet 7 "Hello Grandma" >/dev/null || return 1
  lcg 5 extend 12 3h >/dev/null || return 1
  curl -fs -c "$jar" -o /dev/null "http://127.0.0.1:${GATE_PORT[5]}/live/stream/$GO7" || return 1
  curl -fs -b "$jar" -o /dev/null "http://127.0.0.1:${GATE_PORT[5]}/play/index.m3u8" || return 1
  lcg 5 --json list >"$RUN_DIR/migrate/list-sqlite.json" || return 1
  stop_pid "${GATE_PIDS[5]}"
}

# same_list: gate 4 (on the copy) lists what gate 5 (SQLite) listed, URLs on its own address
# (the live viewer counts aside: they are of the moment, not stored)
same_list() {
  lcg 4 --json list >"$RUN_DIR/migrate/list-copy.json" || return 1
  python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
a = json.loads(json.dumps(a).replace(sys.argv[3], sys.argv[4]))
for l in a + b: l.pop("viewers", None)
sys.exit(0 if a == b and len(a) > 0 else 1)' "$RUN_DIR/migrate/list-sqlite.json" "$RUN_DIR/migrate/list-copy.json" \
    "http://127.0.0.1:${GATE_PORT[5]}/" "http://127.0.0.1:${GATE_PORT[4]}/"
}

migrate_seed() {
  local dir="$RUN_DIR/migrate" seed="$RUN_DIR/migrate/seed.sqlite" target rc=0
  mkdir -p "$dir"
  seed_sqlite "$seed" || { fail "gates: migrate: the SQLite linkd on the Go seed database did not run (see $RUN_DIR/gate5.log)"; return 0; }
  target="$(pg_createdb migrated)" || { fail "gates: migrate: could not create the target database"; return 0; }
  "$LINKCTL" migrate --to "$target" --from "$seed" >"$dir/migrate.out" 2>"$dir/migrate.err" || rc=$?
  if [ "$rc" = 0 ]; then pass "gates: migrate: linkctl migrate --to copied the seed ($(tail -n 1 "$dir/migrate.out"))"
  else fail "gates: migrate: linkctl migrate exited $rc: $(tr '\n' ' ' <"$dir/migrate.err")"; return 0; fi
  if PSQL="$PG_BIN/psql" python3 "$E2E/dbrows.py" "$seed" "$target" >"$dir/rows.txt" 2>&1; then
    pass "gates: migrate: every table's rows are the same in PostgreSQL ($(tr '\n' ';' <"$dir/rows.txt"))"
  else
    fail "gates: migrate: the copy differs: $(tr '\n' ';' <"$dir/rows.txt")"
  fi
  rc=0
  "$LINKCTL" migrate --to "$target" --from "$seed" >"$dir/again.out" 2>"$dir/again.err" || rc=$?
  if [ "$rc" = 1 ] && [ -s "$dir/again.err" ]; then pass "gates: migrate: a second copy onto it is refused (exit 1: $(head -n 1 "$dir/again.err"))"
  else fail "gates: migrate: a second copy onto a database with links exited $rc"; fi
  start_gate 4 "DATABASE_URL=$target" || { fail "gates: migrate: linkd did not start on the copy (see $RUN_DIR/gate4.log)"; return 0; }
  if same_list; then pass "gates: migrate: linkd on the copy lists the same active links as on SQLite"
  else fail "gates: migrate: linkctl list differs (see $dir/list-sqlite.json, list-copy.json)"; fi
  watch open "http://127.0.0.1:${GATE_PORT[4]}/live/stream/$GO7" >/dev/null
  check_watch "gates: migrate: the Go link 7 plays on linkd on the copy" expect playing 25
  check_page_status "gates: migrate: the switched-off Go link 9 on the copy" "http://127.0.0.1:${GATE_PORT[4]}/live/stream/$GO9" 410 disabled
  stop_pid "${GATE_PIDS[4]}"
}
