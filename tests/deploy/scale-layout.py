#!/usr/bin/python3
"""Static check of compose.yaml's profile `scale` (PostgreSQL, three linkd gates, Caddy
balancing over them), without a Docker engine:

- the default profile is untouched: the same four services, none of them waiting for a
  service of a profile (compose would call the whole project invalid), no required (`:?`)
  variable in a profile's service (compose interpolates every service, enabled or not), and
  with the Go service's .env linkd still opens its SQLite file and Caddy reads Caddyfile;
- the gates are one linkd three times: the same image, user and settings as `tempstream`
  (gate 1, whose socket botd uses), each with its own name and RPC socket volume, each
  waiting for a healthy PostgreSQL, each answering MediaMTX under the name `tempstream`;
- PostgreSQL sits on an internal network that only the gates share, keeps its data in a
  named volume, is healthy only once it answers on TCP;
- Caddyfile.scale's upstreams are exactly the three gates, and compose mounts it when
  .env says CADDYFILE=Caddyfile.scale;
- with a scale .env (tests/deploy/scale.env) every gate gets the same DATABASE_URL, which
  names the compose PostgreSQL with its user, database and password; without DATABASE_URL
  gates 2 and 3 get a value linkd refuses instead of falling back to a SQLite of their own.

Usage: /usr/bin/python3 tests/deploy/scale-layout.py [REPO_DIR]
Prints one line per check and `scale: N passed, M failed`; exits 1 if any failed.
"""

import os
import re
import sys
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402
from composeenv import parse_env, resolve  # noqa: E402

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_SERVICES = {"mediamtx", "tempstream", "botd", "caddy"}
GATES = ["tempstream", "gate2", "gate3"]
SCALE_SERVICES = {"postgres", "gate2", "gate3"}
# What may differ between gate 1 and the others.
PER_GATE = {"DATABASE_URL", "GATE_NAME"}

checks = Checks(REPO)
check, read = checks.check, checks.read


def mounts(service):
    """target -> source of a service's volumes, short or long syntax."""
    out = {}
    for v in service.get("volumes", []) or []:
        if isinstance(v, dict):
            out[str(v.get("target"))] = str(v.get("source"))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out[parts[1]] = parts[0]
    return out


def networks(service):
    n = service.get("networks") or {}
    return dict.fromkeys(n, {}) if isinstance(n, list) else {k: (v or {}) for k, v in n.items()}


def depends(service):
    d = service.get("depends_on") or {}
    return dict.fromkeys(d, {}) if isinstance(d, list) else {k: (v or {}) for k, v in d.items()}


def strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


compose = yaml.safe_load(read("compose.yaml")) or {}
services = compose.get("services", {}) or {}
top_networks = compose.get("networks", {}) or {}
top_volumes = compose.get("volumes", {}) or {}
go_env = dict(parse_env(read("tests/upgrade/go.env")), MEDIAMTX_READ_PASSWORD="00ff")
scale_env = dict(go_env, **parse_env(read("tests/deploy/scale.env")))

# --- the default profile ------------------------------------------------------------------

default = {n for n, s in services.items() if not s.get("profiles")}
check(default == DEFAULT_SERVICES, f"the default profile is {sorted(DEFAULT_SERVICES)} (got {sorted(default)})")
for name in sorted(default):
    hidden = sorted(d for d in depends(services[name]) if services.get(d, {}).get("profiles"))
    check(not hidden, f"{name} waits for no service of a profile (compose would refuse the project: {hidden})")


def required(service):
    return {m for s in strings(service) for m in re.findall(r"\$\{(\w+):?\?", s)}


needed = set().union(*(required(services[n]) for n in default))
for name in sorted(set(services) - default):
    extra = sorted(required(services[name]) - needed)
    check(not extra, f"{name} (profile {services[name].get('profiles')}) requires no variable the default "
          f"profile does not (found {extra})")
for name in sorted(SCALE_SERVICES):
    check(services.get(name, {}).get("profiles") == ["scale"], f"{name} is in profile scale alone")

errors = {}
plain = resolve(compose, go_env, errors).get("services", {})
check(not errors, f"the Go .env with MEDIAMTX_READ_PASSWORD resolves every service (missing: {sorted(errors)})")
env1 = plain.get("tempstream", {}).get("environment", {}) or {}
check(env1.get("DATABASE_URL") == "" and env1.get("DB_PATH") == "/data/db.sqlite",
      f"without DATABASE_URL in .env linkd opens SQLite at /data/db.sqlite (DATABASE_URL={env1.get('DATABASE_URL')!r})")
check(env1.get("GATE_NAME") == "", "without GATE_NAME in .env linkd names itself as before")
check(mounts(plain.get("caddy", {})).get("/etc/caddy/Caddyfile") == "./Caddyfile",
      "without CADDYFILE in .env Caddy reads Caddyfile")

# --- the gates ----------------------------------------------------------------------------

gate1 = services.get("tempstream", {})
env_gate1 = gate1.get("environment") or {}
for name in GATES[1:]:
    gate = services.get(name, {})
    for key in ("image", "command", "user", "healthcheck", "init"):
        check(gate.get(key) == gate1.get(key), f"{name} has gate 1's {key} ({gate.get(key)!r})")
    env = gate.get("environment") or {}
    differ = sorted(k for k in set(env) | set(env_gate1) if env.get(k) != env_gate1.get(k))
    check(set(differ) <= PER_GATE, f"{name} has gate 1's settings but {sorted(PER_GATE)} (differs in {differ})")
    dep = depends(gate).get("postgres", {})
    check(dep.get("condition") == "service_healthy", f"{name} starts once PostgreSQL is healthy")
    media = networks(gate).get("media", {})
    check("tempstream" in (media.get("aliases") or []),
          f"{name} answers MediaMTX's calls as `tempstream` on the media network")

names = [(services.get(g, {}).get("environment") or {}).get("GATE_NAME") for g in GATES[1:]]
check(len(set(names)) == len(names) and all(names), f"gates 2 and 3 have names of their own ({names})")
auth = str((yaml.safe_load(read("mediamtx.yml")) or {}).get("authHTTPAddress", ""))
check(urlsplit(auth).hostname == "tempstream", f"MediaMTX asks the name every gate answers to ({auth!r})")

sockets = {}
for name in GATES:
    svc = services.get(name, {})
    sock_dir = os.path.dirname(str((svc.get("environment") or env_gate1).get("RPC_SOCKET", "")))
    sockets[name] = mounts(svc).get(sock_dir)
vols = list(sockets.values())
check(all(v in top_volumes for v in vols) and len(set(vols)) == len(vols),
      f"each gate has its own named volume for its RPC socket ({sockets})")
check(mounts(services.get("botd", {})).get("/run/tempstream") == sockets.get("tempstream"),
      "botd uses gate 1's socket")
others = sorted(n for n, s in services.items() if n not in GATES + ["botd"]
                and set(mounts(s).values()) & set(vols))
check(not others, f"no other service mounts a gate's socket volume ({others})")

# --- PostgreSQL ---------------------------------------------------------------------------

pg = services.get("postgres", {})
pg_env = pg.get("environment") or {}
check(list(networks(pg)) == ["state"], f"PostgreSQL is on the network `state` alone ({list(networks(pg))})")
check((top_networks.get("state") or {}).get("internal") is True, "the network `state` is internal (no way out)")
on_state = sorted(n for n, s in services.items() if "state" in networks(s))
check(on_state == sorted(GATES + ["postgres"]), f"only the gates reach PostgreSQL ({on_state})")
data = mounts(pg).get("/var/lib/postgresql/data")
check(data in top_volumes, f"PostgreSQL keeps its data in a named volume ({data!r})")
test = " ".join(map(str, (pg.get("healthcheck") or {}).get("test", [])))
check("pg_isready" in test and re.search(r"--host=127\.0\.0\.1|-h 127\.0\.0\.1", test),
      f"PostgreSQL is healthy once it answers on TCP, not during its first initialisation ({test!r})")
check(pg_env.get("POSTGRES_PASSWORD") == "${POSTGRES_PASSWORD:-}", "PostgreSQL's password comes from .env")

# --- Caddy --------------------------------------------------------------------------------

caddyfile = read("Caddyfile.scale")
upstreams = re.findall(r"(?m)^\s*reverse_proxy\s+([^{\n]*?)\s*\{", caddyfile)
port = str(env_gate1.get("HTTP_ADDR", "")).rsplit(":", 1)[-1]
want = sorted(f"{g}:{port}" for g in GATES)
check(len(upstreams) == 1 and sorted(upstreams[0].split()) == want,
      f"Caddyfile.scale balances over the three gates {want} (got {upstreams})")
check(mounts(services.get("caddy", {})).get("/etc/caddy/Caddyfile") == "./${CADDYFILE:-Caddyfile}",
      "compose mounts the Caddyfile .env names")

# --- a scale .env -------------------------------------------------------------------------

errors = {}
scaled = resolve(compose, scale_env, errors).get("services", {})
check(not errors, f"the scale .env resolves every service (missing: {sorted(errors)})")
pg_resolved = scaled.get("postgres", {}).get("environment", {}) or {}
urls = {g: (scaled.get(g, {}).get("environment", {}) or {}).get("DATABASE_URL") for g in GATES}
check(len(set(urls.values())) == 1 and urls["tempstream"] == scale_env["DATABASE_URL"],
      "every gate gets the DATABASE_URL of .env")
url = urlsplit(urls["tempstream"] or "")
check(url.scheme in ("postgres", "postgresql") and url.hostname == "postgres" and url.port in (None, 5432)
      and url.username == pg_resolved.get("POSTGRES_USER") and url.path == "/" + str(pg_resolved.get("POSTGRES_DB"))
      and url.password == pg_resolved.get("POSTGRES_PASSWORD"),
      "DATABASE_URL names the compose PostgreSQL, its user, database and password")
check(mounts(scaled.get("caddy", {})).get("/etc/caddy/Caddyfile") == "./Caddyfile.scale",
      "with CADDYFILE=Caddyfile.scale Caddy balances over the gates")
example = parse_env("\n".join(line.lstrip("# ") for line in read("env.example").splitlines()))
for key in ("COMPOSE_PROFILES", "CADDYFILE"):
    check(example.get(key) == scale_env[key], f"env.example shows {key}={scale_env[key]}")

unset = dict(scale_env)
del unset["DATABASE_URL"]
errors = {}
half = resolve(compose, unset, errors).get("services", {})
for name in GATES[1:]:
    value = (half.get(name, {}).get("environment", {}) or {}).get("DATABASE_URL", "")
    check(value and not re.match(r"postgres(ql)?://", value) and "://" not in value,
          f"without DATABASE_URL {name} gets a value linkd refuses, not SQLite ({value!r})")

checks.finish("scale")
