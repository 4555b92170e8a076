#!/usr/bin/env python3
"""ll-table.py LL.tsv [IDLE_RSS_KB] - the table of the LL-HLS part of run.sh.

Per run: viewers, req/s, parts/s per viewer (mean, slowest viewer), errors + non-200, delivery
lag p50/p99 (part ready at the origin -> fully received), lag p99 added over origin-direct at
the same viewer count, server CPU (origin for direct; linkd + origin through linkd) and CPU per
request, and what the origin counted: requests per part and per blocking playlist
(mean, and the most any one part or playlist got).
"""
import csv
import sys


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    idle = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 0
    direct = {r["viewers"]: r for r in rows if r["target"] == "direct"}
    f = float
    print("\nLL-HLS: 200 ms parts of 40 KB, blocking playlist reload + part per viewer; "
          "lag = part ready at the origin -> fully received by the viewer\n")
    hdr = (f"{'target':<6} {'viewers':>7} {'req/s':>7} {'parts/s/v':>9} {'slowest':>7} {'errors':>6} "
           f"{'lag p50':>7} {'lag p99':>7} {'+p99':>7} {'srv%':>5} {'us/req':>6} {'oth%':>5} "
           f"{'fetch/part':>10} {'fetch/pl':>9} {'RSS MB':>6} {'whole run':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        d = direct.get(r["viewers"])
        added = f"{f(r['lag_p99']) - f(d['lag_p99']):+7.1f}" if d and r["target"] != "direct" else f"{'':>7}"
        rps = f(r["rps"])
        us = f(r["srv_cpu"]) * 1e4 / rps if rps > 0 else 0
        per = lambda req, dist, mx: (f"{int(req) / int(dist):.2f} ({mx})" if int(dist) else "-")
        rss = f"{int(r['rss_kb']) / 1024:6.1f}" if int(r["rss_kb"]) else f"{'':>6}"
        errs = int(r["errors"]) + int(r["non200"])
        print(f"{r['target']:<6} {r['viewers']:>7} {rps:>7.0f} {f(r['parts_v']):>9.2f} {f(r['slowest_v']):>7.2f} "
              f"{errs:>6} {f(r['lag_p50']):>7.1f} {f(r['lag_p99']):>7.1f} {added} {f(r['srv_cpu']):>5.0f} "
              f"{us:>6.1f} {f(r['other_cpu']):>5.0f} "
              f"{per(r['part_req'], r['part_distinct'], r['part_max']):>10} "
              f"{per(r['blk_req'], r['blk_distinct'], r['blk_max']):>9} {rss} "
              f"{r['all_part_max'] + '/' + r['all_blk_max']:>9}"
              + ("  NOISY" if f(r["other_cpu"]) > 25 else ""))
    print("\n(fetch/part, fetch/pl: requests the origin got per part and per blocking playlist requested in the "
          "measured window, mean (most for any one); through linkd these are linkd's upstream fetches. "
          "whole run: the most for any one part / playlist over the whole run, with the ramp (viewers joining) "
          "and the end (viewers leaving, cancelling requests in flight))")
    linkd = {r["viewers"]: r for r in rows if r["target"] == "linkd"}
    if not linkd:
        return
    print("\ntargets (through linkd):")
    ok = lambda b: "met" if b else "MISSED"
    for n in ("1", "100", "2000"):
        r = linkd.get(n)
        if not r:
            continue
        exact = all(int(r[k + "_req"]) == int(r[k + "_distinct"]) and int(r[k + "_max"]) == 1 for k in ("part", "blk"))
        print(f"  exactly 1 upstream fetch per part and per blocking playlist at {n} viewers: "
              f"parts {r['part_req']}/{r['part_distinct']} (max {r['part_max']}), "
              f"playlists {r['blk_req']}/{r['blk_distinct']} (max {r['blk_max']}) {ok(exact)}")
    top = max(linkd, key=int)
    r, d = linkd[top], direct.get(top)
    errs = int(r["errors"]) + int(r["non200"])
    print(f"  {top} viewers, one core: errors {errs} {ok(errs == 0)}; parts/s per viewer {f(r['parts_v']):.2f} "
          f"(slowest {f(r['slowest_v']):.2f}) {ok(f(r['parts_v']) >= 4.9)}")
    if d:
        added = f(r["lag_p99"]) - f(d["lag_p99"])
        print(f"  lag p99 added over origin-direct at {top}: {added:+.1f} ms "
              f"({f(d['lag_p99']):.1f} -> {f(r['lag_p99']):.1f}) {ok(added < 50)}")
    print(f"  linkd RSS at {top} viewers: {int(r['rss_kb']) / 1024:.1f} MB (peak {int(r['hwm_kb']) / 1024:.1f} MB"
          + (f", idle {idle / 1024:.1f} MB)" if idle else ")"))
    if idle:
        # what each viewer adds: its connections, session and share of the cache's answers
        print(f"  RSS per viewer at {top}: {(int(r['rss_kb']) - idle) / int(top):.1f} kB")


if __name__ == "__main__":
    main()
