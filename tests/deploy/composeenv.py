"""compose's variable interpolation, for the deployment checks that resolve compose.yaml
without a Docker engine (upgrade-layout.py, scale-layout.py). A module, not a check.
"""

import re


def parse_env(text):
    """A .env file as compose reads it: KEY=VALUE, quotes removed, comments skipped."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


class Missing(Exception):
    def __init__(self, name, message):
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name
        self.message = message


def interpolate(s, env):
    """compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message},
    ${VAR?message}, with nested expressions in defaults."""
    out, i = [], 0
    while i < len(s):
        if s.startswith("$$", i):
            out.append("$")
            i += 2
        elif s.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(s[j], 0) if s[j - 1] == "$" or s[j] == "}" else 0
                j += 1
            inner = s[i + 2:j - 1]
            m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?$", inner, re.S)
            name, op, arg = m.group(1), m.group(2), m.group(3)
            value = env.get(name)
            unset_or_empty = value is None or (op and op.startswith(":") and value == "")
            if op in (":-", "-") and unset_or_empty:
                value = interpolate(arg, env)
            elif op in (":?", "?") and unset_or_empty:
                raise Missing(name, arg)
            out.append(value or "")
            i = j
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def resolve(node, env, errors):
    if isinstance(node, dict):
        return {k: resolve(v, env, errors) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, env, errors) for v in node]
    if isinstance(node, str):
        try:
            return interpolate(node, env)
        except Missing as e:
            errors[e.name] = e.message
            return ""
    return node
