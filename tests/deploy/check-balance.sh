#!/usr/bin/env bash
# Runs Caddyfile.scale's balancing for real, with a real Caddy in front of three stand-in
# gates on loopback (small HTTP servers that answer /healthz and say which gate they are):
#   - requests are spread over all three gates (no sticky policy),
#   - with one gate stopped, every request is still answered, by the other two (a refused
#     connection is tried on another gate),
#   - a stopped gate that starts again is sent requests again,
#   - a gate whose /healthz stops answering 200 is sent no more requests, and is sent them
#     again once it answers 200 (the active health check: its other answers are fine).
# Only the upstream line is changed for the run (the compose service names become loopback
# ports) and the site is bound to 127.0.0.1; the balancing block is the file's own.
#
# Usage: tests/deploy/check-balance.sh
# Uses `caddy` as check-caddy.sh finds it (PATH, else target/deploy-tools/). Prints one line
# per check and `balance: N passed, M failed`; exits 1 if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# shellcheck source=tally.sh
source "$here/tally.sh"

caddy="$(command -v caddy || true)"
[[ -n $caddy ]] || caddy="$repo/target/deploy-tools/caddy/usr/bin/caddy"
if [[ ! -x $caddy ]]; then
    fail "no caddy (run check-caddy.sh first: it fetches Debian's package)"
    tally balance
fi
python=/usr/bin/python3
[[ -x $python ]] || python="$(command -v python3)"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/data" XDG_CONFIG_HOME="$work/home/config"
mkdir -p "$HOME"

# Five free loopback ports: three gates, Caddy's site, Caddy's admin API.
read -r -a ports < <("$python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
gate_ports=("${ports[@]:0:3}")
site_port=${ports[3]}
admin_port=${ports[4]}

cat >"$work/gate.py" <<'EOF'
import http.server
import sys

import os

name, port, sick = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Gate(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200
        body = name.encode()
        if self.path == "/healthz":
            # While the file SICK exists, the health check fails; everything else works.
            status, body = (503, b"sick") if os.path.exists(sick) else (200, b"ok")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Gate).serve_forever()
EOF

gate_pid=()
start_gate() {
    "$python" "$work/gate.py" "gate$1" "${gate_ports[$1 - 1]}" "$work/sick$1" &
    gate_pid[$1]=$!
    pids+=("$!")
}
for i in 1 2 3; do start_gate "$i"; done

# The file's own block, with loopback upstreams and a loopback-only site.
upstreams="127.0.0.1:${gate_ports[0]} 127.0.0.1:${gate_ports[1]} 127.0.0.1:${gate_ports[2]}"
sed -e "s/reverse_proxy tempstream:8080 gate2:8080 gate3:8080 {/reverse_proxy $upstreams {/" \
    -e 's/^{$/{\n\tdefault_bind 127.0.0.1/' \
    "$repo/Caddyfile.scale" >"$work/Caddyfile"
if ! grep -q "reverse_proxy $upstreams {" "$work/Caddyfile"; then
    fail "Caddyfile.scale's upstream line is not 'reverse_proxy tempstream:8080 gate2:8080 gate3:8080 {'"
    tally balance
fi
SITE_ADDRESS="http://127.0.0.1:$site_port" CADDY_ADMIN="127.0.0.1:$admin_port" \
    "$caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
pids+=("$!")

# GETs / through Caddy COUNT times; prints the answers' bodies, one a line ("-" for a failure).
ask() {
    "$python" - "$site_port" "$1" <<'EOF'
import sys
import urllib.request

port, count = sys.argv[1], int(sys.argv[2])
for _ in range(count):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/play/x.mp4", timeout=10) as r:
            print(r.read().decode() if r.status == 200 else "-")
    except OSError:
        print("-")
EOF
}

# Waits up to 20 s until a round of requests reaches exactly the gates named.
until_reached() {
    local deadline=$((SECONDS + 20)) got
    while ((SECONDS < deadline)); do
        got="$(ask 30 | sort -u | tr '\n' ' ')"
        [[ $got == "$1 " ]] && return 0
    done
    echo "$got"
    return 1
}

if got="$(until_reached "gate1 gate2 gate3")"; then
    pass "requests are spread over the three gates"
else
    fail "requests are spread over the three gates (reached: $got)"
    sed 's/^/        /' "$work/caddy.log" | tail -n 5
fi

kill "${gate_pid[2]}"
wait "${gate_pid[2]}" 2>/dev/null || true
got="$(ask 40 | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
if [[ $got != *-* && $got != *gate2* && $got == *gate1* && $got == *gate3* ]]; then
    pass "with gate 2 stopped every request is answered by gates 1 and 3 ($got)"
else
    fail "with gate 2 stopped every request is answered by gates 1 and 3 (got $got)"
fi

start_gate 2
if got="$(until_reached "gate1 gate2 gate3")"; then
    pass "gate 2, started again, is sent requests again"
else
    fail "gate 2, started again, is sent requests again (reached: $got)"
fi

touch "$work/sick3"
if got="$(until_reached "gate1 gate2")"; then
    pass "gate 3, whose /healthz answers 503, is sent no more requests"
else
    fail "gate 3, whose /healthz answers 503, is sent no more requests (reached: $got)"
fi
rm "$work/sick3"
if got="$(until_reached "gate1 gate2 gate3")"; then
    pass "gate 3 is sent requests again once its /healthz answers 200"
else
    fail "gate 3 is sent requests again once its /healthz answers 200 (reached: $got)"
fi

tally balance
