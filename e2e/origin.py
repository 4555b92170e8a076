#!/usr/bin/env python3
"""HLS origin for the end-to-end tests, in MediaMTX's URL layout (path `live/stream`).

    python3 e2e/origin.py --dir DIR --port PORT [--ll] [--sessions] [--require-auth USER:PASS]

e2e/publish.sh (ffmpeg) writes HLS files into DIR/live/stream/; this server answers for them on
http://127.0.0.1:PORT/live/stream/... Python standard library only.

Modes:
  classic (default)  ffmpeg's own playlist and MPEG-TS segments: index.m3u8 is the media
                     playlist. 404 while there is no playlist, or when it was not rewritten for
                     --stale seconds (the publisher is gone).
  --ll               Low-Latency HLS built from ffmpeg's 200 ms fMP4 fragments ("parts", listed
                     in ffmpeg.m3u8): index.m3u8 (multivariant) -> stream.m3u8 (media playlist
                     with EXT-X-PART, EXT-X-PRELOAD-HINT, blocking reload via _HLS_msn/_HLS_part)
                     -> <prefix>_init.mp4, <prefix>_seg<N>.m4s (the parts of segment N, which
                     starts at a keyframe, concatenated), <prefix>_part<K>.m4s.
  --sessions         MediaMTX 1.18+'s reader sessions: index.m3u8 without cookieCheck=1 -> 302 to
                     index.m3u8?cookieCheck=1 (+ Set-Cookie cookieCheck); with it a new session
                     whose id is appended as session=<uuid> to every URI of every playlist (or set
                     as cookie hlsSession when the request carried the cookieCheck cookie); every
                     other request needs a live session (cookie hlsSession or query session), else
                     401 JSON. A session ends 30 s after its last request.
  --require-auth U:P every request needs HTTP Basic auth U:P (or ?user=U&pass=P), else 401 JSON with
                     WWW-Authenticate, as MediaMTX with read credentials.

HEAD (and any method but GET) is a 404, as in MediaMTX. Every request is logged with a running
count per path; GET /_stats answers JSON diagnostics (request counts per path and per status,
live sessions, whether a stream is up).
"""

import argparse
import base64
import hmac
import json
import os
import re
import signal
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

STREAM_PREFIX = "/live/stream/"
SESSION_TTL = 30.0
AUTH_ERROR = {"status": "error", "error": "authentication error"}

# LL-HLS shape (MediaMTX defaults: 1 s segments, 200 ms parts)
PART_TARGET = 0.2
WINDOW_SEGMENTS = 6  # complete segments listed in the media playlist
PARTS_ON_SEGMENTS = 3  # EXT-X-PART lines for this many newest complete segments
KEEP_SEGMENTS = 10  # complete segments kept in memory (a bit more than the window)
BLOCK_TIMEOUT = 3.0  # how long a blocking playlist/part request may wait


def log(msg):
    print("origin: " + msg, file=sys.stderr, flush=True)


# --- fMP4 -----------------------------------------------------------------------------------


def mp4_boxes(data, start, end):
    """Yield (type, payload_start, box_end) for the boxes in data[start:end]."""
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[start + 8 : start + 16])[0]
            header = 16
        elif size == 0:
            size = end - start
        if size < header:
            return
        yield kind.decode("latin1"), start + header, start + size
        start += size


def mp4_child(data, start, end, path):
    """Payload range of the first box along path (e.g. ["moov", "mvex"]), or None."""
    for kind in path:
        for k, a, b in mp4_boxes(data, start, end):
            if k == kind:
                start, end = a, b
                break
        else:
            return None
    return start, end


class InitInfo:
    """What the parts need from the init segment: the video track and its codec string."""

    def __init__(self, data):
        self.data = data
        self.video_track = None
        self.trex_flags = {}
        self.avc = None
        moov = mp4_child(data, 0, len(data), ["moov"])
        if not moov:
            raise ValueError("init segment without moov")
        for kind, a, b in mp4_boxes(data, *moov):
            if kind == "trak":
                tkhd = mp4_child(data, a, b, ["tkhd"])
                hdlr = mp4_child(data, a, b, ["mdia", "hdlr"])
                if not tkhd or not hdlr:
                    continue
                version = data[tkhd[0]]
                off = tkhd[0] + (20 if version == 1 else 12)
                track_id = struct.unpack(">I", data[off : off + 4])[0]
                if data[hdlr[0] + 8 : hdlr[0] + 12] == b"vide":
                    self.video_track = track_id
            elif kind == "mvex":
                for k2, a2, _b2 in mp4_boxes(data, a, b):
                    if k2 == "trex":
                        track_id, _, _, _, flags = struct.unpack(">IIIII", data[a2 + 4 : a2 + 24])
                        self.trex_flags[track_id] = flags
        i = data.find(b"avcC")
        if i > 0:
            self.avc = "avc1.%02x%02x%02x" % (data[i + 5], data[i + 6], data[i + 7])
        if self.video_track is None:
            raise ValueError("init segment without a video track")

    def part_starts_with_keyframe(self, data):
        """True when the video track's first sample in this fragment is a sync sample."""
        moof = mp4_child(data, 0, len(data), ["moof"])
        if not moof:
            return False
        for kind, a, b in mp4_boxes(data, *moof):
            if kind != "traf":
                continue
            track_id, default_flags, first_flags = None, None, None
            for k, a2, _b2 in mp4_boxes(data, a, b):
                flags = int.from_bytes(data[a2 + 1 : a2 + 4], "big")
                if k == "tfhd":
                    track_id = struct.unpack(">I", data[a2 + 4 : a2 + 8])[0]
                    p = a2 + 8
                    for bit, size in ((0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4)):
                        if flags & bit:
                            p += size
                    if flags & 0x20:
                        default_flags = struct.unpack(">I", data[p : p + 4])[0]
                elif k == "trun":
                    p = a2 + 8  # version/flags, sample_count
                    if flags & 0x01:
                        p += 4
                    if flags & 0x04:
                        first_flags = struct.unpack(">I", data[p : p + 4])[0]
                    elif flags & 0x400:
                        p += 4 if flags & 0x100 else 0
                        p += 4 if flags & 0x200 else 0
                        first_flags = struct.unpack(">I", data[p : p + 4])[0]
            if track_id != self.video_track:
                continue
            sample_flags = first_flags
            if sample_flags is None:
                sample_flags = default_flags
            if sample_flags is None:
                sample_flags = self.trex_flags.get(track_id, 0x10000)
            return not sample_flags & 0x10000  # sample_is_non_sync_sample
        return False


def strip_sidx(data):
    """A part without ffmpeg's per-file sidx boxes, so parts concatenate into one segment."""
    return b"".join(data[a - 8 : b] for k, a, b in mp4_boxes(data, 0, len(data)) if k != "sidx")


# --- LL-HLS model -----------------------------------------------------------------------------


class Part:
    def __init__(self, index, name, duration, data, independent):
        self.index = index
        self.name = name
        self.duration = duration
        self.data = data
        self.independent = independent


class Segment:
    def __init__(self, msn):
        self.msn = msn
        self.parts = []
        self.complete = False

    @property
    def duration(self):
        return sum(p.duration for p in self.parts)


class LowLatencyStream:
    """Follows ffmpeg.m3u8 (one 200 ms fragment per entry) and groups the fragments into
    segments that start at keyframes. A background thread polls the playlist's mtime; requests
    wait on `cond` for new parts."""

    def __init__(self, directory, stale_after):
        self.dir = directory
        self.stale_after = stale_after
        self.cond = threading.Condition()
        self.prefix = None
        self.init = None
        self.segments = []  # oldest first; the last one may be incomplete
        self.last_part = -1  # index (ffmpeg's sequence number) of the newest part
        self.parts_by_index = {}
        self.mtime = None
        self.live = False
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self):
        path = os.path.join(self.dir, "ffmpeg.m3u8")
        while True:
            try:
                st = os.stat(path)
                fresh = time.time() - st.st_mtime < self.stale_after
                if st.st_mtime_ns != self.mtime:
                    self.mtime = st.st_mtime_ns
                    with open(path, encoding="utf-8") as f:
                        self._update(f.read())
            except FileNotFoundError:
                fresh = False
            except (OSError, ValueError) as e:
                log("ll: cannot read the publisher's playlist: %s" % e)
                fresh = False
            with self.cond:
                live = fresh and any(s.complete for s in self.segments)
                if live != self.live:
                    self.live = live
                    log("ll: stream %s" % ("up" if live else "down"))
                    if not fresh:
                        self._reset(None)
                    self.cond.notify_all()
            time.sleep(0.02)

    def _reset(self, prefix):
        self.prefix = prefix
        self.init = None
        self.segments = []
        self.last_part = -1
        self.parts_by_index = {}

    def _update(self, text):
        seq, init_name, entries, duration = 0, None, [], None
        for line in text.splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                seq = int(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-MAP:"):
                m = re.search(r'URI="([^"]+)"', line)
                init_name = m.group(1) if m else None
            elif line.startswith("#EXTINF:"):
                duration = float(line[8:].split(",", 1)[0])
            elif line and not line.startswith("#") and duration is not None:
                entries.append((duration, line.strip()))
                duration = None
        if not init_name or not init_name.endswith("_init.mp4"):
            return
        prefix = init_name[: -len("_init.mp4")]
        with self.cond:
            if prefix != self.prefix:
                log("ll: new stream instance %s" % prefix)
                self._reset(prefix)
            if self.init is None:
                with open(os.path.join(self.dir, init_name), "rb") as f:
                    self.init = InitInfo(f.read())
            for i, (duration, name) in enumerate(entries):
                index = seq + i
                if index <= self.last_part:
                    continue
                try:
                    with open(os.path.join(self.dir, name), "rb") as f:
                        raw = f.read()
                except FileNotFoundError:
                    break
                part = Part(index, name, duration, strip_sidx(raw), self.init.part_starts_with_keyframe(raw))
                self._add(part)
            self.cond.notify_all()

    def _add(self, part):
        self.last_part = part.index
        current = self.segments[-1] if self.segments else None
        if part.independent and (current is None or current.parts):
            if current is not None:
                current.complete = True
            current = Segment(current.msn + 1 if current else 0)
            self.segments.append(current)
        if current is None:
            return  # no keyframe yet: nothing can start with this part
        current.parts.append(part)
        self.parts_by_index[part.index] = part
        while sum(1 for s in self.segments if s.complete) > KEEP_SEGMENTS:
            old = self.segments.pop(0)
            for p in old.parts:
                self.parts_by_index.pop(p.index, None)

    # -- queries (call with self.cond held) --

    def building_msn(self):
        return self.segments[-1].msn if self.segments else -1

    def has_part(self, msn, part):
        """Blocking-reload condition: segment msn has more than `part` parts, or is complete."""
        for s in self.segments:
            if s.msn == msn:
                return len(s.parts) > part or s.complete
        return bool(self.segments) and self.segments[-1].msn > msn

    def media_playlist(self, query):
        q = ("?" + query) if query else ""
        complete = [s for s in self.segments if s.complete][-WINDOW_SEGMENTS:]
        building = self.segments[-1] if self.segments and not self.segments[-1].complete else None
        target = max([1] + [int(s.duration + 0.5) for s in complete])
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:9",
            "#EXT-X-TARGETDURATION:%d" % target,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.1f" % (3 * PART_TARGET),
            "#EXT-X-PART-INF:PART-TARGET=%.1f" % PART_TARGET,
            "#EXT-X-MEDIA-SEQUENCE:%d" % complete[0].msn,
            '#EXT-X-MAP:URI="%s_init.mp4%s"' % (self.prefix, q),
        ]
        with_parts = complete[-PARTS_ON_SEGMENTS:]

        def part_lines(seg):
            for p in seg.parts:
                lines.append(
                    '#EXT-X-PART:DURATION=%.5f,URI="%s_part%d.m4s%s"%s'
                    % (p.duration, self.prefix, p.index, q, ",INDEPENDENT=YES" if p.independent else "")
                )

        for s in complete:
            if s in with_parts:
                part_lines(s)
            lines.append("#EXTINF:%.5f," % s.duration)
            lines.append("%s_seg%d.m4s%s" % (self.prefix, s.msn, q))
        if building is not None:
            part_lines(building)
        lines.append('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="%s_part%d.m4s%s"' % (self.prefix, self.last_part + 1, q))
        return "\n".join(lines) + "\n"

    def multivariant_playlist(self, query):
        q = ("?" + query) if query else ""
        codecs = (self.init.avc or "avc1.4d401e") + ",mp4a.40.2"
        return (
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\n"
            '#EXT-X-STREAM-INF:BANDWIDTH=1200000,CODECS="%s",RESOLUTION=640x360,FRAME-RATE=30.000\n'
            "stream.m3u8%s\n" % (codecs, q)
        )


# --- HTTP ---------------------------------------------------------------------------------------


class Origin:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.join(args.dir, "live", "stream")
        os.makedirs(self.dir, exist_ok=True)
        self.ll = LowLatencyStream(self.dir, args.stale) if args.ll else None
        self.lock = threading.Lock()
        self.counts = {}
        self.statuses = {}
        self.sessions = {}  # uuid -> time of the last request
        self.sessions_created = 0
        self.auth = None
        if args.require_auth:
            user, _, password = args.require_auth.partition(":")
            self.auth = (user, password)

    def count(self, path, status):
        with self.lock:
            n = self.counts[path] = self.counts.get(path, 0) + 1
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        return n

    def classic_live(self):
        try:
            st = os.stat(os.path.join(self.dir, "index.m3u8"))
        except FileNotFoundError:
            return False
        return st.st_size > 0 and time.time() - st.st_mtime < self.args.stale

    def live(self):
        if self.ll:
            with self.ll.cond:
                return self.ll.live
        return self.classic_live()

    def new_session(self):
        sid = str(uuid.uuid4())
        with self.lock:
            self.sessions[sid] = time.monotonic()
            self.sessions_created += 1
        return sid

    def touch_session(self, sid):
        now = time.monotonic()
        with self.lock:
            for k in [k for k, t in self.sessions.items() if now - t > SESSION_TTL]:
                del self.sessions[k]
            if sid and sid in self.sessions:
                self.sessions[sid] = now
                return True
        return False

    def stats(self):
        with self.lock:
            return {
                "mode": "ll" if self.ll else "classic",
                "sessions": self.args.sessions,
                "requireAuth": self.auth is not None,
                "live": self.live(),
                "liveSessions": len(self.sessions),
                "sessionsCreated": self.sessions_created,
                "requests": dict(self.counts),
                "statuses": dict(self.statuses),
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tempstream-e2e-origin"
    origin = None  # set in main

    def log_message(self, fmt, *args):  # the per-request line is written in send()
        pass

    def send(self, status, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        path = urlsplit(self.path).path
        n = self.origin.count(path, status)
        log("%s %s -> %d (#%d)" % (self.command, path, status, n))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj), "application/json; charset=utf-8", headers)

    def not_found(self):
        self.send(404, "404 page not found")

    def do_HEAD(self):
        self.not_found()

    do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD

    def cookies(self):
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k:
                out[k] = v
        return out

    def authorized(self, params):
        o = self.origin
        if o.auth is None:
            return True
        user, password = params.get("user"), params.get("pass")
        h = self.headers.get("Authorization") or ""
        if h.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(h[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
        if user is None or password is None:
            return False
        return hmac.compare_digest(user, o.auth[0]) and hmac.compare_digest(password, o.auth[1])

    def do_GET(self):
        o = self.origin
        url = urlsplit(self.path)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        params = dict(pairs)
        if url.path == "/_stats":
            return self.send_json(200, o.stats())
        if not url.path.startswith(STREAM_PREFIX):
            return self.not_found()
        name = url.path[len(STREAM_PREFIX) :]
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            return self.not_found()
        if not self.authorized(params):
            return self.send_json(401, AUTH_ERROR, [("WWW-Authenticate", 'Basic realm="mediamtx"')])

        # the query that is appended to every URI of a playlist: the request's, minus _HLS_*
        keep = [(k, v) for k, v in pairs if not k.startswith("_HLS_")]
        set_cookies = []
        if o.args.sessions:
            if name == "index.m3u8":
                if params.get("cookieCheck") != "1":
                    loc = STREAM_PREFIX + "index.m3u8?" + urlencode(sorted(keep + [("cookieCheck", "1")]))
                    return self.send(
                        302,
                        "",
                        headers=[
                            ("Location", loc),
                            ("Set-Cookie", "cookieCheck=1; Secure; HttpOnly; SameSite=None; Partitioned"),
                        ],
                    )
                if not o.live():
                    return self.send_json(404, {"status": "error", "error": "no stream is available on path 'live/stream'"})
                sid = o.new_session()
                keep = [(k, v) for k, v in keep if k not in ("cookieCheck", "session")]
                if "cookieCheck" in self.cookies():
                    set_cookies.append(("Set-Cookie", "hlsSession=%s; Secure; HttpOnly; SameSite=None; Partitioned" % sid))
                else:
                    keep.append(("session", sid))
            else:
                sid = self.cookies().get("hlsSession") or params.get("session")
                if not o.touch_session(sid) or not o.live():
                    return self.send_json(401, AUTH_ERROR)
            set_cookies.append(("Cache-Control", "private, no-cache"))
        query = urlencode(keep)

        if o.ll:
            return self.serve_ll(name, params, query, set_cookies)
        return self.serve_classic(name, query, set_cookies)

    # classic: ffmpeg's playlist and files, as they are on disk
    def serve_classic(self, name, query, extra):
        o = self.origin
        if not o.classic_live():
            return self.not_found()
        path = os.path.join(o.dir, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, IsADirectoryError):
            return self.not_found()
        if name == "index.m3u8":
            text = data.decode()
            if query:
                text = re.sub(r"(?m)^([^#\s][^\n]*)$", lambda m: m.group(1) + "?" + query, text)
                text = re.sub(r'URI="([^"?]+)"', lambda m: 'URI="%s?%s"' % (m.group(1), query), text)
            return self.send(200, text, "application/vnd.apple.mpegurl", [("Cache-Control", "no-cache")] + extra)
        ctype = "video/mp2t" if name.endswith(".ts") else "video/mp4"
        return self.send(200, data, ctype, extra)

    # LL-HLS: playlists made here, media from the parts in memory
    def serve_ll(self, name, params, query, extra):
        ll = self.origin.ll
        playlist_headers = [("Cache-Control", "no-cache")] + extra
        with ll.cond:
            if not ll.live:
                return self.not_found()
            if name == "index.m3u8":
                return self.send(200, ll.multivariant_playlist(query), "application/vnd.apple.mpegurl", playlist_headers)
            if name == "stream.m3u8":
                msn, part = params.get("_HLS_msn"), params.get("_HLS_part")
                if msn is not None or part is not None:
                    if msn is None or not msn.isdigit() or (part is not None and not part.isdigit()):
                        return self.send(400, "bad _HLS_msn/_HLS_part")
                    msn, part = int(msn), int(part or 0)
                    oldest = next((s.msn for s in ll.segments if s.complete), 0)
                    if msn > ll.building_msn() + 1 or msn < oldest:
                        return self.send(400, "_HLS_msn out of range")
                    prefix = ll.prefix
                    deadline = time.monotonic() + BLOCK_TIMEOUT
                    while not ll.has_part(msn, part):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return self.send(503, "part not ready in time")
                        ll.cond.wait(left)
                        if not ll.live or ll.prefix != prefix:
                            return self.not_found()
                return self.send(200, ll.media_playlist(query), "application/vnd.apple.mpegurl", playlist_headers)
            m = re.fullmatch(r"(.+)_(init\.mp4|seg(\d+)\.m4s|part(\d+)\.m4s)", name)
            if not m or m.group(1) != ll.prefix:
                return self.not_found()
            # sessions: "private, no-cache" on every answer (already in extra), as MediaMTX
            media = extra if extra else [("Cache-Control", "public, max-age=3600")]
            if m.group(2) == "init.mp4":
                return self.send(200, ll.init.data, "video/mp4", media)
            if m.group(3) is not None:
                msn = int(m.group(3))
                seg = next((s for s in ll.segments if s.msn == msn and s.complete), None)
                if seg is None:
                    return self.not_found()
                return self.send(200, b"".join(p.data for p in seg.parts), "video/mp4", media)
            k = int(m.group(4))
            if k > ll.last_part + 2:
                return self.not_found()
            prefix = ll.prefix
            deadline = time.monotonic() + BLOCK_TIMEOUT
            while k > ll.last_part:  # the preload hint: wait for it
                left = deadline - time.monotonic()
                if left <= 0 or not ll.live or ll.prefix != prefix:
                    return self.not_found()
                ll.cond.wait(left)
            p = ll.parts_by_index.get(k)
            if p is None:
                return self.not_found()
            return self.send(200, p.data, "video/mp4", media)


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a player that went away mid-answer (a blocking reload it gave up on)
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description="HLS origin in MediaMTX's URL layout, for tests")
    ap.add_argument("--dir", required=True, help="directory the publisher writes into (DIR/live/stream/)")
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any free one)")
    ap.add_argument("--ll", action="store_true", help="Low-Latency HLS from ffmpeg's 200 ms fMP4 fragments")
    ap.add_argument("--sessions", action="store_true", help="MediaMTX 1.18+ reader sessions")
    ap.add_argument("--require-auth", metavar="USER:PASS", help="require HTTP Basic auth on every request")
    ap.add_argument("--stale", type=float, default=3.0, help="seconds without a playlist update before the stream counts as gone")
    args = ap.parse_args()
    if args.require_auth is not None and ":" not in args.require_auth:
        ap.error("--require-auth needs USER:PASS")

    Handler.origin = Origin(args)
    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    stop = threading.Event()

    def on_signal(_sig, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    modes = ["ll" if args.ll else "classic"] + (["sessions"] if args.sessions else []) + (["auth"] if args.require_auth else [])
    log("ready http://127.0.0.1:%d%sindex.m3u8 (%s), files in %s" % (server.server_address[1], STREAM_PREFIX, "+".join(modes), Handler.origin.dir))
    stop.wait()
    server.shutdown()
    server.server_close()
    log("stopped")


if __name__ == "__main__":
    main()
