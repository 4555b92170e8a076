#!/usr/bin/env bash
# Checks the systemd files in systemd/ without a running systemd:
#   - `systemd-analyze verify` is clean (exit 0 and no warning) for every unit,
#   - `systemd-analyze security --offline=true` rates linkd.service and botd.service at an
#     exposure of at most 2.0,
#   - tempstream.sysusers.conf is accepted by systemd-sysusers and makes the users and the
#     shared group the units run as,
#   - the unit relations that keep the socket shared and the bot alive hold,
#   - linkd.service with the gate drop-in (linkd-gate.conf, several gates on PostgreSQL)
#     still verifies clean and keeps its exposure, and the drop-in changes nothing but the
#     ordering after PostgreSQL, the restarts while it is unreachable and the addresses
#     linkd may reach.
# The units are checked in a throwaway root (--root=DIR) holding a copy of the system's
# unit directory and stub executables at the ExecStart paths, so nothing needs installing.
#
# Usage: tests/deploy/check-units.sh
# Needs systemd-analyze and systemd-sysusers (Debian package `systemd`, installed with
# apt-get when missing; that needs root). Prints one line per check and `N passed, M failed`;
# exits 1 if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
units_dir="$repo/systemd"
max_exposure="2.0"

if ! command -v systemd-analyze >/dev/null || ! command -v systemd-sysusers >/dev/null; then
    echo "installing systemd-analyze and systemd-sysusers (Debian package systemd)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

# shellcheck source=tally.sh
source "$here/tally.sh"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

# The throwaway root: the distribution's units (for sysinit.target, network-online.target...),
# ours in /etc/systemd/system, and an executable stub wherever an ExecStart points.
system_units=/usr/lib/systemd/system
[[ -d $system_units ]] || system_units=/lib/systemd/system
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/etc/tempstream"
cp -a "$system_units" "$root/usr/lib/systemd/system"
units=()
for unit in "$units_dir"/*.service "$units_dir"/*.target; do
    [[ -e $unit ]] || continue
    cp "$unit" "$root/etc/systemd/system/"
    units+=("$(basename "$unit")")
done
if ((${#units[@]} == 0)); then
    fail "no unit files found in $units_dir"
fi
while read -r exe; do
    exe="${exe#ExecStart=}"
    exe="${exe#[-@:+!]}"
    exe="${exe%% *}"
    mkdir -p "$root$(dirname "$exe")"
    printf '#!/bin/sh\nexit 0\n' >"$root$exe"
    chmod 0755 "$root$exe"
done < <(grep -h '^ExecStart=' "$units_dir"/*.service)

# verify: clean means exit status 0 and nothing printed (unknown keys and bad values are
# only warnings, with status 0).
for unit in "${units[@]}"; do
    status=0
    out="$(systemd-analyze verify --root="$root" --man=no --generators=no "$unit" 2>&1)" || status=$?
    if [[ $status -eq 0 && -z $out ]]; then
        pass "systemd-analyze verify $unit"
    else
        fail "systemd-analyze verify $unit (exit $status):"
        printf '        %s\n' "$out"
    fi
done

# security: the overall exposure of each service, out of 10.
for unit in "${units[@]}"; do
    [[ $unit == *.service ]] || continue
    status=0
    out="$(systemd-analyze security --offline=true --root="$root" --no-pager "$unit" 2>&1)" || status=$?
    level="$(sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p" <<<"$out")"
    if [[ $status -ne 0 || -z $level ]]; then
        fail "systemd-analyze security $unit: no exposure level (exit $status)"
        printf '        %s\n' "$out" | tail -n 5
    elif awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }'; then
        pass "systemd-analyze security $unit: exposure $level <= $max_exposure"
    else
        fail "systemd-analyze security $unit: exposure $level > $max_exposure"
        grep '✗' <<<"$out" | sed 's/^/        /'
    fi
    if grep -q 'ignoring' <<<"$out"; then
        fail "systemd-analyze security $unit printed warnings:"
        grep 'ignoring' <<<"$out" | sed 's/^/        /'
    fi
done

# sysusers: the file applies cleanly to an empty root and makes what the units run as.
sysroot="$root/sysusers"
mkdir -p "$sysroot/etc/sysusers.d"
cp "$units_dir/tempstream.sysusers.conf" "$sysroot/etc/sysusers.d/tempstream.conf"
status=0
out="$(systemd-sysusers --root="$sysroot" 2>&1)" || status=$?
if [[ $status -eq 0 ]] && grep -q '^tempstream:' "$sysroot/etc/passwd" \
    && grep -q '^tempstream-bot:' "$sysroot/etc/passwd" \
    && grep -Eq '^tempstream:x:[0-9]+:(.*,)?tempstream-bot(,.*)?$' "$sysroot/etc/group"; then
    pass "systemd-sysusers makes users tempstream, tempstream-bot and puts the bot in group tempstream"
else
    fail "systemd-sysusers tempstream.sysusers.conf (exit $status):"
    printf '        %s\n' "$out"
fi

# Unit relations and settings the deployment relies on. Each entry, separated by ~: unit,
# extended regex that must match a line (or, with a leading !, must match no line), meaning.
expectations=(
    "linkd.service~^Type=notify$~linkd announces readiness after binding"
    "botd.service~^Type=notify$~botd announces readiness"
    "linkd.service~^RuntimeDirectory=tempstream$~linkd owns /run/tempstream"
    "linkd.service~^RuntimeDirectoryMode=0750$~the socket directory admits group tempstream only"
    "linkd.service~^RuntimeDirectoryPreserve=(yes|restart)$~the socket directory survives a linkd restart"
    "linkd.service~^StateDirectory=tempstream$~linkd owns /var/lib/tempstream"
    "linkd.service~^StateDirectoryMode=0700$~the database directory is linkd's alone"
    "linkd.service~^Environment=DB_PATH=/var/lib/tempstream/db.sqlite$~the database lives in the state directory"
    "linkd.service~^Environment=RPC_SOCKET=/run/tempstream/linkd.sock$~linkd's socket is in the runtime directory"
    "botd.service~^Environment=RPC_SOCKET=/run/tempstream/linkd.sock$~botd looks for the socket where linkd makes it"
    "linkd.service~^User=tempstream$~linkd runs as tempstream"
    "botd.service~^User=tempstream-bot$~botd runs as its own user"
    "botd.service~^SupplementaryGroups=tempstream$~botd is in linkd's group"
    "botd.service~^Wants=linkd.service$~botd pulls in linkd"
    "botd.service~^After=linkd.service$~botd starts after linkd"
    "botd.service~!^(Requires|BindsTo|Requisite|PartOf)=.*linkd~botd keeps running when linkd restarts"
    "botd.service~!^(RuntimeDirectory|StateDirectory)=~only linkd declares the shared directories"
    "botd.service~!^DynamicUser=yes~botd has a fixed user (a dynamic one cannot share the group)"
    "linkd.service~!^DynamicUser=yes~linkd has a fixed user (a dynamic one cannot share the group)"
    "linkd.service~^Restart=on-failure$~linkd is restarted after a crash"
    "botd.service~^Restart=on-failure$~botd is restarted after a crash"
    "linkd.service~^EnvironmentFile=/etc/tempstream/linkd.env$~linkd reads /etc/tempstream/linkd.env"
    "botd.service~^EnvironmentFile=/etc/tempstream/botd.env$~botd reads /etc/tempstream/botd.env"
    "linkd.service~^ExecStart=/usr/local/bin/linkd$~linkd is /usr/local/bin/linkd"
    "linkd.service~^Environment=MEDIA_AUTH_ADDR=127.0.0.1:9180$~linkd answers MediaMTX on loopback"
    "mediamtx.service~^Environment=MTX_AUTHHTTPADDRESS=http://127.0.0.1:9180/mediamtx/auth$~MediaMTX asks linkd who may publish and read"
    "mediamtx.service~^Environment=\"MTX_PATHDEFAULTS_RUNONREADY=wget .*http://127.0.0.1:9180/mediamtx/ready\"$~MediaMTX tells linkd when the stream is live"
    "mediamtx.service~^Environment=\"MTX_PATHDEFAULTS_RUNONNOTREADY=wget .*http://127.0.0.1:9180/mediamtx/not-ready\"$~MediaMTX tells linkd when the stream is offline"
    "mediamtx.service~!MTX_AUTHINTERNALUSERS~MediaMTX holds no static credential"
    "mediamtx.service~^Environment=MTX_APIADDRESS=127.0.0.1:9997$~MediaMTX's control API listens on loopback only"
    "linkd.service~^Environment=MEDIA_CONTROL_URL=http://127.0.0.1:9997$~linkd kicks a publisher with a rotated key through MediaMTX's API"
    "botd.service~^ExecStart=/usr/local/bin/botd$~botd is /usr/local/bin/botd"
)
for entry in "${expectations[@]}"; do
    IFS='~' read -r unit regex meaning <<<"$entry"
    file="$units_dir/$unit"
    if [[ $regex == '!'* ]]; then
        if [[ -f $file ]] && ! grep -Eq "${regex#!}" "$file"; then
            pass "$unit: $meaning"
        else
            fail "$unit: $meaning (a line matches ${regex#!})"
        fi
    else
        if [[ -f $file ]] && grep -Eq "$regex" "$file"; then
            pass "$unit: $meaning"
        else
            fail "$unit: $meaning (no line matches $regex)"
        fi
    fi
done

# The gate drop-in: applied to linkd.service, the unit still verifies clean and rates the
# same; it only orders linkd after a local PostgreSQL, keeps restarting it while the
# database is unreachable and widens IPAddressAllow.
dropin="$units_dir/linkd-gate.conf"
mkdir -p "$root/etc/systemd/system/linkd.service.d"
cp "$dropin" "$root/etc/systemd/system/linkd.service.d/gate.conf"
status=0
out="$(systemd-analyze verify --root="$root" --man=no --generators=no linkd.service 2>&1)" || status=$?
if [[ $status -eq 0 && -z $out ]]; then
    pass "systemd-analyze verify linkd.service with linkd-gate.conf"
else
    fail "systemd-analyze verify linkd.service with linkd-gate.conf (exit $status):"
    printf '        %s\n' "$out"
fi
status=0
out="$(systemd-analyze security --offline=true --root="$root" --no-pager linkd.service 2>&1)" || status=$?
level="$(sed -n "s/.*Overall exposure level for linkd.service: \([0-9.]*\).*/\1/p" <<<"$out")"
if [[ $status -eq 0 && -n $level ]] && awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }'; then
    pass "systemd-analyze security linkd.service with linkd-gate.conf: exposure $level <= $max_exposure"
else
    fail "systemd-analyze security linkd.service with linkd-gate.conf: exposure ${level:-unknown} (exit $status)"
fi
keys="$(grep -Ev '^[[:space:]]*(#|$|\[)' "$dropin" | cut -d= -f1 | sort -u | tr '\n' ' ')"
if [[ $keys == "After IPAddressAllow StartLimitIntervalSec " ]]; then
    pass "linkd-gate.conf sets only After=, StartLimitIntervalSec= and IPAddressAllow="
else
    fail "linkd-gate.conf sets only After=, StartLimitIntervalSec= and IPAddressAllow= (sets: $keys)"
fi
if grep -Eq '^(Environment|EnvironmentFile)=' "$dropin" || grep -q 'postgres://' "$dropin"; then
    fail "linkd-gate.conf holds no setting (DATABASE_URL belongs in linkd.env)"
else
    pass "linkd-gate.conf holds no setting (DATABASE_URL belongs in linkd.env)"
fi
allowed="$(sed -n 's/^IPAddressAllow=//p' "$dropin")"
if [[ -n $allowed ]] && ! grep -Eqw 'any|0\.0\.0\.0/0|::/0' <<<"$allowed"; then
    pass "linkd-gate.conf allows private ranges, not any address ($allowed)"
else
    fail "linkd-gate.conf allows private ranges, not any address ($allowed)"
fi

tally units
