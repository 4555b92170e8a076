#!/usr/bin/env python3
"""idle.py - hold N idle keep-alive HTTP connections to a server and report its memory.

    idle.py HOST PORT PATH N PIDS [COOKIE]

Opens N connections to HOST:PORT, sends one `GET PATH` on each (with `Cookie: COOKIE` when
given) and reads the whole answer, so each connection is a client that has been served and
now waits, as a player between two polls does. Then it reads VmRSS of PIDS (comma-separated;
summed) twice, 1 s apart, checks that every connection is still open, and prints one JSON
line: {"conns": N, "rss_kb": ..., "open": ...}. The server's RSS before the connections is
taken by the caller. Exits 1 when a connection is refused or an answer is not 200.
"""

import json
import resource
import select
import socket
import sys
import time


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def read_answer(s):
    """Reads one HTTP/1.1 answer with a Content-Length; returns its status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed before the answer's head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    if status != 200:
        print(head.decode(errors="replace"), file=sys.stderr)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed before the answer's end")
        rest += chunk
    return status


def main():
    host, port, path, n, pids = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    cookie = sys.argv[6] if len(sys.argv) > 6 else ""
    pids = [p for p in pids.split(",") if p]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
    if cookie:
        req += f"Cookie: {cookie}\r\n"
    req = (req + "\r\n").encode()
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(req)
        status = read_answer(s)
        if status != 200:
            print(f"idle.py: answer {status} for {path} after {len(conns)} connections", file=sys.stderr)
            sys.exit(1)
        conns.append(s)
    time.sleep(1)
    first = rss_kb(pids)
    time.sleep(1)
    second = rss_kb(pids)
    # A connection the server closed is readable (EOF): count the ones still open.
    poller = select.poll()
    for s in conns:
        poller.register(s, select.POLLIN)
    closed = len(poller.poll(0))
    print(json.dumps({"conns": n, "rss_kb": max(first, second), "open": n - closed}))
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
