#!/usr/bin/env python3
"""heap-sites.py - where a heap profile's peak is held, per allocation site and per connection.

    heap-sites.py STACKS CONNS [ROWS]

STACKS is heaptrack's flame-graph file of the peak (`heaptrack_print -f FILE
--flamegraph-cost-type peak -F STACKS`): one line per call stack, `frame;frame;...; BYTES`,
the outermost frame first. Each stack is named by its innermost frames that are not the
allocator's own plumbing, and the bytes of the stacks with the same name are summed. Prints
the ROWS (default 12) largest sites with their bytes at the peak and those bytes divided by
CONNS (the connections held then), then the total.
"""

import re
import sys
from collections import Counter

# Frames of the allocator and of the standard library's allocation paths: not a site.
PLUMBING = re.compile(
    r"^(alloc|realloc|calloc|malloc|allocate|alloc_impl\w*|grow\w*|finish_grow\S*|try_allocate_in\S*"
    r"|with_capacity_in\S*|do_reserve_and_handle\S*|box_new_uninit|new_uninit\S*|to_vec\S*"
    r"|_R\w+|__rust\w*|__rdl\w*|0x[0-9a-f]+|<unknown>)\b"
)
DEPTH = 4


def site(frames):
    """The innermost DEPTH frames of a stack that are not plumbing, innermost first."""
    named = [f.strip() for f in reversed(frames) if f.strip()]
    kept = [f for f in named if not PLUMBING.match(f)]
    return " <- ".join(kept[:DEPTH]) or "(allocator)"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, conns = sys.argv[1], int(sys.argv[2])
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    sites = Counter()
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if not n.isdigit():
            continue
        sites[site(stack.split(";"))] += int(n)
    total = sum(sites.values())
    print(f"{'bytes at peak':>14} {'per conn':>9}  site (innermost frames first)")
    for name, n in sites.most_common(rows):
        print(f"{n:14,d} {n / conns:9,.0f}  {name}")
    print(f"{total:14,d} {total / conns:9,.0f}  all")


if __name__ == "__main__":
    main()
