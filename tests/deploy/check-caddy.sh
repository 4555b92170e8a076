#!/usr/bin/env bash
# Checks the Caddyfile with a real Caddy, without starting a server:
#   - `caddy validate` accepts it for a domain (automatic HTTPS), for `:80` and for an
#     http:// address, with and without LINKD_UPSTREAM,
#   - the adapted JSON config proxies everything to linkd with flush_interval -1, compresses
#     nothing under /play/, strips the Server header and has no access log,
#   - the file is formatted the way `caddy fmt` writes it,
#   - Caddyfile.scale (compose profile scale) passes the same checks and balances over the
#     three gates with an active health check on /healthz, retries on another gate and no
#     sticky policy.
#
# Usage: tests/deploy/check-caddy.sh
# Uses `caddy` from PATH if there is one. Otherwise it fetches Debian's caddy package with
# `apt-get download` and unpacks it under target/deploy-tools/ (no installation, so no
# caddy.service starts listening on this machine). Prints one line per check and
# `N passed, M failed`; exits 1 if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# shellcheck source=tally.sh
source "$here/tally.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

caddy="$(command -v caddy || true)"
if [[ -z $caddy ]]; then
    tools="$repo/target/deploy-tools/caddy"
    caddy="$tools/usr/bin/caddy"
    if [[ ! -x $caddy ]]; then
        echo "fetching Debian's caddy package into $tools"
        mkdir -p "$tools"
        # apt-get download writes to the current directory; _apt must be able to write it.
        chmod 0777 "$work"
        if ! (cd "$work" && apt-get download caddy >/dev/null 2>&1); then
            apt-get update -qq
            (cd "$work" && apt-get download caddy >/dev/null)
        fi
        dpkg-deb -x "$work"/caddy_*.deb "$tools"
        rm -f "$work"/caddy_*.deb
    fi
fi
echo "using $("$caddy" version | head -n 1) at $caddy"

# Caddy keeps state under HOME/XDG directories; keep it in the throwaway directory.
export HOME="$work/home" XDG_DATA_HOME="$work/home/data" XDG_CONFIG_HOME="$work/home/config"
mkdir -p "$HOME"

# python3 from the system (stdlib only) reads the adapted JSON.
python=/usr/bin/python3
[[ -x $python ]] || python="$(command -v python3)"

# Each variant: file ~ SITE_ADDRESS ~ LINKD_UPSTREAM (empty: unset) ~ expected listen
# address ~ expected upstreams (comma-separated, sorted; empty: LINKD_UPSTREAM or linkd:8080).
variants=(
    "Caddyfile~watch.example.org~~:443~"
    "Caddyfile~watch.example.org~127.0.0.1:8080~:443~"
    "Caddyfile~:80~~:80~"
    "Caddyfile~http://192.168.1.42~linkd:8080~:80~"
    "Caddyfile.scale~watch.example.org~~:443~gate2:8080,gate3:8080,tempstream:8080"
    "Caddyfile.scale~:80~~:80~gate2:8080,gate3:8080,tempstream:8080"
)
for variant in "${variants[@]}"; do
    IFS='~' read -r file site upstream listen upstreams <<<"$variant"
    caddyfile="$repo/$file"
    label="$file, SITE_ADDRESS=$site${upstream:+ LINKD_UPSTREAM=$upstream}"
    env_args=(SITE_ADDRESS="$site")
    [[ -n $upstream ]] && env_args+=(LINKD_UPSTREAM="$upstream")

    status=0
    out="$(env -u LINKD_UPSTREAM "${env_args[@]}" "$caddy" validate --config "$caddyfile" --adapter caddyfile 2>&1)" || status=$?
    if [[ $status -eq 0 ]] && grep -q 'Valid configuration' <<<"$out"; then
        pass "caddy validate ($label)"
    else
        fail "caddy validate ($label), exit $status:"
        printf '        %s\n' "$out" | tail -n 5
        continue
    fi

    status=0
    env -u LINKD_UPSTREAM "${env_args[@]}" "$caddy" adapt --config "$caddyfile" --adapter caddyfile \
        >"$work/adapted.json" 2>"$work/adapt.log" || status=$?
    if [[ $status -ne 0 ]]; then
        fail "caddy adapt ($label), exit $status"
        continue
    fi
    # One line per finding: "ok <what>" or "FAIL <what>".
    while read -r verdict what; do
        if [[ $verdict == ok ]]; then pass "$what ($label)"; else fail "$what ($label)"; fi
    done < <("$python" - "$work/adapted.json" "${upstreams:-${upstream:-linkd:8080}}" "$listen" <<'EOF'
import json
import sys

config = json.load(open(sys.argv[1]))
want_upstreams, want_listen = sorted(sys.argv[2].split(",")), sys.argv[3]
servers = config.get("apps", {}).get("http", {}).get("servers", {})


def handlers(routes, matchers=()):
    """Yields (handler, matchers of the routes that lead to it), through subroutes."""
    for route in routes:
        here = tuple(matchers) + tuple(route.get("match", []))
        for h in route.get("handle", []):
            yield h, here
            if h.get("handler") == "subroute":
                yield from handlers(h.get("routes", []), here)


def report(ok, what):
    print(("ok " if ok else "FAIL ") + what)


report(len(servers) >= 1, "one HTTP server is configured")
all_handlers = [(h, m) for s in servers.values() for h, m in handlers(s.get("routes", []))]
listens = sorted(a for s in servers.values() for a in s.get("listen", []))
report(want_listen in listens, f"listens on {want_listen} (got {listens})")

proxies = [h for h, _ in all_handlers if h.get("handler") == "reverse_proxy"]
dials = sorted({u.get("dial") for p in proxies for u in p.get("upstreams", [])})
report(len(proxies) == 1 and dials == want_upstreams, f"one reverse_proxy to {', '.join(want_upstreams)} (got {dials})")
report(all(p.get("flush_interval") == -1 for p in proxies) and proxies != [],
       "reverse_proxy streams responses (flush_interval -1)")


def excludes_play(matchers):
    """True when the matcher set rules out every path under /play/."""
    for m in matchers:
        for n in m.get("not", []):
            if "/play/*" in n.get("path", []):
                return True
    return False


encoders = [(h, m) for h, m in all_handlers if h.get("handler") == "encode"]
report(encoders != [], "responses are compressed")
report(all(excludes_play(m) for _, m in encoders), "nothing under /play/ is compressed")

deleted = {d.lower() for h, _ in all_handlers if h.get("handler") == "headers"
           for d in h.get("response", {}).get("delete", [])}
report("server" in deleted, "the Server header is removed")

logged = [name for name, s in servers.items() if "logs" in s]
report(logged == [] and "logging" not in config, "no access log (watch URLs carry secrets)")

admin = config.get("admin", {}).get("listen", "localhost:2019")
report(admin.startswith(("localhost:", "127.0.0.1:", "[::1]:", "unix/")),
       f"admin API only on loopback (got {admin})")

if len(want_upstreams) > 1:
    for p in proxies:
        active = p.get("health_checks", {}).get("active", {})
        report(active.get("uri") == "/healthz" and active.get("expect_status") in (None, 200),
               f"each gate is asked GET /healthz and must answer 200 (got {active})")
        interval_s = active.get("interval", 30_000_000_000) / 1e9
        report(interval_s <= 5, f"a gate that stops answering leaves the rotation within 5 s (interval {interval_s} s)")
        lb = p.get("load_balancing", {})
        report(lb.get("try_duration", 0) > 0, "a request refused by one gate is tried on another (lb_try_duration)")
        policy = lb.get("selection_policy", {}).get("policy", "random")
        report(policy not in ("cookie", "ip_hash", "client_ip_hash", "header", "uri_hash", "query"),
               f"no sticky policy: every gate serves every session (policy {policy})")
EOF
)
done

for file in Caddyfile Caddyfile.scale; do
    status=0
    formatted="$("$caddy" fmt "$repo/$file" 2>/dev/null)" || status=$?
    if [[ $status -eq 0 ]] && diff -q <(printf '%s\n' "$formatted") "$repo/$file" >/dev/null; then
        pass "$file is formatted as caddy fmt writes it"
    else
        fail "$file is not formatted; run: caddy fmt --overwrite $file"
    fi
done

tally caddy
