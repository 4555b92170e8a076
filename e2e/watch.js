#!/usr/bin/env node
// Headless Chromium (playwright-core) as a viewer of a tempstream watch page.
//
//   node e2e/watch.js URL [--expect STATE] [--within SECONDS] [--screenshot FILE]
//       one check: open URL, wait until document.body.dataset.state is STATE (default
//       "playing") within SECONDS (default 20), print one JSON line, exit 0 (pass) or 1
//   node e2e/watch.js --serve
//       a viewer scripted step by step: reads one command per line on stdin, answers one JSON
//       line per command on stdout ({"cmd":..,"ok":true|false,...}); the same page stays open
//       across commands. Ends on "quit" or end of input. Commands:
//         open URL               load a watch page (the viewer keeps this page from now on)
//         open-playlist URL      load a bare hls.js page (low-latency mode) for an .m3u8 URL,
//                                served on the playlist's own origin (checks an origin alone)
//         expect STATE SECONDS   wait until body.dataset.state == STATE; for "playing" also
//                                require video.currentTime to advance >= 2 s over 4 s and the
//                                frame to be a picture, not a flat colour; "at" in the answer
//                                is when the state was seen (Unix ms)
//         stopped SECONDS        require that video.currentTime advances < 0.5 s over SECONDS
//         expiry UNIX SECONDS    wait until the page's expiry line shows Unix second UNIX
//                                (its data-expires-at) and its text says so
//         steady SECONDS         watch the page for SECONDS: never reloaded, never in a final
//                                state, never "offline", "unreachable" or "error" for more than
//                                STEADY_MAX_MS at a stretch
//         play-after UNIX_MS     /play answers (not the session poll) with status 200 still
//                                being received after UNIX_MS: none, or the answer fails
//         statuses-after UNIX_MS statuses of /play and /play/_session answers since UNIX_MS
//         status                 the page's state, video time, request counts
//         screenshot FILE
//         as NAME COMMAND...     COMMAND in another browser NAME (its own Chromium profile:
//                                another device, with cookies of its own), made on first use
//         quit
// Every answer says whether the page was reloaded since "open" ("reloaded"), how long the
// wait took ("seconds"), and counts the player's requests (playlists, blocking reloads with
// _HLS_msn, parts). Chromium: /usr/bin/chromium or $CHROMIUM_PATH, headless, fresh temporary
// profile removed on exit (also on SIGTERM/SIGINT). Chromium keeps its default autoplay policy:
// the watch page starts muted playback by itself, nothing here presses play.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--mute-audio",
];
const PLAYER_PREFIX = "/__e2e_player__/";
const PLAY_WATCH_SECONDS = 4;
const PLAY_MIN_ADVANCE = 2;
const STEADY_MAX_MS = 2000;
const TROUBLE = ["offline", "unreachable", "error", "expired", "disabled", "invalid"];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, n = 2) => (typeof x === "number" ? +x.toFixed(n) : x);

let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (e) {
  console.error("watch: playwright-core missing -- run scripts/install-deps.sh");
  process.exit(1);
}

// A bare player for origin-only checks: hls.js in low-latency mode, mirroring its state on
// body.dataset.state like the watch page does (connecting, playing, offline).
function playerHtml(src) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>e2e player</title></head>
<body data-state="connecting" style="margin:0;background:#000">
<video id="video" muted autoplay playsinline style="width:640px;height:360px"></video>
<script src="${PLAYER_PREFIX}hls.min.js"></script>
<script>
const video = document.getElementById("video");
const setState = (s) => { document.body.dataset.state = s; };
function start() {
  const hls = new Hls({ lowLatencyMode: true });
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_e, d) => {
    if (!d.fatal) return;
    setState("offline"); hls.destroy(); setTimeout(start, 2000);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  hls.loadSource(${JSON.stringify(src)});
  hls.attachMedia(video);
}
video.addEventListener("playing", () => setState("playing"));
video.addEventListener("waiting", () => { if (document.body.dataset.state === "playing") setState("connecting"); });
start();
</script></body></html>`;
}

class Viewer {
  constructor() {
    this.context = null;
    this.page = null;
    this.profile = null;
    this.marker = null;
    this.navigations = 0;
    this.requests = null;
    this.openedAt = 0;
    this.closing = null;
    this.plays = []; // answers under /play/: { path, status, at, end, failed }
    this.playOf = new Map();
  }

  async launch() {
    this.profile = fs.mkdtempSync(path.join(os.tmpdir(), "tempstream-e2e-chromium-"));
    // Chromium's own temporary files (shared memory when /dev/shm is small) go inside the
    // profile too, so that removing it leaves nothing behind
    const tmp = path.join(this.profile, "tmp");
    fs.mkdirSync(tmp);
    this.context = await chromium.launchPersistentContext(path.join(this.profile, "profile"), {
      executablePath: CHROMIUM,
      env: { ...process.env, TMPDIR: tmp },
      headless: true,
      args: FLAGS,
      viewport: { width: 640, height: 400 },
      timeout: 30000,
    });
    this.page = this.context.pages()[0] || (await this.context.newPage());
    this.page.on("framenavigated", (f) => { if (f === this.page.mainFrame()) this.navigations++; });
    this.page.on("request", (r) => this.countRequest(r));
    this.page.on("response", (r) => {
      if (!this.requests) return;
      const k = String(r.status());
      this.requests.statuses[k] = (this.requests.statuses[k] || 0) + 1;
      const u = new URL(r.url());
      if (u.pathname.startsWith("/play/")) {
        const e = { path: u.pathname, status: r.status(), at: Date.now(), end: null, failed: false };
        this.plays.push(e);
        this.playOf.set(r.request(), e);
      }
    });
    const ended = (failed) => (req) => {
      const e = this.playOf.get(req);
      if (e) { e.end = Date.now(); e.failed = failed; this.playOf.delete(req); }
    };
    this.page.on("requestfinished", ended(false));
    this.page.on("requestfailed", ended(true));
    this.page.on("pageerror", (e) => console.error("watch: page error: " + e.message));
  }

  countRequest(r) {
    if (!this.requests) return;
    const u = new URL(r.url());
    if (u.pathname.startsWith(PLAYER_PREFIX)) return;
    const c = this.requests;
    c.total++;
    if (u.pathname.endsWith(".m3u8")) c.playlists++;
    if (u.searchParams.has("_HLS_msn")) c.blockingReloads++;
    if (/part/i.test(path.basename(u.pathname))) c.parts++;
  }

  // idempotent: "quit" and a signal may both end the viewer
  close() {
    if (!this.closing) {
      this.closing = (async () => {
        if (this.context) await this.context.close().catch(() => {});
        if (this.profile) fs.rmSync(this.profile, { recursive: true, force: true });
      })();
    }
    return this.closing;
  }

  async open(url, playlist) {
    let target;
    try { target = new URL(url); } catch (e) { return { ok: false, reason: "not a URL" }; }
    this.requests = { total: 0, playlists: 0, blockingReloads: 0, parts: 0, statuses: {} };
    this.plays = [];
    this.playOf = new Map();
    let pageUrl = url;
    if (playlist) {
      await this.page.unroute("**" + PLAYER_PREFIX + "**").catch(() => {});
      await this.page.route("**" + PLAYER_PREFIX + "**", (route) => {
        const p = new URL(route.request().url()).pathname.slice(PLAYER_PREFIX.length);
        if (p === "index.html") return route.fulfill({ status: 200, contentType: "text/html", body: playerHtml(url) });
        if (p === "hls.min.js") {
          return route.fulfill({ status: 200, contentType: "application/javascript",
            path: path.join(__dirname, "node_modules", "hls.js", "dist", "hls.min.js") });
        }
        return route.fulfill({ status: 404, body: "not found" });
      });
      pageUrl = target.origin + PLAYER_PREFIX + "index.html";
    }
    const t0 = Date.now();
    let status = null;
    try {
      const resp = await this.page.goto(pageUrl, { waitUntil: "domcontentloaded", timeout: 15000 });
      status = resp ? resp.status() : null;
    } catch (e) {
      return { ok: false, reason: "page did not load: " + e.message.split("\n")[0] };
    }
    this.navigations = 1;
    this.openedAt = Date.now();
    this.marker = String(Math.random()).slice(2);
    await this.page.evaluate((m) => { window.__e2eMarker = m; }, this.marker);
    return { ok: true, httpStatus: status, seconds: round((Date.now() - t0) / 1000) };
  }

  async snapshot() {
    const s = await this.page.evaluate((marker) => {
      const v = document.getElementById("video") || document.querySelector("video");
      const status = document.getElementById("status");
      const expiry = document.getElementById("expiry");
      const out = {
        state: document.body ? document.body.dataset.state || null : null,
        sameDocument: window.__e2eMarker === marker,
        video: !!v,
        // the watch page's status line, or an error page's message
        text: status ? status.textContent
          : ((document.querySelector("main") || {}).textContent || "").replace(/\s+/g, " ").trim() || null,
        expiresAt: expiry ? expiry.dataset.expiresAt || null : null,
        expiryText: expiry ? expiry.textContent : null,
      };
      if (v) {
        Object.assign(out, {
          currentTime: v.currentTime, paused: v.paused, readyState: v.readyState,
          bufferedEnd: v.buffered.length ? v.buffered.end(v.buffered.length - 1) : null,
          mediaError: v.error ? v.error.code : null,
          size: v.videoWidth + "x" + v.videoHeight,
        });
      }
      const h = window.hls;
      if (h && typeof h.latency === "number") out.hlsLatency = h.latency;
      if (h && h.config) out.lowLatencyMode = !!h.config.lowLatencyMode;
      return out;
    }, this.marker).catch((e) => ({ state: null, evalError: e.message.split("\n")[0] }));
    s.reloaded = !s.sameDocument || this.navigations > 1;
    delete s.sameDocument;
    for (const k of ["currentTime", "bufferedEnd", "hlsLatency"]) s[k] = round(s[k]);
    return s;
  }

  async frame() {
    return this.page.evaluate(() => {
      try {
        const v = document.getElementById("video") || document.querySelector("video");
        const c = document.createElement("canvas"); c.width = 64; c.height = 36;
        const g = c.getContext("2d"); g.drawImage(v, 0, 0, 64, 36);
        const d = g.getImageData(0, 0, 64, 36).data;
        let n = 0, sum = 0, sum2 = 0;
        for (let i = 0; i < d.length; i += 4) {
          const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]; n++; sum += y; sum2 += y * y;
        }
        const mean = sum / n;
        return { meanLuma: +mean.toFixed(1), lumaStdDev: +Math.sqrt(Math.max(0, sum2 / n - mean * mean)).toFixed(1) };
      } catch (e) { return { error: String(e) }; }
    });
  }

  async expect(state, within) {
    const t0 = Date.now();
    let s = await this.snapshot();
    while (s.state !== state) {
      if (Date.now() - t0 > within * 1000) {
        return { ok: false, reason: `state is ${s.state}, not ${state}, after ${within}s`, ...s };
      }
      await sleep(100);
      s = await this.snapshot();
    }
    const res = { ok: true, state, at: Date.now(), seconds: round((Date.now() - t0) / 1000), sinceOpen: round((Date.now() - this.openedAt) / 1000) };
    if (state === "playing") {
      const c0 = s.currentTime;
      const w0 = Date.now();
      await sleep(PLAY_WATCH_SECONDS * 1000);
      const s1 = await this.snapshot();
      res.advance = round(s1.currentTime - c0);
      res.overSeconds = round((Date.now() - w0) / 1000);
      res.frame = await this.frame();
      Object.assign(res, s1, { state: s1.state });
      const problems = [];
      if (!(res.advance >= PLAY_MIN_ADVANCE)) problems.push(`video advanced ${res.advance}s over ${res.overSeconds}s`);
      if (!res.frame || res.frame.error || !(res.frame.lumaStdDev > 2)) problems.push("the frame is not a picture: " + JSON.stringify(res.frame));
      if (s1.state !== "playing") problems.push("state changed to " + s1.state);
      if (problems.length) { res.ok = false; res.reason = problems.join("; "); }
    } else {
      Object.assign(res, s);
    }
    if (res.reloaded) { res.ok = false; res.reason = (res.reason ? res.reason + "; " : "") + "the page was reloaded"; }
    return res;
  }

  async stopped(seconds) {
    const s0 = await this.snapshot();
    await sleep(seconds * 1000);
    const s1 = await this.snapshot();
    const advance = round((s1.currentTime || 0) - (s0.currentTime || 0));
    const ok = !s1.video || advance < 0.5;
    return { ok, advance, overSeconds: seconds, ...s1, reason: ok ? undefined : `video still advanced ${advance}s over ${seconds}s` };
  }

  async expiry(unix, within) {
    const t0 = Date.now();
    // the line names the new time: far enough ahead, it no longer says "less than a minute"
    const shown = (s) => s.expiresAt === unix && /^Link expires /.test(s.expiryText || "") &&
      (Number(unix) * 1000 - Date.now() < 120000 || !/less than a minute/.test(s.expiryText));
    let s = await this.snapshot();
    while (!shown(s)) {
      if (Date.now() - t0 > within * 1000) {
        return { ok: false, reason: `the page shows expiry ${s.expiresAt} ("${s.expiryText}"), not ${unix}, after ${within}s`, ...s };
      }
      await sleep(100);
      s = await this.snapshot();
    }
    return { ok: !s.reloaded, seconds: round((Date.now() - t0) / 1000), ...s, reason: s.reloaded ? "the page was reloaded" : undefined };
  }

  async steady(seconds) {
    const t0 = Date.now();
    let worst = 0, since = 0, seen = {}, s = null;
    const c0 = (await this.snapshot()).currentTime || 0;
    while (Date.now() - t0 < seconds * 1000) {
      s = await this.snapshot();
      seen[s.state] = (seen[s.state] || 0) + 1;
      const now = Date.now();
      if (TROUBLE.includes(s.state)) { since = since || now; worst = Math.max(worst, now - since); } else since = 0;
      if (s.reloaded || ["expired", "disabled", "invalid", "error"].includes(s.state)) break;
      await sleep(100);
    }
    const problems = [];
    if (s.reloaded) problems.push("the page was reloaded");
    if (["expired", "disabled", "invalid", "error"].includes(s.state)) problems.push("the page ended in " + s.state);
    if (worst > STEADY_MAX_MS) problems.push(`a trouble state was shown for ${worst} ms`);
    return { ok: problems.length === 0, reason: problems.join("; ") || undefined, worstTroubleMs: worst, states: seen,
      advance: round((s.currentTime || 0) - c0), overSeconds: seconds, ...s };
  }

  playAfter(ms) {
    const late = this.plays.filter((e) => e.path !== "/play/_session" && e.status === 200 &&
      (e.end === null ? Date.now() > ms : e.end > ms && !e.failed));
    return { ok: late.length === 0, late: late.slice(0, 5), reason: late.length ? `${late.length} answers still received after ${ms}` : undefined };
  }

  statusesAfter(ms) {
    const play = {}, session = {};
    for (const e of this.plays) {
      if (e.at < ms) continue;
      const m = e.path === "/play/_session" ? session : play;
      m[e.status] = (m[e.status] || 0) + 1;
    }
    return { ok: true, play, session };
  }

  async run(cmd, args) {
    switch (cmd) {
      case "open": return this.open(args[0], false);
      case "open-playlist": return this.open(args[0], true);
      case "expect": return this.expect(args[0], Number(args[1] || 20));
      case "stopped": return this.stopped(Number(args[0] || 3));
      case "expiry": return this.expiry(args[0], Number(args[1] || 5));
      case "steady": return this.steady(Number(args[0] || 10));
      case "play-after": return this.playAfter(Number(args[0]));
      case "statuses-after": return this.statusesAfter(Number(args[0]));
      case "status": return { ok: true, ...(await this.snapshot()) };
      case "screenshot": await this.page.screenshot({ path: args[0] }); return { ok: true, file: args[0] };
      default: return { ok: false, reason: "unknown command " + cmd };
    }
  }
}

// The other browsers of "as NAME ...", closed with the first one.
const others = new Map();

async function other(name) {
  if (!others.has(name)) {
    const v = new Viewer();
    others.set(name, v);
    await v.launch();
  }
  return others.get(name);
}

async function serve(viewer) {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    let [cmd, ...args] = line.trim().split(/\s+/);
    if (!cmd) continue;
    if (cmd === "quit") break;
    let res, target = viewer;
    try {
      if (cmd === "as") {
        target = await other(args[0]);
        [cmd, ...args] = args.slice(1);
      }
      res = await target.run(cmd, args);
    } catch (e) {
      res = { ok: false, reason: e.message.split("\n")[0] };
    }
    if (target.requests) res.requests = target.requests;
    process.stdout.write(JSON.stringify({ cmd, ...res }) + "\n");
  }
}

async function once(viewer, argv) {
  let url = null, expect = "playing", within = 20, shot = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--expect") expect = argv[++i];
    else if (a === "--within") within = Number(argv[++i]);
    else if (a === "--screenshot") shot = argv[++i];
    else if (!a.startsWith("--") && !url) url = a;
    else throw new Error("usage: node watch.js URL [--expect STATE] [--within S] [--screenshot FILE] | --serve");
  }
  if (!url) throw new Error("usage: node watch.js URL [--expect STATE] [--within S] [--screenshot FILE] | --serve");
  let res = await viewer.open(url, new URL(url).pathname.endsWith(".m3u8"));
  if (res.ok) res = await viewer.expect(expect, within);
  if (shot) await viewer.page.screenshot({ path: shot }).catch(() => {});
  res.requests = viewer.requests;
  console.log(JSON.stringify({ url: url.replace(/\/live\/stream\/[^/?]+$/, "/live/stream/<token>"), ...res }));
  return res.ok;
}

async function main() {
  const viewer = new Viewer();
  const stop = async (code) => {
    await Promise.all([viewer, ...others.values()].map((v) => v.close()));
    process.exit(code);
  };
  process.on("SIGTERM", () => stop(143));
  process.on("SIGINT", () => stop(130));
  const argv = process.argv.slice(2);
  let ok = true;
  try {
    await viewer.launch();
    if (argv[0] === "--serve") await serve(viewer);
    else ok = await once(viewer, argv);
  } catch (e) {
    console.error("watch: " + e.message.split("\n")[0]);
    ok = false;
  }
  await stop(ok ? 0 : 1);
}

main();
