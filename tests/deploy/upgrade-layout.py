#!/usr/bin/python3
"""Static check that `docker compose up -d`, run in the Go service's directory with its
.env, finds the Go stack's state and leaves nothing of it running, without a Docker engine:

- the project name stays the directory's (no `name:`), so volume names do not change;
- the Go stack's volumes are used where the Go stack had them: `tempstream_data` at /data
  with DB_PATH=/data/db.sqlite, owned by the image's uid:gid 10001:10001, and Caddy's
  `caddy_data` at /data and `caddy_config` at /config;
- linkd's service is called `tempstream`, as the Go service was, so compose replaces that
  container instead of leaving an orphan polling the same bot token;
- compose's own interpolation, run here on tests/upgrade/go.env (a Go operator's .env),
  fails only for variables that are new since the Go service, each with a message saying
  exactly what to add; with that added, everything resolves to the operator's values.

Usage: /usr/bin/python3 tests/deploy/upgrade-layout.py [REPO_DIR]
Prints one line per check and `upgrade: N passed, M failed`; exits 1 if any failed.
"""

import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402
from composeenv import parse_env, resolve  # noqa: E402

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))

checks = Checks(REPO)
check, read = checks.check, checks.read


def mounts(service):
    out = {}
    for v in service.get("volumes", []) or []:
        parts = str(v).split(":")
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


compose = yaml.safe_load(read("compose.yaml")) or {}
go_env = parse_env(read("tests/upgrade/go.env"))
services = compose.get("services", {}) or {}
volumes = compose.get("volumes", {}) or {}

# --- the same project, the same volumes ---------------------------------------------------

check("name" not in compose, "compose.yaml sets no project name: it stays the directory's, as for the Go stack")
check("tempstream" in services, "linkd runs as service `tempstream`, so compose replaces the Go container")
pollers = sorted(n for n, s in services.items() if "TELEGRAM_BOT_TOKEN" in (s.get("environment") or {}))
check(pollers == ["botd"], f"only botd gets the bot token (found {pollers})")
check("tempstream_data" in volumes and not (volumes.get("tempstream_data") or {}).get("name"),
      "the volume `tempstream_data` is declared under that key (Docker names it <project>_tempstream_data)")
linkd = services.get("tempstream", {})
check(mounts(linkd).get("tempstream_data") == "/data", "service tempstream mounts tempstream_data at /data")
caddy = mounts(services.get("caddy", {}))
check(caddy.get("caddy_data") == "/data" and caddy.get("caddy_config") == "/config",
      "caddy mounts caddy_data at /data and caddy_config at /config (its certificates)")
check({"caddy_data", "caddy_config"} <= set(volumes), "caddy_data and caddy_config are declared volumes")

dockerfile = read("Dockerfile")
check(re.search(r"groupadd --system --gid 10001 tempstream\b", dockerfile)
      and re.search(r"useradd --system --uid 10001 --gid tempstream\b", dockerfile),
      "the image's user tempstream is uid:gid 10001:10001, the owner of the Go service's files")
check(re.search(r"install -d -m 0700 -o tempstream -g tempstream /data\b", dockerfile),
      "the image's /data belongs to tempstream (a new volume takes it over)")
check(str(linkd.get("user")) in ("tempstream", "10001", "10001:10001"), "service tempstream runs as uid 10001")

# --- the Go service's .env ----------------------------------------------------------------

errors = {}
resolve(compose, go_env, errors)
new_vars = sorted(errors)
check(new_vars == ["MEDIAMTX_READ_PASSWORD"],
      f"with the Go .env, only variables new since the Go service are missing (missing: {new_vars})")
for name, message in errors.items():
    check(f"add {name}=" in message and name not in go_env,
          f"compose's message for {name} says what to add: {message!r}")

env = dict(go_env, MEDIAMTX_READ_PASSWORD="00ff")
errors = {}
resolved = resolve(compose, env, errors)
check(not errors, f"with MEDIAMTX_READ_PASSWORD added, the Go .env starts the stack (missing: {sorted(errors)})")
rs = resolved.get("services", {})
le = rs.get("tempstream", {}).get("environment", {}) or {}
be = rs.get("botd", {}).get("environment", {}) or {}
ce = rs.get("caddy", {}).get("environment", {}) or {}
check(le.get("DB_PATH") == "/data/db.sqlite", f"linkd opens /data/db.sqlite (DB_PATH={le.get('DB_PATH')!r})")
check(le.get("BASE_URL") == go_env["BASE_URL"], "linkd keeps the Go BASE_URL")
check(ce.get("SITE_ADDRESS") == go_env["BASE_URL"], f"Caddy serves BASE_URL's site without SITE_ADDRESS ({ce.get('SITE_ADDRESS')!r})")
check(le.get("LINK_RETENTION") == "0", "no LINK_RETENTION in the Go .env: ended links are kept")
for key in ("COOKIE_SECURE", "DEFAULT_LINK_TTL", "HTTP_TRUSTED_PROXY_COUNT"):
    check(le.get(key) == go_env[key], f"linkd gets the Go {key} as written ({le.get(key)!r})")
for key in ("TELEGRAM_BOT_TOKEN", "ALLOWED_CHAT_IDS", "LINK_TTL_OPTIONS", "TIME_ZONE", "DEFAULT_LINK_TTL"):
    check(be.get(key) == go_env[key], f"botd gets the Go {key} as written")
check(le.get("MEDIAMTX_PUBLISH_USER") == go_env["MEDIAMTX_PUBLISH_USER"]
      and le.get("MEDIAMTX_PUBLISH_PASSWORD") == go_env["MEDIAMTX_PUBLISH_PASSWORD"],
      "OBS keeps publishing with the Go publish credentials (linkd accepts them until the first key rotation)")
check(le.get("MEDIAMTX_READ_USER") == "linkd", "the reader's name defaults to linkd")
mtx = rs.get("mediamtx", {}).get("environment", {}) or {}
check(not any(k.startswith("MTX_AUTH") for k in mtx), "MediaMTX holds no credential: it asks linkd")

checks.finish("upgrade")
