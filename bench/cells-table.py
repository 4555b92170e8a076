#!/usr/bin/env python3
"""cells-table.py CELLS.tsv BASELINE CANDIDATE - the table of a cells.sh run.

Per cell (payload, connections): median over rounds of req/s, server CPU per request
(us/req) and p99 for both targets, and the ratios, each taken between the two runs of the
same cell and round (back to back, so load on the machine mostly cancels), then the median:
  req/s x  = req/s(candidate) / req/s(baseline)
  eff      = us/req(baseline) / us/req(candidate): requests per CPU-second, relative
  +p99 ms  = p99(candidate) - p99(baseline)
Rounds where either run had other > 25% (of a core) are flagged NOISY and left out of a
cell's medians when the cell has a clean round. Then the geometric means over the cells and
the targets.
"""
import csv
import math
import statistics
import sys
from collections import defaultdict

NOISY = 25.0
SIZES = {"/play/index.m3u8": "1 KB", "/play/part.mp4": "40 KB", "/play/seg.mp4": "250 KB"}


def main():
    path, base, cand = sys.argv[1:4]
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    runs = defaultdict(dict)  # (path, conns) -> {(round, target): row}
    for r in rows:
        runs[(r["path"], r["conns"])][(r["round"], r["target"])] = r
    us = lambda r: float(r["srv_cpu"]) * 1e4 / float(r["rps"]) if float(r["rps"]) > 0 else math.nan
    div = lambda a, b: a / b if b > 0 else math.nan
    med = lambda xs: statistics.median(xs) if xs else math.nan
    left_out = 0
    table, gx, ge = [], [], []
    for (p, c), cell in runs.items():
        rounds = sorted({k[0] for k in cell})
        pairs = [(cell[(k, base)], cell[(k, cand)]) for k in rounds if (k, base) in cell and (k, cand) in cell]
        clean = [(b, x) for b, x in pairs if float(b["other_cpu"]) <= NOISY and float(x["other_cpu"]) <= NOISY]
        use = clean or pairs
        left_out += len(pairs) - len(use)
        if not use:
            continue
        errs = sum(int(x["sock_err"]) + int(x["non2xx"]) for b, x in use) + sum(int(b["sock_err"]) + int(b["non2xx"]) for b, x in use)
        ratio = [div(float(x["rps"]), float(b["rps"])) for b, x in use]
        eff = [div(us(b), us(x)) for b, x in use]
        dp99 = [(float(x["p99_us"]) - float(b["p99_us"])) / 1000 for b, x in use]
        row = dict(
            payload=SIZES.get(p, p), conns=int(c),
            b_rps=med([float(b["rps"]) for b, _ in use]), b_us=med([us(b) for b, _ in use]),
            b_p99=med([float(b["p99_us"]) / 1000 for b, _ in use]),
            x_rps=med([float(x["rps"]) for _, x in use]), x_us=med([us(x) for _, x in use]),
            x_p99=med([float(x["p99_us"]) / 1000 for _, x in use]),
            ratio=med(ratio), eff=med(eff), dp99=med(dp99),
            other=max(max(float(b["other_cpu"]), float(x["other_cpu"])) for b, x in use),
            noisy=not clean, errs=errs, n=len(use),
        )
        table.append(row)
        gx.append(row["ratio"])
        ge.append(row["eff"])
    print(f"\nbaseline {base}, candidate {cand}; ratios per round in the same cell, median over rounds; "
          f"{left_out} noisy round(s) left out\n")
    hdr = (f"{'payload':<7} {'conns':>5} | {base + ' req/s':>12} {'us/req':>6} {'p99 ms':>6} | "
           f"{cand + ' req/s':>12} {'us/req':>6} {'p99 ms':>6} | {'req/s x':>7} {'eff':>5} {'+p99 ms':>7} | {'other%':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in table:
        flag = ("  NOISY" if r["noisy"] else "") + (f"  ERRORS={r['errs']}" if r["errs"] else "")
        print(f"{r['payload']:<7} {r['conns']:>5} | {r['b_rps']:>12.0f} {r['b_us']:>6.1f} {r['b_p99']:>6.2f} | "
              f"{r['x_rps']:>12.0f} {r['x_us']:>6.1f} {r['x_p99']:>6.2f} | {r['ratio']:>7.2f} {r['eff']:>5.2f} "
              f"{r['dp99']:>+7.2f} | {r['other']:>6.0f}{flag}")
    g = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs)) if xs and all(x > 0 for x in xs) else math.nan
    print(f"\ngeometric mean over {len(table)} cells: req/s x {g(gx):.2f}, eff {g(ge):.2f}")
    print("\ntargets:")
    ok = lambda b: "met" if b else "MISSED"
    print(f"  req/s >= 0.9x baseline (geo mean): {g(gx):.2f} {ok(g(gx) >= 0.9)}")
    print(f"  eff >= 0.8 (CPU/request <= 1.25x, geo mean): {g(ge):.2f} {ok(g(ge) >= 0.8)}")
    for c, limit in ((50, 1.0), (200, 3.0)):
        for size in ("1 KB", "40 KB"):
            r = next((r for r in table if r["conns"] == c and r["payload"] == size), None)
            if r:
                print(f"  p99 added at c={c}, {size} < {limit:g} ms: {r['dp99']:+.2f} ms {ok(r['dp99'] < limit)}")
    errs = sum(r["errs"] for r in table)
    print(f"  errors (socket + non-2xx) in all runs used: {errs}")


if __name__ == "__main__":
    main()
