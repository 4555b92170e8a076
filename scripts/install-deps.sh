#!/usr/bin/env bash
# Install what the end-to-end tests (e2e/run.sh) and the demo (scripts/demo.sh) need, on
# Debian 12. Idempotent: installs only what is missing, so a second run takes about a second.
#
#   scripts/install-deps.sh            apt packages + npm packages of e2e/
#   NO_APT=1 scripts/install-deps.sh   skip the Debian packages
#   NO_NPM=1 scripts/install-deps.sh   skip `npm ci` in e2e/
#   BUILD_ONLY=1 scripts/install-deps.sh  only what `cargo build` and `cargo test` need
#
# Debian packages: ffmpeg (test publisher), chromium (headless player), caddy (reverse proxy
# scenario), nginx + libnginx-mod-rtmp (the real RTMP server of the `rtmp` run, started by the
# test itself on loopback ports), curl, procps, python3 (the test HLS origin), libpq-dev (linkd
# links libpq for DATABASE_URL) and postgresql (the tests start their own PostgreSQL server on
# a temporary directory and a loopback port), and nodejs + npm only when `node`
# is missing. Runs apt-get as root, or through sudo otherwise. npm: playwright-core and hls.js
# as pinned in e2e/package-lock.json (playwright-core never downloads a browser here; the
# tests use Debian's /usr/bin/chromium).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${NO_APT:-0}" != 1 ]; then
  PKGS=(libpq-dev postgresql)
  if [ "${BUILD_ONLY:-0}" != 1 ]; then
    PKGS+=(ffmpeg chromium caddy nginx libnginx-mod-rtmp curl procps python3)
    command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
    command -v npm >/dev/null 2>&1 || PKGS+=(npm)
  fi
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    $SUDO apt-get update -q
    # caddy and nginx ship service units; on a machine without systemd nothing is started by
    # them (e2e starts its own nginx on loopback ports).
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "install-deps: Debian packages already there"
  fi
fi

if [ "${NO_NPM:-0}" != 1 ] && [ "${BUILD_ONLY:-0}" != 1 ]; then
  cd "$ROOT/e2e"
  if node -e 'require.resolve("playwright-core"); require.resolve("hls.js/dist/hls.min.js")' 2>/dev/null \
     && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    echo "install-deps: npm packages already there"
  else
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  fi
fi

[ "${BUILD_ONLY:-0}" = 1 ] && { echo "install-deps: libpq and PostgreSQL there"; exit 0; }
echo "install-deps: ffmpeg $(ffmpeg -version 2>/dev/null | sed -n '1s/^ffmpeg version \([^ ]*\).*/\1/p'), \
$(/usr/bin/chromium --version 2>/dev/null | head -1), \
caddy $(caddy version 2>/dev/null | cut -d' ' -f1), \
node $(node --version 2>/dev/null), \
playwright-core $(cd "$ROOT/e2e" && node -p 'require("playwright-core/package.json").version' 2>/dev/null)"
