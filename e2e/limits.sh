# shellcheck shell=bash
# The run "limits" of e2e/run.sh: sharing limits as viewers see them, in headless Chromium.
# Sourced by run.sh, whose functions (watch, check_watch, check_text, check_page_status, lc,
# start_stack, ...) it uses. "as second ..." drives another browser (its own profile: another
# device).
#
#   a link for one device (--max-viewers 1) plays; a second browser gets the page "already in
#   use on 1 device" (403); a one-time link (--once) plays in the first browser, the second is
#   refused ("another device", 403) and the first reloads and plays on; linkctl kick -> the
#   page shows "kicked" within 3 s and says so, opened again it plays; linkctl rotate -> the
#   page shows "rotated" within 3 s and says so, the old URL is a 404 page, the new one plays;
#   linkctl off --all -> the page shows "disabled" within 2 s.

# new_limited_link ARGS...: like new_link with linkctl new's flags
new_limited_link() {
  local out
  out="$(lc --json new "$@")" || { fail "linkctl new $*: $out"; return 1; }
  LINK_ID="$(json id <<<"$out")"
  LINK_URL="$(json url <<<"$out")"
  [ -n "$LINK_ID" ] && [ -n "$LINK_URL" ] || { fail "linkctl new $* printed no id/url"; return 1; }
}

# second_is_refused NAME STATE WORDS: the second browser opens $LINK_URL and sees the
# 403 page of STATE, which says WORDS
second_is_refused() {
  local res
  res="$(watch as second open "$LINK_URL")"
  if [ "$(json httpStatus <<<"$res")" = 403 ]; then pass "$1: 403"; else fail "$1: $(json httpStatus <<<"$res"), not 403"; fi
  res="$(watch as second expect "$2" 5)"
  LAST="$res"
  if [ "$(json ok <<<"$res")" = true ]; then pass "$1: the page shows $2"; else fail "$1: $(summary <<<"$res")"; fi
  check_text "$1: the page says so" "$3"
}

cap_and_once() {
  new_limited_link 10m --max-viewers 1 || return 0
  watch open "$LINK_URL" >/dev/null
  check_watch "limits: a link for one device plays" expect playing 25
  second_is_refused "limits: a second browser on it" in_use "already in use on 1 device"

  new_limited_link 10m --once || return 0
  watch open "$LINK_URL" >/dev/null
  check_watch "limits: a one-time link plays in the first browser" expect playing 25
  second_is_refused "limits: a second browser on the one-time link" taken "another device"
  watch open "$LINK_URL" >/dev/null
  check_watch "limits: the first browser reloads the one-time link and plays on" expect playing 25
}

kick_and_rotate() {
  if lc kick "$LINK_ID" >/dev/null; then
    check_watch "limits: the page shows kicked within 3 s of linkctl kick" expect kicked 3
    check_text "limits: the page says the viewing was ended" "ended your viewing"
    check_watch "limits: video stops after kicked" stopped 3
    watch open "$LINK_URL" >/dev/null
    check_watch "limits: the kicked link opened again plays" expect playing 25
  else
    fail "limits: linkctl kick $LINK_ID"
  fi
  local out new_url
  if out="$(lc --json rotate "$LINK_ID")"; then
    new_url="$(json url <<<"$out")"
    check_watch "limits: the page shows rotated within 3 s of linkctl rotate" expect rotated 3
    check_text "limits: the page says the link was replaced" "replaced by a new one"
    check_page_status "limits: opening the old URL" "$LINK_URL" 404 invalid
    watch open "$new_url" >/dev/null
    check_watch "limits: the new URL plays" expect playing 25
  else
    fail "limits: linkctl rotate $LINK_ID: $out"
  fi
  if lc off --all >/dev/null; then
    check_watch "limits: the page shows disabled within 2 s of linkctl off --all" expect disabled 2
  else
    fail "limits: linkctl off --all"
  fi
}

run_limits() {
  echo "== limits: viewer cap, one-time link, kick, rotate and off --all in the browser"
  start_stack limits || { fail "limits: the stack did not start (logs in $WORK/limits)"; stop_stack; return; }
  wait_until 15 "live=true" status_live true || fail "limits: the stream is not live"
  cap_and_once
  kick_and_rotate
  stop_stack
}
