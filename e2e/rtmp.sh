# The `rtmp` run of e2e/run.sh (sourced by it): the real nginx + RTMP module (Debian's nginx
# and libnginx-mod-rtmp) asks linkd on MEDIA_AUTH_ADDR who may publish and read.
#
#   nginx runs in the foreground as a child of the test, with its own config in the run's
#   directory, RTMP and HTTP on free loopback ports: on_publish, on_play and on_publish_done
#   point at linkd's /nginx-rtmp; HTTP serves the HLS files nginx-rtmp writes (linkd's
#   origin) and the rtmp_control module (linkd's MEDIA_CONTROL_URL).
#   Checks: a wrong key is refused at the RTMP handshake (ffmpeg fails); ffmpeg publishing
#   with the key from `linkctl stream-key show` makes `linkctl status` live within 1 s of
#   nginx admitting it and plays through the gate in Chromium; rotating the key while live
#   stops that publisher and the stream is offline within 1 s; the old key is refused, the
#   new one admitted; a publisher stopping is offline within 1 s; with linkd down nginx
#   refuses the publisher (fails closed).

RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

# start_nginx_rtmp: nginx on $RTMP_PORT (RTMP) and $NGX_PORT (HLS files, control), asking
# linkd at $MEDIA_PORT
start_nginx_rtmp() {
  local conf="$RUN_DIR/nginx"
  mkdir -p "$conf/hls" "$conf/tmp"
  local user_line=""
  [ "$(id -u)" -ne 0 ] || user_line="user root root;"
  local hook="http://127.0.0.1:$MEDIA_PORT/nginx-rtmp"
  cat >"$conf/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
$user_line
pid $conf/nginx.pid;
# nginx-rtmp logs a publisher's arguments (the key) at info: keep its log at notice.
error_log $conf/error.log notice;
load_module $RTMP_MODULE;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:$RTMP_PORT;
    chunk_size 4096;
    application live {
      live on;
      record off;
      on_publish $hook;
      on_play $hook;
      on_publish_done $hook;
      hls on;
      hls_path $conf/hls;
      hls_nested on;
      hls_fragment 1s;
      hls_playlist_length 4s;
      hls_cleanup on;
    }
  }
}
http {
  access_log $conf/access.log;
  client_body_temp_path $conf/tmp/body;
  proxy_temp_path $conf/tmp/proxy;
  fastcgi_temp_path $conf/tmp/fastcgi;
  uwsgi_temp_path $conf/tmp/uwsgi;
  scgi_temp_path $conf/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:$NGX_PORT;
    location = /health { return 200 "ok\n"; }
    location /control { rtmp_control all; allow 127.0.0.1; deny all; }
    location /live/ { alias $conf/hls/; add_header Cache-Control no-cache; }
  }
}
CONF
  nginx -t -q -p "$conf" -c "$conf/nginx.conf" -e "$conf/error.log" || { cat "$conf/error.log" >&2; return 1; }
  nginx -p "$conf" -c "$conf/nginx.conf" -e "$conf/error.log" >"$conf/stdout.log" 2>&1 </dev/null &
  ORIGIN_PID=$!
  WAIT_PID=$ORIGIN_PID wait_until 10 "nginx" curl -fs "http://127.0.0.1:$NGX_PORT/health"
}

# rtmp_publish URL: ffmpeg publishing the test pattern to URL in the background (RTMP_PUB)
rtmp_publish() {
  ffmpeg -hide_banner -loglevel warning -re -f lavfi -i "testsrc2=size=640x360:rate=30" \
    -re -f lavfi -i "sine=frequency=440:sample_rate=48000" -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -tune zerolatency -profile:v main -pix_fmt yuv420p \
    -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -b:v 800k -maxrate 800k -bufsize 800k \
    -c:a aac -b:a 96k -ar 48000 -ac 2 -f flv "$1" >>"$RUN_DIR/publish.log" 2>&1 </dev/null &
  PUB_PID=$!
  PUB_STARTED=$(now_ms)
}

# refused NAME URL: a publisher with URL must fail at the handshake (ffmpeg exits with an
# error within 10 s)
refused() {
  rtmp_publish "$2"
  local pid=$PUB_PID deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$1 (ffmpeg still publishing after 10 s)"; stop_pid "$pid"
  elif wait "$pid"; then
    fail "$1 (ffmpeg exited with success)"
  else
    pass "$1 (ffmpeg failed after $(secs_since "$PUB_STARTED") s)"
  fi
  PUB_PID=""
}

key_field() { lc --json stream-key show | json "$1"; }

# hls_ready: nginx-rtmp's playlist lists 3 segments (a player then has enough to play on)
hls_ready() {
  [ "$(curl -fs "http://127.0.0.1:$NGX_PORT/live/stream/index.m3u8" | grep -c '\.ts$')" -ge 3 ]
}

run_rtmp() {
  echo "== rtmp: nginx-rtmp asks linkd (MEDIA_AUTH_ADDR) who may publish and read"
  [ -f "$RTMP_MODULE" ] || { fail "rtmp: $RTMP_MODULE missing (run scripts/install-deps.sh)"; return; }
  RUN_DIR="$WORK/rtmp"
  mkdir -p "$RUN_DIR"
  RTMP_PORT="$(free_port)" NGX_PORT="$(free_port)" HTTP_PORT="$(free_port)" MEDIA_PORT="$(free_port)"
  SOCK="$RUN_DIR/linkd.sock"
  BASE_URL="http://127.0.0.1:$HTTP_PORT"
  local reader_pass
  reader_pass="$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
  LINKD_ENV=(HTTP_ADDR="127.0.0.1:$HTTP_PORT" BASE_URL="$BASE_URL" DB_PATH="$RUN_DIR/linkd.sqlite"
    RPC_SOCKET="$SOCK" MEDIAMTX_HLS_BASE_URL="http://127.0.0.1:$NGX_PORT/live/stream"
    MEDIA_AUTH_ADDR="127.0.0.1:$MEDIA_PORT" MEDIA_CONTROL_URL="http://127.0.0.1:$NGX_PORT/control"
    RTMP_PUBLIC_URL="rtmp://127.0.0.1:$RTMP_PORT/live"
    MEDIAMTX_READ_USER=linkd MEDIAMTX_READ_PASSWORD="$reader_pass"
    COOKIE_SECURE=false PROBE_INTERVAL=2s LOG_LEVEL=info HTTP_TRUSTED_PROXY_COUNT=0 SHUTDOWN_GRACE=3s)
  start_linkd || { fail "rtmp: linkd did not start (logs in $RUN_DIR)"; stop_stack; return; }
  start_nginx_rtmp || { fail "rtmp: nginx did not start (logs in $RUN_DIR/nginx)"; stop_stack; return; }

  local url old
  url="$(key_field publish_url)"
  old="$url"
  case "$url" in "rtmp://127.0.0.1:$RTMP_PORT/live/stream?key="*) pass "rtmp: linkctl stream-key show gives the publish URL" ;;
    *) fail "rtmp: linkctl stream-key show gave '$url'"; stop_stack; return ;; esac

  refused "rtmp: a wrong key is refused at the RTMP handshake" "rtmp://127.0.0.1:$RTMP_PORT/live/stream?key=0123456789abcdef"
  refused "rtmp: no key is refused at the RTMP handshake" "rtmp://127.0.0.1:$RTMP_PORT/live/stream"

  rtmp_publish "$url"
  live_within_1s "rtmp: the key is admitted and linkctl status says live"
  wait_until 20 "3 HLS segments" hls_ready || fail "rtmp: nginx-rtmp wrote no playlist"
  if new_link 10m; then
    watch open "$LINK_URL" >/dev/null
    check_watch "rtmp: link $LINK_ID plays through the gate" expect playing 25
  fi

  # rotate while live: the publisher with the old key is stopped, the stream goes offline
  local rotated_at out
  rotated_at=$(now_ms)
  out="$(lc --json stream-key rotate)"
  if [ "$(json publisher_stopped <<<"$out")" = true ]; then pass "rtmp: rotating while live stopped the publisher (nginx-rtmp control)"; else fail "rtmp: rotate said $out"; fi
  local deadline=$((SECONDS + 5))
  while kill -0 "$PUB_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  if kill -0 "$PUB_PID" 2>/dev/null; then fail "rtmp: the old publisher is still connected 5 s after the rotation"; stop_pid "$PUB_PID";
  else pass "rtmp: the old publisher was disconnected ($(secs_since "$rotated_at") s after the rotation)"; fi
  PUB_PID=""
  offline_within_1s "rtmp: linkctl status says offline after the rotation" "$rotated_at"
  watch open "$LINK_URL" >/dev/null
  check_watch "rtmp: the page shows offline" expect offline 15

  refused "rtmp: the rotated key is refused" "$old"
  url="$(key_field publish_url)"
  rtmp_publish "$url"
  live_within_1s "rtmp: the new key is admitted and linkctl status says live again"
  wait_until 20 "3 HLS segments" hls_ready || fail "rtmp: nginx-rtmp wrote no playlist again"
  check_watch "rtmp: the same page plays again" expect playing 30
  local stopped_at
  stopped_at=$(now_ms)
  stop_pid "$PUB_PID"; PUB_PID=""
  offline_within_1s "rtmp: the publisher stopping makes linkctl status offline" "$stopped_at"

  # linkd down: nginx-rtmp cannot ask, so it refuses
  stop_pid "$LINKD_PID"; LINKD_PID=""
  refused "rtmp: with linkd down the publisher is refused (fails closed)" "$url"
  stop_stack
  local k1="${old##*key=}" k2="${url##*key=}"
  if grep -qF -e "$k1" -e "$k2" "$RUN_DIR/linkd.log" "$RUN_DIR/nginx/error.log"; then fail "rtmp: a stream key reached a log";
  else pass "rtmp: no stream key in linkd's or nginx's log"; fi
}

# live_within_1s NAME: after ffmpeg started, status is live within 1 s of nginx admitting it
# (the handshake is given 1 s more: 2 s from ffmpeg's start)
live_within_1s() {
  local deadline=$((PUB_STARTED + 2000))
  until status_live true; do
    if [ "$(now_ms)" -ge "$deadline" ]; then fail "$1 (not live 2 s after ffmpeg started)"; return; fi
    sleep 0.05
  done
  pass "$1 ($(secs_since "$PUB_STARTED") s after ffmpeg started)"
}

# offline_within_1s NAME SINCE_MS
offline_within_1s() {
  local deadline=$(($2 + 1000))
  until status_live false; do
    if [ "$(now_ms)" -ge "$deadline" ]; then fail "$1 (still live 1 s later)"; return; fi
    sleep 0.05
  done
  pass "$1 ($(secs_since "$2") s)"
}
