//! llorigin: a fake LL-HLS origin in MediaMTX's URL layout, for benchmarks.
//!
//! Under `--base` (default `/live/stream`) it serves `index.m3u8` (multivariant),
//! `video1_stream.m3u8` (media playlist, blocking reload on `_HLS_msn`/`_HLS_part`), parts
//! (`--part-bytes`, 40 KB, one every `--part-ms`, 200 ms; a request for the announced next
//! part waits for it), segments (`--parts-per-segment` parts, 1 s) and an init segment.
//! Parts and media playlists carry `x-ready-us`: Unix microseconds at which that part (for a
//! playlist, its newest part) became ready, so a viewer on the same machine can measure
//! delivery lag.
//!
//! It counts every request: `GET /_stats` answers the counts as JSON (per path, and for
//! parts and blocking playlists the requests, the distinct files and the most requests any
//! one of them got, i.e. upstream fetches per part when a proxy sits in front);
//! `POST /_reset` sets them to zero. It stops by itself after `--max-seconds`.

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tempstream_bench::measure::now_us;
use tempstream_bench::stream::{Availability, File, Stream, MEDIA_PLAYLIST};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A fake LL-HLS origin in MediaMTX's URL layout.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8888")]
    listen: SocketAddr,
    /// Path of the stream, like MediaMTX's `/PATH`.
    #[arg(long, default_value = "/live/stream")]
    base: String,
    /// Part duration, milliseconds.
    #[arg(long, default_value_t = 200)]
    part_ms: u64,
    /// Parts per segment.
    #[arg(long, default_value_t = 5)]
    parts_per_segment: u64,
    /// Size of a part, bytes (a segment is the size of its parts).
    #[arg(long, default_value_t = 40_960)]
    part_bytes: usize,
    /// Complete segments listed in the media playlist.
    #[arg(long, default_value_t = 7)]
    window: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600)]
    max_seconds: u64,
}

/// How long a blocking request may wait for its part.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Requests per file, for `/_stats`.
#[derive(Default)]
struct Counts {
    parts: HashMap<u64, u64>,
    segments: HashMap<u64, u64>,
    /// Blocking reloads by `(_HLS_msn, _HLS_part)`.
    blocking: HashMap<(u64, Option<u64>), u64>,
    playlists: u64,
    multivariant: u64,
    init: u64,
    refused: u64,
}

struct Origin {
    stream: Stream,
    /// `base` with a trailing slash.
    prefix: String,
    /// Parts completed, published by the ticker when each part becomes ready.
    completed: watch::Receiver<u64>,
    part: Bytes,
    segment: Bytes,
    init: Bytes,
    multivariant: Bytes,
    /// The media playlist of the last `completed` count asked for.
    playlist: Mutex<(u64, Bytes)>,
    counts: Mutex<Counts>,
    started_us: i64,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, ctype: &'static str, body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn not_found() -> Reply {
    reply(
        StatusCode::NOT_FOUND,
        "text/plain",
        Bytes::from_static(b"404 page not found"),
    )
}

fn param(query: &str, name: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// Bytes that do not compress, like video.
fn payload(len: usize, start: u64) -> Bytes {
    let mut x = start | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

impl Origin {
    fn now_completed(&self) -> u64 {
        *self.completed.borrow()
    }

    /// Waits until `needed` parts are complete; false after [`MAX_WAIT`].
    async fn wait_for(&self, needed: u64) -> bool {
        let mut rx = self.completed.clone();
        tokio::time::timeout(MAX_WAIT, rx.wait_for(|c| *c >= needed))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn media_playlist(&self, completed: u64) -> Reply {
        let body = {
            let mut cached = lock(&self.playlist);
            if cached.0 != completed || cached.1.is_empty() {
                *cached = (
                    completed,
                    Bytes::from(self.stream.media_playlist(completed)),
                );
            }
            cached.1.clone()
        };
        let mut r = reply(StatusCode::OK, "application/vnd.apple.mpegurl", body);
        let h = r.headers_mut();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            "x-ready-us",
            HeaderValue::from(self.stream.ready_us(completed.saturating_sub(1))),
        );
        r
    }

    fn media(&self, body: Bytes, ready_us: Option<i64>) -> Reply {
        let mut r = reply(StatusCode::OK, "video/mp4", body);
        let h = r.headers_mut();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        if let Some(t) = ready_us {
            h.insert("x-ready-us", HeaderValue::from(t));
        }
        r
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.counts));
    }

    async fn serve(&self, req: Request<Incoming>) -> Reply {
        let path = req.uri().path();
        match (req.method(), path) {
            (&Method::GET, "/_stats") => return self.stats(),
            (&Method::POST, "/_reset") => {
                self.count(|c| *c = Counts::default());
                return reply(StatusCode::OK, "text/plain", Bytes::from_static(b"reset\n"));
            }
            (&Method::GET, _) => {}
            _ => {
                self.count(|c| c.refused += 1);
                return not_found();
            }
        }
        let Some(file) = path
            .strip_prefix(&self.prefix)
            .and_then(|name| self.stream.file(name))
        else {
            self.count(|c| c.refused += 1);
            return not_found();
        };
        let query = req.uri().query().unwrap_or("");
        match file {
            File::Multivariant => {
                self.count(|c| c.multivariant += 1);
                let mut r = reply(
                    StatusCode::OK,
                    "application/vnd.apple.mpegurl",
                    self.multivariant.clone(),
                );
                r.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=30"));
                r
            }
            File::Media => self.blocking_playlist(query).await,
            File::Init => {
                self.count(|c| c.init += 1);
                self.media(self.init.clone(), None)
            }
            File::Segment(m) => {
                self.count(|c| *c.segments.entry(m).or_default() += 1);
                if self.stream.segment_ready(m, self.now_completed()) {
                    let ready = self
                        .stream
                        .ready_us((m + 1) * self.stream.parts_per_segment - 1);
                    self.media(self.segment.clone(), Some(ready))
                } else {
                    not_found()
                }
            }
            File::Part(g) => {
                self.count(|c| *c.parts.entry(g).or_default() += 1);
                match self.stream.part_availability(g, self.now_completed()) {
                    Availability::Gone => return not_found(),
                    Availability::Next if !self.wait_for(g + 1).await => return not_found(),
                    _ => {}
                }
                self.media(self.part.clone(), Some(self.stream.ready_us(g)))
            }
        }
    }

    async fn blocking_playlist(&self, query: &str) -> Reply {
        let msn = param(query, "_HLS_msn");
        let part = param(query, "_HLS_part");
        let Some(msn) = msn else {
            self.count(|c| c.playlists += 1);
            return self.media_playlist(self.now_completed());
        };
        self.count(|c| *c.blocking.entry((msn, part)).or_default() += 1);
        let needed = self.stream.needed(msn, part);
        // Like MediaMTX: a reload for a part further ahead than the next segments is refused.
        if needed > self.now_completed() + 2 * self.stream.parts_per_segment {
            return reply(StatusCode::BAD_REQUEST, "text/plain", Bytes::new());
        }
        if !self.wait_for(needed).await {
            return not_found();
        }
        self.media_playlist(self.now_completed())
    }

    fn stats(&self) -> Reply {
        let c = lock(&self.counts);
        fn summary<K>(m: &HashMap<K, u64>) -> serde_json::Value {
            let requests: u64 = m.values().sum();
            serde_json::json!({
                "requests": requests,
                "distinct": m.len(),
                "max_per": m.values().copied().max().unwrap_or(0),
                "min_per": m.values().copied().min().unwrap_or(0),
            })
        }
        let mut per_path = serde_json::Map::new();
        let p = &self.stream.prefix;
        for (g, n) in &c.parts {
            per_path.insert(format!("{p}_video1_part{g}.mp4"), (*n).into());
        }
        for (m, n) in &c.segments {
            per_path.insert(format!("{p}_video1_seg{m}.mp4"), (*n).into());
        }
        for ((msn, part), n) in &c.blocking {
            let q = match part {
                Some(x) => format!("_HLS_msn={msn}&_HLS_part={x}"),
                None => format!("_HLS_msn={msn}"),
            };
            per_path.insert(format!("{MEDIA_PLAYLIST}?{q}"), (*n).into());
        }
        per_path.insert(MEDIA_PLAYLIST.into(), c.playlists.into());
        per_path.insert("index.m3u8".into(), c.multivariant.into());
        per_path.insert(format!("{p}_video1_init.mp4"), c.init.into());
        let total = c.parts.values().sum::<u64>()
            + c.segments.values().sum::<u64>()
            + c.blocking.values().sum::<u64>()
            + c.playlists
            + c.multivariant
            + c.init
            + c.refused;
        let body = serde_json::json!({
            "uptime_s": (now_us() - self.started_us) as f64 / 1e6,
            "completed_parts": self.now_completed(),
            "requests": total,
            "parts": summary(&c.parts),
            "segments": summary(&c.segments),
            "blocking_playlists": summary(&c.blocking),
            "playlists": c.playlists,
            "multivariant": c.multivariant,
            "init": c.init,
            "refused": c.refused,
            "per_path": per_path,
        });
        reply(
            StatusCode::OK,
            "application/json",
            Bytes::from(body.to_string()),
        )
    }
}

/// Locks `m`, poisoned or not (the counters and the cached playlist are valid between
/// statements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Publishes the completed-part count at each part's scheduled ready time.
async fn tick(stream: Stream, tx: watch::Sender<u64>) {
    let (t0, u0) = (tokio::time::Instant::now(), now_us());
    loop {
        let completed = stream.completed(now_us());
        tx.send_replace(completed);
        let next_ready = stream.ready_us(completed);
        let wait = Duration::from_micros((next_ready - u0).max(0) as u64);
        tokio::time::sleep_until(t0 + wait).await;
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.part_ms == 0 || args.parts_per_segment == 0 || args.window == 0 {
        eprintln!("llorigin: --part-ms, --parts-per-segment and --window must be at least 1");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("llorigin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(serve(args))
}

/// Listens, starts the stream's clock and serves until `--max-seconds`.
async fn serve(args: Args) -> ExitCode {
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("llorigin: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let origin = start_origin(&args);
    println!(
        "llorigin: http://{}{}/index.m3u8 ({} ms parts, {} per segment, {} bytes each)",
        args.listen,
        origin.prefix.trim_end_matches('/'),
        args.part_ms,
        args.parts_per_segment,
        args.part_bytes
    );
    tokio::select! {
        _ = accept(listener, origin) => {}
        _ = tokio::time::sleep(Duration::from_secs(args.max_seconds)) => {
            eprintln!("llorigin: --max-seconds reached, stopping");
        }
    }
    ExitCode::SUCCESS
}

/// The origin's stream, starting now, with its clock ticking in a task of its own.
fn start_origin(args: &Args) -> Arc<Origin> {
    let started_us = now_us();
    let stream = Stream::new(
        args.part_ms as i64 * 1000,
        args.parts_per_segment,
        args.window,
        started_us,
    );
    let (tx, rx) = watch::channel(stream.completed(started_us));
    tokio::spawn(tick(stream.clone(), tx));
    Arc::new(Origin {
        prefix: format!("{}/", args.base.trim_end_matches('/')),
        multivariant: Bytes::from(stream.multivariant()),
        part: payload(args.part_bytes, 1),
        segment: payload(args.part_bytes * args.parts_per_segment as usize, 2),
        init: payload(1500, 3),
        stream,
        completed: rx,
        playlist: Mutex::new((0, Bytes::new())),
        counts: Mutex::default(),
        started_us,
    })
}

/// Accepts connections for ever, each served on a keep-alive HTTP/1.1 connection.
async fn accept(listener: TcpListener, origin: Arc<Origin>) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of file descriptors, most likely: let some connections end.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let origin = origin.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let origin = origin.clone();
                async move { Ok::<_, Infallible>(origin.serve(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
