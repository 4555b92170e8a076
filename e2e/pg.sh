# shellcheck shell=bash
# A throwaway PostgreSQL for shell tests: Debian's server (/usr/lib/postgresql/*/bin) on a
# fresh temporary directory and a free port on 127.0.0.1, sourced by e2e/gates.sh and
# bench/run.sh. Run as root, the server runs as the user `postgres` (or `nobody` when there is
# none) through setpriv; otherwise as the calling user. Readiness is polled with pg_isready
# and a deadline. Every function prints its trouble on stderr and returns non-zero.
#
#   pg_init                 initdb in a new temp dir on a free port; sets PG_DIR, PG_PORT,
#                           PG_PASS (a random password of the superuser `tempstream`),
#                           PG_LOG (the server's log) and PG_URL (database `tempstream`)
#   pg_start                start the server (the same dir and port every time), wait until
#                           it accepts connections (30 s at most); sets PG_PID
#   pg_stop                 fast shutdown (SIGINT), SIGKILL after 10 s
#   pg_kill                 kill -9 the server and every process of it (a crash), wait until
#                           all are gone; pg_start brings it back on the same dir and port
#   pg_createdb NAME        a new empty database; prints its URL
#   pg_url [DB]             the URL of database DB (default tempstream), password included
#   pg_psql DB ARGS...      psql on database DB, quiet, stops at the first error
#   pg_cleanup              stop the server and remove its directory (unless PG_KEEP=1)

PG_DIR="" PG_PORT="" PG_PASS="" PG_PID="" PG_URL="" PG_LOG="" PG_USER="" PG_BIN=""

# pg_bin: the newest PostgreSQL server under /usr/lib/postgresql, or an error
pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$d" ] || [ ! -x "$d/postgres" ] || [ ! -x "$d/initdb" ]; then
    echo "pg.sh: no PostgreSQL server in /usr/lib/postgresql: install postgresql (scripts/install-deps.sh)" >&2
    return 1
  fi
  PG_BIN=$d
}

# pg_as COMMAND...: COMMAND as the server's user (from PG_DIR, which that user owns)
pg_as() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$PG_DIR" && exec setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups -- "$@")
  else
    (cd "$PG_DIR" && exec "$@")
  fi
}

pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_init() {
  pg_bin || return 1
  PG_USER=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    PG_USER=nobody
    id postgres >/dev/null 2>&1 && PG_USER=postgres
  fi
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tempstream-pg.XXXXXX") || return 1
  PG_PORT=$(pg_free_port)
  PG_PASS=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  PG_LOG="$PG_DIR/postgres.log"
  chmod 700 "$PG_DIR"
  printf '%s\n' "$PG_PASS" >"$PG_DIR/pwfile"
  [ "$(id -u)" -ne 0 ] || chown -R "$PG_USER:$(id -g "$PG_USER")" "$PG_DIR"
  # TCP needs the password (scram); the server's own socket in PG_DIR is for its user only
  if ! pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U tempstream --pwfile="$PG_DIR/pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 --no-sync \
      >"$PG_DIR/initdb.log" 2>&1; then
    tail -n 20 "$PG_DIR/initdb.log" >&2
    echo "pg.sh: initdb failed (log in $PG_DIR/initdb.log)" >&2
    return 1
  fi
  rm -f "$PG_DIR/pwfile"
  PG_URL=$(pg_url tempstream)
  pg_start || return 1
  pg_psql postgres -c "CREATE DATABASE tempstream" >/dev/null
}

pg_url() { echo "postgres://tempstream:$PG_PASS@127.0.0.1:$PG_PORT/${1:-tempstream}"; }

pg_psql() {
  local db="$1"; shift
  PGPASSWORD="$PG_PASS" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U tempstream -d "$db" "$@"
}

pg_start() {
  [ -n "$PG_DIR" ] || { echo "pg.sh: pg_init first" >&2; return 1; }
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    echo "pg.sh: the server is already running (pid $PG_PID)" >&2; return 1
  fi
  # fsync=off: a killed server loses nothing (its writes are in the kernel), only a machine
  # crash would; synchronous_commit stays on, so a committed write is in the WAL file
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$PG_DIR" && exec setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups -- \
      "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" \
      -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off) >>"$PG_LOG" 2>&1 &
  else
    (cd "$PG_DIR" && exec "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" \
      -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off) >>"$PG_LOG" 2>&1 &
  fi
  PG_PID=$!
  local deadline=$((SECONDS + 30))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    if ! kill -0 "$PG_PID" 2>/dev/null; then
      tail -n 20 "$PG_LOG" >&2; echo "pg.sh: the server exited (log in $PG_LOG)" >&2; PG_PID=""; return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$PG_LOG" >&2; echo "pg.sh: not ready within 30 s (log in $PG_LOG)" >&2; return 1
    fi
    sleep 0.1
  done
}

# pg_procs: the server's PIDs, the postmaster first
pg_procs() {
  [ -n "$PG_PID" ] || return 0
  echo "$PG_PID"
  cat /proc/"$PG_PID"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true
}

# pg_gone PIDS...: wait (10 s at most) until none of PIDS runs
pg_gone() {
  local deadline=$((SECONDS + 10)) p alive
  while :; do
    alive=0
    for p in "$@"; do [ -d "/proc/$p" ] && alive=1; done
    [ "$alive" = 1 ] || return 0
    [ "$SECONDS" -lt "$deadline" ] || { echo "pg.sh: server processes $* still running" >&2; return 1; }
    sleep 0.05
  done
}

pg_kill() {
  [ -n "$PG_PID" ] || return 0
  local procs p
  procs=$(pg_procs)
  # shellcheck disable=SC2086
  for p in $procs; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$PG_PID" 2>/dev/null || true
  # shellcheck disable=SC2086
  pg_gone $procs || return 1
  PG_PID=""
}

pg_stop() {
  [ -n "$PG_PID" ] || return 0
  local procs
  procs=$(pg_procs)
  kill -INT "$PG_PID" 2>/dev/null || true
  # shellcheck disable=SC2086
  if ! pg_gone $procs 2>/dev/null; then pg_kill; return; fi
  wait "$PG_PID" 2>/dev/null || true
  PG_PID=""
}

pg_createdb() {
  pg_psql postgres -c "CREATE DATABASE \"$1\"" >/dev/null || return 1
  pg_url "$1"
}

pg_cleanup() {
  pg_stop
  if [ -n "$PG_DIR" ] && [ "${PG_KEEP:-0}" != 1 ]; then rm -rf "$PG_DIR"; fi
  PG_DIR=""
}
