#!/usr/bin/env bash
# Runs every deployment check: the systemd units (check-units.sh), the Caddyfile
# (check-caddy.sh), Caddyfile.scale's balancing run for real (check-balance.sh), the compose/MediaMTX/Docker/env files (check-config.py), the upgrade
# of a Go service's compose stack in place (upgrade-layout.py), compose's profile scale
# (scale-layout.py) and the Rust sources' size rules (check-source.py).
#
# Usage: tests/deploy/run.sh
# On a fresh Debian 12 machine, run as root: missing tools come from apt (systemd,
# python3-yaml; caddy is fetched as a package file, not installed). Prints each check,
# then `deploy: N passed, M failed` over all seven; exits 1 if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    echo "installing python3-yaml"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-yaml >/dev/null
fi

total_passed=0
total_failed=0
for check in "$here/check-units.sh" "$here/check-caddy.sh" "$here/check-balance.sh" "$here/check-config.py" "$here/upgrade-layout.py" "$here/scale-layout.py" "$here/check-source.py"; do
    name="$(basename "$check")"
    echo "== $name"
    out="$(mktemp)"
    status=0
    if [[ $check == *.py ]]; then
        /usr/bin/python3 "$check" 2>&1 | tee "$out" || status=$?
    else
        bash "$check" 2>&1 | tee "$out" || status=$?
    fi
    # Each check ends with "<name>: N passed, M failed".
    summary="$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)"
    rm -f "$out"
    if [[ -z $summary ]]; then
        echo "FAIL  $name stopped before its summary (exit $status)"
        total_failed=$((total_failed + 1))
        continue
    fi
    read -r p f < <(sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$summary")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    if [[ $status -ne 0 && $f -eq 0 ]]; then
        echo "FAIL  $name exited $status"
        total_failed=$((total_failed + 1))
    fi
done

echo "deploy: $total_passed passed, $total_failed failed"
((total_failed == 0))
