#!/usr/bin/env python3
"""gates-table.py GATES.tsv - the table of the three-gates cell of run.sh (bench/gates.sh).

Per run (N viewers spread over three linkd on one PostgreSQL and one llorigin): per gate its
viewers, req/s, parts/s per viewer, errors + non-200, delivery lag p50/p99/max, linkd's CPU
and CPU per request; the whole (req/s summed, the worst gate's lag); what the origin counted
per part and per blocking playlist (expect 3: one fetch per gate), llorigin's and
PostgreSQL's CPU.

gates-table.py --row N RESULT1 RESULT2 RESULT3 STATS0 STATS1 STATS2 S0x3 S1x3 G0 G1 O0 O1
Q0 Q1 B0 B1 T0 T1 HZ QUIET: the four TSV rows (gate1..3, all) of one run, for gates.sh.
"""
import csv
import json
import sys


def fetches(before, after, kind):
    # files of this kind requested in the measured window, and all requests each of them got
    # since the run started (a second fetch during the ramp still counts)
    a, b = before["per_path"], after["per_path"]
    keys = [k for k in b if kind(k) and b[k] > a.get(k, 0)]
    counts = [b[k] for k in keys]
    return [sum(counts), len(keys), max(counts, default=0)]


def rows(argv):
    n = argv[0]
    results = [dict(kv.split("=", 1) for kv in r.split()[1:]) for r in argv[1:4]]
    before, after, end = (json.load(open(f)) for f in argv[4:7])
    s0, s1 = argv[7:10], argv[10:13]
    g0, g1, o0, o1, q0, q1, b0, b1, t0, t1, hz, qc = argv[13:25]
    wall = (int(t1) - int(t0)) / 1e9
    pct = lambda a, b: max(0.0, (int(b) - int(a)) / float(hz) / wall * 100)
    srv = [pct(a, b) for a, b in zip(s0, s1)]
    gen, origin, pg = pct(g0, g1), pct(o0, o1), pct(q0, q1)
    other = max(0.0, pct(b0, b1) - sum(srv) - gen - origin - pg)
    shared = ["%.1f" % gen, "%.1f" % origin, "%.1f" % pg, "%.1f" % other,
              *fetches(before, after, lambda k: "_video1_part" in k),
              *fetches(before, after, lambda k: "?_HLS_msn=" in k),
              end["parts"]["max_per"], end["blocking_playlists"]["max_per"], qc]
    out = []
    for i, v in enumerate(results):
        out.append([n, "gate%d" % (i + 1), v["viewers"], v["rps"], v["parts_per_viewer_s"],
                    v["slowest_viewer_parts_s"], v["errors"], v["non200"], v["lag_p50_ms"],
                    v["lag_p99_ms"], v["lag_max_ms"], "%.1f" % srv[i], *shared])
    vs = [int(v["viewers"]) for v in results]
    parts = sum(float(v["parts_per_viewer_s"]) * w for v, w in zip(results, vs)) / max(1, sum(vs))
    worst = lambda k: "%.2f" % max(float(v[k]) for v in results)
    out.append([n, "all", sum(vs), sum(int(v["rps"]) for v in results), "%.3f" % parts,
                "%.3f" % min(float(v["slowest_viewer_parts_s"]) for v in results),
                sum(int(v["errors"]) for v in results), sum(int(v["non200"]) for v in results),
                worst("lag_p50_ms"), worst("lag_p99_ms"), worst("lag_max_ms"), "%.1f" % sum(srv), *shared])
    for r in out:
        print("\t".join(str(x) for x in r))


def table(path):
    f = float
    data = list(csv.DictReader(open(path), delimiter="\t"))
    print("\nThree gates on one origin: llorigin (200 ms parts of 40 KB) -> 3 linkd on one PostgreSQL -> "
          "llviewers, a third of the viewers on each gate, each gate its own link\n")
    hdr = (f"{'viewers':>7} {'gate':<5} {'on it':>5} {'req/s':>6} {'parts/s/v':>9} {'slowest':>7} {'errors':>6} "
           f"{'lag p50':>7} {'lag p99':>7} {'lag max':>7} {'srv%':>5} {'us/req':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in data:
        rps = f(r["rps"])
        us = f(r["srv_cpu"]) * 1e4 / rps if rps > 0 else 0
        print(f"{r['viewers']:>7} {r['gate']:<5} {r['gate_viewers']:>5} {rps:>6.0f} {f(r['parts_v']):>9.2f} "
              f"{f(r['slowest_v']):>7.2f} {int(r['errors']) + int(r['non200']):>6} {f(r['lag_p50']):>7.1f} "
              f"{f(r['lag_p99']):>7.1f} {f(r['lag_max']):>7.1f} {f(r['srv_cpu']):>5.0f} {us:>6.1f}")
    print("\n(all: req/s and CPU summed over the gates, the worst gate's lag; us/req: the gate's CPU per "
          "request it answered)\n")
    hdr = (f"{'viewers':>7} {'fetch/part':>10} {'fetch/pl':>9} {'whole run':>9} {'origin%':>7} "
           f"{'postgres%':>9} {'gen%':>5} {'other%':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in data:
        if r["gate"] != "all":
            continue
        per = lambda req, dist, mx: (f"{int(req) / int(dist):.2f} ({mx})" if int(dist) else "-")
        print(f"{r['viewers']:>7} {per(r['part_req'], r['part_distinct'], r['part_max']):>10} "
              f"{per(r['blk_req'], r['blk_distinct'], r['blk_max']):>9} "
              f"{r['all_part_max'] + '/' + r['all_blk_max']:>9} {f(r['origin_cpu']):>7.0f} "
              f"{f(r['pg_cpu']):>9.1f} {f(r['gen_cpu']):>5.0f} {f(r['other_cpu']):>6.0f}")
    print("\n(fetch/part, fetch/pl: requests the origin got per part and per blocking playlist requested in "
          "the measured window, mean (most for any one): one per gate is 3; whole run: the most for any one "
          "part / playlist over the whole run; postgres%: every PostgreSQL process, while viewers play)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--row":
        rows(sys.argv[2:])
    elif len(sys.argv) == 2:
        table(sys.argv[1])
    else:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        sys.exit(2)
