#!/usr/bin/python3
"""Static checks of the container deployment: compose.yaml, mediamtx.yml, Dockerfile,
Caddyfile and env.example, for what must hold before anything is started.

- Nothing but Caddy (80, 443) and RTMP (1935) is published; MediaMTX's HLS, API, metrics,
  pprof and playback ports never are; its metrics, pprof and playback are off, its API is
  on for linkd alone (every call is authenticated by linkd).
- MediaMTX admits nobody on its own: it asks linkd (`authMethod: http`) for every request,
  excluding none, at linkd's MEDIA_AUTH_ADDR on the private network; its go-live hooks tell
  linkd too; it holds no credential (the stream key and the reader's password live in linkd).
- No container runs as root where it need not, and all drop capabilities.
- Each container gets only the secrets it needs; botd and linkd share the socket volume.
- Every variable that compose.yaml or the Caddyfile uses, and every setting of both daemons,
  is documented in env.example.
- The Go service's stack upgrades in place (upgrade-layout.py checks this part).

Usage: /usr/bin/python3 tests/deploy/check-config.py [REPO_DIR]
Needs PyYAML (Debian: python3-yaml; tests/deploy/run.sh installs it). Prints one line per
check and `N passed, M failed`; exits 1 if any check failed.
"""

import os
import re
import sys

import yaml

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))

# The settings of linkd and botd (and MediaMTX's credentials) that env.example must explain.
DAEMON_VARIABLES = [
    # linkd
    "HTTP_ADDR", "BASE_URL", "DB_PATH", "RPC_SOCKET", "MEDIAMTX_HLS_BASE_URL",
    "MEDIAMTX_READ_USER", "MEDIAMTX_READ_PASSWORD", "COOKIE_SECURE", "DEFAULT_LINK_TTL",
    "LINK_RETENTION", "SHUTDOWN_GRACE", "PROBE_INTERVAL", "HTTP_TRUSTED_PROXY_COUNT",
    "HTTP_TRUSTED_PROXIES", "HTTP_MAX_CONNECTIONS", "HTTP_MAX_CONNECTIONS_PER_CLIENT",
    "HTTP_SEND_TIMEOUT", "LOG_LEVEL", "LOG_FORMAT", "STREAM_TITLE",
    "AUDIT_RETENTION", "AUDIT_ADDRESS_PREFIX",
    # botd
    "TELEGRAM_BOT_TOKEN", "ALLOWED_CHAT_IDS", "TIME_ZONE", "LINK_TTL_OPTIONS",
    "TELEGRAM_API_URL", "NOTIFY", "NOTIFY_DEBOUNCE", "KEY_MESSAGE_TTL",
    # the publishing side (linkd)
    "MEDIA_AUTH_ADDR", "RTMP_PUBLIC_URL", "MEDIA_CONTROL_URL",
    "MEDIAMTX_PUBLISH_USER", "MEDIAMTX_PUBLISH_PASSWORD",
]
# Containers that may run as root, and why. Each must still drop every capability it can.
ROOT_ALLOWED = {"caddy": "its certificate volume is root-owned; keeps only NET_BIND_SERVICE"}
# Which secrets each service may see (anything matching SECRET_NAME and not listed is a leak).
# DATABASE_URL holds PostgreSQL's password (profile scale).
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASS)$|^DATABASE_URL$")
# The reader's password, the Go service's publish password (accepted until the first key
# rotation) and, in profile scale, the shared state's address with its password.
LINKD_SECRETS = {"MEDIAMTX_READ_PASSWORD", "MEDIAMTX_PUBLISH_PASSWORD", "DATABASE_URL"}
SECRETS_ALLOWED = {
    "mediamtx": set(),
    "tempstream": LINKD_SECRETS,
    "botd": {"TELEGRAM_BOT_TOKEN"},
    "caddy": set(),
    # Profile scale: PostgreSQL and gates 2 and 3 (gate 1 is `tempstream`).
    "postgres": {"POSTGRES_PASSWORD"},
    "gate2": LINKD_SECRETS,
    "gate3": LINKD_SECRETS,
}

results = []


def check(ok, what):
    results.append((bool(ok), what))
    print(("ok    " if ok else "FAIL  ") + what)
    return bool(ok)


def load_yaml(name):
    path = os.path.join(REPO, name)
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        check(False, f"{name} parses as YAML ({e})")
        return None


def read_text(name):
    try:
        with open(os.path.join(REPO, name)) as f:
            return f.read()
    except OSError as e:
        check(False, f"{name} is readable ({e})")
        return ""


def port_of(address):
    """The port of a MediaMTX listen address such as ':8888' or '127.0.0.1:8888'."""
    m = re.search(r":(\d+)$", str(address or ""))
    return int(m.group(1)) if m else None


def strip_interpolation(s):
    """Replaces ${VAR...} with its default (or 0) so a port spec can be split on ':'."""
    def default(m):
        inner = m.group(1)
        d = re.match(r"[A-Za-z_][A-Za-z0-9_]*(?::?-)(.*)$", inner)
        return d.group(1) if d else "0"
    return re.sub(r"\$\{([^}]*)\}", default, str(s))


def published_container_ports(service):
    """(container port, protocol) for every port the service publishes on the host."""
    out = []
    for p in service.get("ports", []) or []:
        if isinstance(p, dict):
            if p.get("published") in (None, ""):
                continue
            out.append((int(str(p["target"])), p.get("protocol", "tcp")))
            continue
        spec = strip_interpolation(p)
        proto = "tcp"
        if "/" in spec:
            spec, proto = spec.rsplit("/", 1)
        parts = spec.split(":")
        target = parts[-1]
        # "8888" alone publishes on a random host port: that is published too.
        for t in target.split("-") if "-" in target else [target]:
            out.append((int(t), proto))
    return out


def environment(service):
    env = service.get("environment", {}) or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def is_root_user(user):
    if user is None:
        return True  # the image decides: treat as root unless the service says otherwise
    u = str(user).split(":")[0]
    return u in ("", "0", "root")


compose = load_yaml("compose.yaml") or {}
mtx = load_yaml("mediamtx.yml") or {}
services = compose.get("services", {}) or {}

# --- compose: the services and what they publish -----------------------------------------

for name in ("mediamtx", "tempstream", "botd", "caddy"):
    check(name in services, f"compose.yaml has service {name}")

rtmp_port = port_of(mtx.get("rtmpAddress", ":1935"))
hls_port = port_of(mtx.get("hlsAddress", ":8888"))
forbidden = {hls_port, 8888}
for key, default in (("apiAddress", ":9997"), ("metricsAddress", ":9998"), ("pprofAddress", ":9999"),
                     ("playbackAddress", ":9996"), ("rtspAddress", ":8554"), ("webrtcAddress", ":8889"),
                     ("srtAddress", ":8890"), ("webrtcLocalUDPAddress", ":8189"),
                     ("moqHTTP2Address", ":8892"), ("moqQUICAddress", ":8893")):
    forbidden.add(port_of(mtx.get(key, default)))
forbidden.discard(None)

for name, svc in services.items():
    ports = published_container_ports(svc)
    check(svc.get("network_mode") != "host", f"{name} does not use the host's network (it would publish every port)")
    if name == "mediamtx":
        check(ports and all(p == rtmp_port for p, _ in ports),
              f"mediamtx publishes only RTMP {rtmp_port} (publishes {sorted(set(p for p, _ in ports))})")
        bad = sorted({p for p, _ in ports if p in forbidden})
        check(not bad, f"mediamtx publishes no HLS/API/metrics/pprof/playback port (found {bad})")
    if name not in ("mediamtx", "caddy"):
        check(not ports, f"{name} publishes no port (found {ports})")
if "caddy" in services:
    caddy_ports = {p for p, _ in published_container_ports(services["caddy"])}
    check(caddy_ports <= {80, 443}, f"caddy publishes only 80 and 443 (publishes {sorted(caddy_ports)})")

# --- compose: users, privileges, restart, health -----------------------------------------

for name, svc in services.items():
    user = svc.get("user")
    if name in ROOT_ALLOWED:
        print(f"note  {name} may run as root: {ROOT_ALLOWED[name]}")
    else:
        check(not is_root_user(user), f"{name} runs as a non-root user (user: {user!r})")
    check(not svc.get("privileged"), f"{name} is not privileged")
    cap_drop = [str(c).upper() for c in svc.get("cap_drop", []) or []]
    check("ALL" in cap_drop, f"{name} drops all capabilities")
    added = sorted(str(c).upper() for c in svc.get("cap_add", []) or [])
    check(added in ([], ["NET_BIND_SERVICE"]) and (not added or name in ROOT_ALLOWED),
          f"{name} adds back no capability beyond binding low ports (adds {added})")
    sec = [str(s).replace("=", ":") for s in svc.get("security_opt", []) or []]
    check(any(s in ("no-new-privileges:true", "no-new-privileges") for s in sec),
          f"{name} sets no-new-privileges")
    check(svc.get("restart") in ("always", "unless-stopped", "on-failure"), f"{name} has a restart policy")
    check(svc.get("read_only") is True, f"{name} has a read-only root file system")

for name in ("tempstream", "caddy"):
    hc = (services.get(name) or {}).get("healthcheck") or {}
    check(hc.get("test") and not hc.get("disable"), f"{name} has a health check")
if "tempstream" in services:
    test = " ".join(map(str, (services["tempstream"].get("healthcheck") or {}).get("test", [])))
    check("/healthz" in test or "linkctl" in test, "linkd's health check asks linkd itself (/healthz or linkctl)")
    check(not re.search(r"\b(curl|wget)\b", test), "linkd's health check uses no tool the image lacks (curl, wget)")

for name, svc in services.items():
    image = str(svc.get("image", ""))
    if "build" in svc:
        continue
    tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
    # PostgreSQL numbers its releases major.minor (17.6); everything else here major.minor.patch.
    release = r"^\d+\.\d+(-|$)" if image.startswith("postgres:") else r"^\d+\.\d+\.\d+"
    check(re.match(release, tag), f"{name}'s image is pinned to a release ({image})")

# --- compose: secrets and the shared socket ----------------------------------------------

for name, svc in services.items():
    check("env_file" not in svc, f"{name} takes no env_file (it would hand every secret in .env to it)")
    env = environment(svc)
    leaked = sorted(k for k in env if SECRET_NAME.search(k) and k not in SECRETS_ALLOWED.get(name, set()))
    check(not leaked, f"{name} gets no secret it does not need (found {leaked})")

linkd_env = environment(services.get("tempstream", {}))
auth_port = port_of(linkd_env.get("MEDIA_AUTH_ADDR", ""))
check(auth_port, f"linkd answers MediaMTX on MEDIA_AUTH_ADDR ({linkd_env.get('MEDIA_AUTH_ADDR')!r})")
check(not [k for k in environment(services.get("mediamtx", {})) if k.startswith("MTX_AUTH")],
      "compose gives MediaMTX no credential and no auth override")
check(set(services.get("mediamtx", {}).get("networks") or []) & set(services.get("tempstream", {}).get("networks") or []),
      "MediaMTX and linkd share a network (MediaMTX asks linkd there)")
for k in ("MEDIAMTX_PUBLISH_USER", "MEDIAMTX_PUBLISH_PASSWORD"):
    check(re.fullmatch(r"\$\{" + k + r":-\}", linkd_env.get(k, "")),
          f"linkd gets {k} from .env, empty by default (the Go publish pair, until the first rotation)")


def mounts(svc):
    out = {}
    for v in svc.get("volumes", []) or []:
        if isinstance(v, dict):
            out[str(v.get("source"))] = str(v.get("target"))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out[parts[0]] = parts[1]
    return out


linkd_mounts = mounts(services.get("tempstream", {}))
botd_mounts = mounts(services.get("botd", {}))
linkd_sock = environment(services.get("tempstream", {})).get("RPC_SOCKET", "")
botd_sock = environment(services.get("botd", {})).get("RPC_SOCKET", "")
check(linkd_sock and linkd_sock == botd_sock, f"linkd and botd use the same RPC_SOCKET ({linkd_sock!r}, {botd_sock!r})")
shared = [src for src, dst in linkd_mounts.items()
          if src in (compose.get("volumes") or {}) and botd_mounts.get(src) == dst and linkd_sock.startswith(dst + "/")]
check(shared, "the socket's directory is a named volume mounted by linkd and botd at the same place")
db = environment(services.get("tempstream", {})).get("DB_PATH", "")
db_volumes = [src for src, dst in linkd_mounts.items() if db.startswith(dst + "/")]
check(db_volumes and not any(v in botd_mounts for v in db_volumes), "botd does not mount linkd's database volume")

# --- mediamtx.yml -------------------------------------------------------------------------

check(mtx.get("authMethod") == "http", "mediamtx asks linkd (authMethod: http)")
check(not mtx.get("authInternalUsers"), "mediamtx.yml has no user list of its own")
check(mtx.get("authHTTPExclude") == [], "nothing is excluded from asking linkd (authHTTPExclude: [])")
auth_url = str(mtx.get("authHTTPAddress") or "")
check(re.fullmatch(rf"http://tempstream:{auth_port}/mediamtx/auth", auth_url),
      f"authHTTPAddress is linkd's MEDIA_AUTH_ADDR on the private network ({auth_url!r})")
defaults = mtx.get("pathDefaults") or {}
for hook, route in (("runOnReady", "ready"), ("runOnNotReady", "not-ready")):
    cmd = str(defaults.get(hook) or "")
    check(re.match(r"wget ", cmd) and f"--post-data" in cmd and cmd.endswith(f"http://tempstream:{auth_port}/mediamtx/{route}"),
          f"{hook} tells linkd at once ({cmd!r})")
check("-ffmpeg" in str(services.get("mediamtx", {}).get("image", "")),
      "the MediaMTX image has wget for the hooks (the -ffmpeg variant)")
for key in ("metrics", "pprof", "playback"):
    check(mtx.get(key) is False, f"mediamtx {key} is off")
check(mtx.get("api") is True and port_of(mtx.get("apiAddress")) == 9997,
      "mediamtx's control API is on for linkd (every call asks linkd: authHTTPExclude is empty)")
check(linkd_env.get("MEDIA_CONTROL_URL") == "http://mediamtx:9997",
      "linkd kicks a publisher with a rotated key through MediaMTX's API (MEDIA_CONTROL_URL)")
for key in ("rtsp", "webrtc", "srt", "moq"):
    check(mtx.get(key) is False, f"mediamtx {key} is off")
check(mtx.get("rtmp") is True and mtx.get("hls") is True, "mediamtx takes RTMP and serves HLS")
check(mtx.get("hlsVariant") == "lowLatency", "HLS variant is lowLatency")
check(str(mtx.get("hlsSegmentDuration")) == "1s" and str(mtx.get("hlsPartDuration")) == "200ms",
      "LL-HLS segments of 1s and parts of 200ms")
paths = mtx.get("paths") or {}
check(list(paths) == ["live/stream"], f"the only path is live/stream (found {list(paths)})")

# --- Dockerfile ---------------------------------------------------------------------------

dockerfile = read_text("Dockerfile")
stages = re.split(r"(?im)^FROM\s+", dockerfile)[1:]
check(stages and stages[0].startswith("rust:1-bookworm"), "the build stage is rust:1-bookworm")
check(re.search(r"cargo build --release --locked -p linkd -p botd", dockerfile),
      "the image builds linkd and botd with --release --locked")
check(stages and stages[-1].startswith("debian:bookworm-slim"), "the runtime stage is debian:bookworm-slim")
check(stages and "ca-certificates" in stages[-1], "the runtime stage has ca-certificates")
final_users = re.findall(r"(?im)^USER\s+(\S+)", stages[-1]) if stages else []
check(final_users and not is_root_user(final_users[-1]), f"the image runs as a non-root user (USER {final_users[-1:]})")

# --- env.example documents every variable -------------------------------------------------

example = read_text("env.example")
documented = set(re.findall(r"(?m)^#?\s*([A-Z][A-Z0-9_]*)=", example))
with open(os.path.join(REPO, "compose.yaml")) as f:
    compose_text = f.read()
used_compose = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", compose_text))
used_caddy = set(re.findall(r"\{\$([A-Za-z_][A-Za-z0-9_]*)", read_text("Caddyfile")))
for var in sorted(used_compose | used_caddy):
    where = "compose.yaml" if var in used_compose else "Caddyfile"
    check(var in documented, f"env.example documents {var} (used in {where})")
for var in DAEMON_VARIABLES:
    check(var in documented, f"env.example documents daemon setting {var}")

passed = sum(1 for ok, _ in results if ok)
failed = len(results) - passed
print(f"config: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
