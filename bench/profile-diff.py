#!/usr/bin/env python3
"""profile-diff.py - two profiles of bench/profile.sh side by side, in CPU time per request.

    bench/profile-diff.py DIR_A DIR_B [-n ROWS]

Each DIR is an output directory of bench/profile.sh (its perf.data and summary.txt). A
function's share of the samples times the server's CPU per request (from summary.txt) is its
cost per request; the table lists the binaries, then the functions that differ most, both
ways. Needs `perf` (to read perf.data).
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROW = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$")
DSO_ROW = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s*$")
US = re.compile(r"([\d.]+) us CPU per request")


def us_per_request(d: Path) -> float:
    m = US.search((d / "summary.txt").read_text())
    if not m:
        sys.exit(f"{d}/summary.txt has no 'us CPU per request'")
    return float(m.group(1))


def report(d: Path, sort: str) -> str:
    cmd = ["perf", "report", "-i", str(d / "perf.data"), "--no-children", "--stdio",
           "--sort", sort]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"perf report failed on {d}: {r.stderr.strip()[:300]}")
    return r.stdout


def costs(d: Path) -> tuple[float, dict[str, float], dict[str, float]]:
    """CPU time per request in microseconds: in all, per binary and per function."""
    us = us_per_request(d)
    dsos, syms = {}, {}
    for line in report(d, "dso").splitlines():
        m = DSO_ROW.match(line)
        if m:
            dsos[m.group(2)] = float(m.group(1)) / 100 * us
    for line in report(d, "dso,sym").splitlines():
        m = ROW.match(line)
        if m:
            key = f"{m.group(3)[:80]}  ({m.group(2)})"
            syms[key] = syms.get(key, 0.0) + float(m.group(1)) / 100 * us
    return us, dsos, syms


def table(title: str, a: dict[str, float], b: dict[str, float], keys: list[str]) -> None:
    print(f"\n{title}\n{'A us':>7} {'B us':>7} {'B-A':>7}  name")
    for k in keys:
        x, y = a.get(k, 0.0), b.get(k, 0.0)
        print(f"{x:7.3f} {y:7.3f} {y - x:+7.3f}  {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("-n", type=int, default=20, help="functions listed each way (20)")
    args = ap.parse_args()
    (ua, da, sa), (ub, db, sb) = costs(args.a), costs(args.b)
    print(f"A {args.a}: {ua:.2f} us per request")
    print(f"B {args.b}: {ub:.2f} us per request")
    binaries = sorted(set(da) | set(db), key=lambda k: -max(da.get(k, 0), db.get(k, 0)))
    table("per binary", da, db, binaries)
    order = sorted(set(sa) | set(sb), key=lambda k: sb.get(k, 0) - sa.get(k, 0))
    table("functions costing B more", sa, sb, order[::-1][: args.n])
    table("functions costing A more", sa, sb, order[: args.n])


if __name__ == "__main__":
    main()
