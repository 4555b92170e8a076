# shellcheck shell=bash
# What a viewer sees during a link's life, on the page that is open: sourced by e2e/run.sh,
# whose functions (watch, check_watch, lc, new_link, start_linkd, stop_pid, ...) it uses.
#
#   extend_while_watching RUN    linkctl extend while playing: the page shows the new expiry
#                                within 5 s and plays on past the old one without a reload
#   bot_extend_while_watching RUN  the same with the bot's /extend: botd against a fake Bot
#                                API (e2e/fake_telegram.py) on linkd's socket
#   expiry_while_watching RUN    a link runs out while playing: "expired" within 2 s of the
#                                moment, the video stops, no /play bytes 1 s after it, 410
#   restart_while_watching RUN   SIGTERM to linkd and a new one on the same address, database
#                                and socket within 5 s: the page plays on, no error shown for
#                                more than a moment, the viewer is counted again within 10 s
#   unreachable_then_back RUN    linkd stopped for good: "unreachable"; started: plays again
#   link_gone_is_invalid RUN     the link is deleted from the database while its page is open:
#                                "invalid"

# seconds_until UNIX_S: whole seconds from now until Unix second UNIX_S (at least 1)
seconds_until() {
  local s=$((($1 * 1000 - $(now_ms) + 999) / 1000))
  [ "$s" -ge 1 ] || s=1
  echo "$s"
}

extend_while_watching() {
  local run="$1"
  new_link 30s || return 0
  local old="$LINK_EXPIRES"
  watch open "$LINK_URL" >/dev/null
  check_watch "$run: a 30 s link plays" expect playing 20
  local out new
  out="$(lc --json extend "$LINK_ID" 10m)" || { fail "$run: linkctl extend $LINK_ID 10m: $out"; return 0; }
  new="$(json expires_at <<<"$out")"
  check_watch "$run: the page shows the new expiry within 5 s of linkctl extend" expiry "$new" 5
  local wait_s
  wait_s=$(seconds_until $((old + 2)))
  sleep "$wait_s"
  check_watch "$run: the page plays on past the old expiry, without reload" expect playing 3
  check_watch "$run: ... and was never shown as ended" steady 1
}

expiry_while_watching() {
  local run="$1"
  new_link 25s || return 0
  local at_ms=$((LINK_EXPIRES * 1000))
  watch open "$LINK_URL" >/dev/null
  check_watch "$run: a 25 s link plays" expect playing 20
  check_watch "$run: the page shows expired within 2 s of the link's expiry" expect expired "$(seconds_until $((LINK_EXPIRES + 2)))"
  local seen
  seen="$(json at <<<"$LAST")"
  if [ -n "$seen" ] && [ "$seen" -le $((at_ms + 2000)) ]; then
    pass "$run: ... $((seen - at_ms)) ms after the expiry moment"
  else
    fail "$run: expired shown ${seen:-never} vs expiry $at_ms (more than 2 s late)"
  fi
  check_text "$run: the page says the link has expired" "expired"
  check_watch "$run: the video stops at expiry" stopped 2
  check_watch "$run: no /play answer is still received 1 s after the expiry" play-after $((at_ms + 1000))
  check_page_status "$run: opening the expired link again" "$LINK_URL" 410 expired
}

# restart_linkd: SIGTERM, then a new linkd on the same address, database and socket; sets
# RESTART_MS (how long from the signal until the new one answered)
restart_linkd() {
  local t0
  t0=$(now_ms)
  stop_pid "$LINKD_PID"; LINKD_PID=""
  start_linkd || return 1
  RESTART_MS=$(($(now_ms) - t0))
}

viewers_of() { [ "$(lc --json list | python3 -c 'import json, sys
print(sum(l["viewers"] for l in json.load(sys.stdin) if l["id"] == int(sys.argv[1])))' "$1")" -ge 1 ]; }

restart_while_watching() {
  local run="$1"
  check_watch "$run: link $LINK_ID plays before the restart" expect playing 20
  if ! restart_linkd; then fail "$run: linkd did not start again"; return 0; fi
  if [ "$RESTART_MS" -le 5000 ]; then pass "$run: linkd restarted in $RESTART_MS ms"; else fail "$run: linkd took $RESTART_MS ms to restart (more than 5 s)"; fi
  local back
  back=$(now_ms)
  if wait_until 10 "the viewer counted again" viewers_of "$LINK_ID"; then
    pass "$run: the viewer is counted again $(secs_since "$back") s after the restart"
  else
    fail "$run: the viewer is not counted 10 s after the restart"
  fi
  check_watch "$run: the page played on through the restart (no reload, no lasting error)" steady 8
  check_watch "$run: ... and plays after it" expect playing 5
}

unreachable_then_back() {
  local run="$1"
  stop_pid "$LINKD_PID"; LINKD_PID=""
  check_watch "$run: with linkd down, the page says the server cannot be reached" expect unreachable 20
  check_text "$run: ... in words" "cannot be reached"
  start_linkd || { fail "$run: linkd did not start again"; return 0; }
  check_watch "$run: linkd back: the same page plays again without reload" expect playing 30
}

link_gone_is_invalid() {
  local run="$1"
  stop_pid "$LINKD_PID"; LINKD_PID=""
  python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute("DELETE FROM watch_links WHERE id = ?", (int(sys.argv[2]),)); db.commit()' \
    "$RUN_DIR/linkd.sqlite" "$LINK_ID"
  start_linkd || { fail "$run: linkd did not start again"; return 0; }
  check_watch "$run: a link deleted while its page is open shows not valid" expect invalid 15
  check_text "$run: ... in words" "not valid"
}

# start_bot: the fake Bot API (e2e/fake_telegram.py) and botd on linkd's socket; BOT_CHAT may
# command it
BOT_CHAT=4242
start_bot() {
  TG_PORT="$(free_port)"
  local token="123456:e2e-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
  python3 "$E2E/fake_telegram.py" --port "$TG_PORT" --token "$token" >"$RUN_DIR/telegram.log" 2>&1 &
  TG_PID=$!
  WAIT_PID=$TG_PID wait_until 10 "the fake Bot API" curl -fs "http://127.0.0.1:$TG_PORT/_sent" || return 1
  env TELEGRAM_BOT_TOKEN="$token" ALLOWED_CHAT_IDS="$BOT_CHAT" RPC_SOCKET="$SOCK" NOTIFY= \
    TELEGRAM_API_URL="http://127.0.0.1:$TG_PORT" LOG_LEVEL=info "$BOTD" >"$RUN_DIR/botd.log" 2>&1 &
  BOT_PID=$!
}

bot_say() {
  curl -fs -X POST -H 'content-type: application/json' \
    -d "{\"chat_id\": $BOT_CHAT, \"text\": \"$1\"}" "http://127.0.0.1:$TG_PORT/_say" >/dev/null
}
bot_said() { curl -fs "http://127.0.0.1:$TG_PORT/_sent" | grep -q "$1"; }
link_expiry() { lc --json list | python3 -c 'import json, sys
print(next(l["expires_at"] for l in json.load(sys.stdin) if l["id"] == int(sys.argv[1])))' "$1"; }

bot_extend_while_watching() {
  local run="$1"
  start_bot || { fail "$run: the fake Bot API or botd did not start"; return 0; }
  new_link 30s || return 0
  local old="$LINK_EXPIRES"
  watch open "$LINK_URL" >/dev/null
  check_watch "$run: a 30 s link plays (bot)" expect playing 20
  bot_say "/extend $LINK_ID 10m"
  if WAIT_PID=$BOT_PID wait_until 10 "botd's answer" bot_said "Link extended"; then
    pass "$run: the bot answers /extend $LINK_ID 10m"
  else
    fail "$run: no \"Link extended\" from the bot (see $RUN_DIR/botd.log)"; return 0
  fi
  check_watch "$run: the page shows the bot's new expiry within 5 s" expiry "$(link_expiry "$LINK_ID")" 5
  sleep "$(seconds_until $((old + 2)))"
  check_watch "$run: the page plays on past the old expiry after /extend, without reload" expect playing 3
}
