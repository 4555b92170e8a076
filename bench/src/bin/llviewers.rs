//! llviewers: N simulated LL-HLS viewers, for benchmarks.
//!
//! Each viewer has its own keep-alive HTTP/1.1 connection and its own cookies: with `--open
//! PATH` it first opens that page (a watch link) and keeps every cookie it sets, so each viewer
//! has its own playback session; `--cookie` gives all of them one `Cookie` header instead.
//! It then reads `--master`, its first variant, and loops like an LL-HLS player: a blocking
//! reload for the next part (`_HLS_msn`/`_HLS_part`), then that part, i.e. two requests per
//! part. Viewers start spread over `--ramp` seconds; the `--duration` seconds after the ramp
//! are measured.
//!
//! Measured: parts per second per viewer (mean and slowest viewer), errors (failed requests)
//! and non-200 answers, the part fetch time, and the delivery lag of each part: the time it
//! was fully received minus its `x-ready-us` header (when the origin made it). Prints a
//! summary and one `RESULT key=value ...` line for scripts.

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{COOKIE, HOST, SET_COOKIE};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::process::ExitCode;
use std::time::Duration;
use tempstream_bench::measure::{cpu_seconds, now_us, quantile};
use tempstream_bench::playlist::{first_variant, parse_media, resolve, Media};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// N simulated LL-HLS viewers.
#[derive(Parser, Debug, Clone)]
#[command(version)]
struct Args {
    /// host:port to connect to.
    #[arg(long)]
    target: String,
    /// Number of viewers.
    #[arg(long, default_value_t = 100)]
    viewers: u64,
    /// Seconds measured, after the ramp.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Seconds over which viewers start.
    #[arg(long, default_value_t = 2.0)]
    ramp: f64,
    /// Multivariant playlist path.
    #[arg(long, default_value = "/play/index.m3u8")]
    master: String,
    /// A page each viewer opens first, keeping the cookies it sets (e.g. a watch link).
    #[arg(long)]
    open: Option<String>,
    /// A `Cookie` header every viewer sends.
    #[arg(long)]
    cookie: Option<String>,
    /// Runtime threads (1: single-threaded).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// What one viewer saw.
#[derive(Default)]
struct Seen {
    /// Requests finished inside the measured window.
    requests: u64,
    /// Parts received inside the measured window.
    parts: u64,
    /// Requests that failed (connection, protocol or timeout).
    errors: u64,
    /// Answers other than 200.
    non200: u64,
    /// Delivery lag of each part, microseconds.
    lag_us: Vec<i64>,
    /// Part request to last byte, microseconds.
    part_us: Vec<i64>,
    /// Why the viewer stopped early, if it did.
    gave_up: Option<String>,
}

/// The measured window.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

struct Answer {
    status: u16,
    ready_us: Option<i64>,
    cookies: Vec<String>,
    body: Bytes,
}

impl Answer {
    /// The status, the `x-ready-us` header, the `name=value` of each cookie set, the body.
    async fn read(resp: Response<Incoming>) -> Result<Answer, String> {
        let (head, body) = resp.into_parts();
        let ready_us = head
            .headers
            .get("x-ready-us")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let cookies = head
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(|v| v.trim().to_string())
            .collect();
        let body = body.collect().await.map_err(|e| e.to_string())?;
        Ok(Answer {
            status: head.status.as_u16(),
            ready_us,
            cookies,
            body: body.to_bytes(),
        })
    }
}

struct Conn {
    target: String,
    cookie: Option<String>,
    tx: Option<SendRequest<Empty<Bytes>>>,
}

impl Conn {
    async fn connect(&mut self) -> Result<(), String> {
        let tcp = TcpStream::connect(&self.target)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.tx = Some(tx);
        Ok(())
    }

    /// GETs `path` on this viewer's connection, opening it if needed.
    async fn get(&mut self, path: &str) -> Result<Answer, String> {
        if self.tx.as_ref().is_none_or(|t| t.is_closed()) {
            self.connect().await?;
        }
        let Some(tx) = self.tx.as_mut() else {
            return Err("no connection".into());
        };
        let result = async {
            tx.ready().await.map_err(|e| e.to_string())?;
            let mut req = Request::get(path).header(HOST, self.target.as_str());
            if let Some(c) = &self.cookie {
                req = req.header(COOKIE, c.as_str());
            }
            let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
            let resp = tx.send_request(req).await.map_err(|e| e.to_string())?;
            Answer::read(resp).await
        }
        .await;
        if result.is_err() {
            self.tx = None;
        }
        result
    }
}

/// Sets up a viewer: its session, then its media playlist's path.
async fn start(c: &mut Conn, args: &Args) -> Result<String, String> {
    if let Some(page) = &args.open {
        let a = c.get(page).await?;
        if a.status != 200 || a.cookies.is_empty() {
            return Err(format!("opening the page: status {}, no cookie", a.status));
        }
        c.cookie = Some(a.cookies.join("; "));
    }
    let a = c.get(&args.master).await?;
    if a.status != 200 {
        return Err(format!("multivariant playlist: status {}", a.status));
    }
    let text = String::from_utf8_lossy(&a.body);
    let variant = first_variant(&text).ok_or("no variant in the multivariant playlist")?;
    Ok(resolve(&args.master, &variant))
}

async fn viewer(args: Args, delay: Duration, window: Window) -> Seen {
    let mut seen = Seen::default();
    tokio::time::sleep(delay).await;
    let mut c = Conn {
        target: args.target.clone(),
        cookie: args.cookie.clone(),
        tx: None,
    };
    let media_path = match tokio::time::timeout_at(window.end, start(&mut c, &args)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            seen.errors += 1;
            seen.gave_up = Some(e);
            return seen;
        }
        Err(_) => return seen,
    };
    let mut next: Option<(u64, u64)> = None;
    while Instant::now() < window.end {
        // Without a position (start, or after a failure): a plain reload of the playlist.
        let path = match next {
            Some((m, p)) => format!("{media_path}?_HLS_msn={m}&_HLS_part={p}"),
            None => media_path.clone(),
        };
        let media = match reload(&mut c, &path, window, &mut seen).await {
            Reload::Closed => break,
            Reload::Failed => {
                next = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Reload::Got(media) => media,
        };
        let Some(part) = (match next {
            // The part asked for, else (it fell out of the playlist) the newest one.
            Some((m, p)) => media
                .parts
                .iter()
                .find(|x| x.msn == m && x.index == p)
                .or(media.parts.last()),
            // Starting: wait for the next part, like a player at the live edge.
            None => {
                next = Some(media.next);
                continue;
            }
        }) else {
            next = None;
            continue;
        };
        next = Some(media.after(part.msn, part.index));
        let uri = resolve(&media_path, &part.uri);
        match fetch_part(&mut c, &uri, window, &mut seen).await {
            None => break,
            Some(false) => next = None,
            Some(true) => {}
        }
    }
    seen
}

/// What a (blocking) reload of the media playlist gave.
enum Reload {
    /// The measured window closed while waiting.
    Closed,
    /// The request failed or was answered other than 200 (counted in `seen`).
    Failed,
    Got(Media),
}

async fn reload(c: &mut Conn, path: &str, window: Window, seen: &mut Seen) -> Reload {
    let answer = match tokio::time::timeout_at(window.end, c.get(path)).await {
        Err(_) => return Reload::Closed,
        Ok(Err(_)) => {
            seen.errors += 1;
            return Reload::Failed;
        }
        Ok(Ok(a)) => a,
    };
    if window.contains(Instant::now()) {
        seen.requests += 1;
    }
    if answer.status != 200 {
        seen.non200 += 1;
        return Reload::Failed;
    }
    Reload::Got(parse_media(&String::from_utf8_lossy(&answer.body)))
}

/// Fetches one part and records it in `seen`: `None` when the window closed meanwhile, else
/// whether the part came (a 200).
async fn fetch_part(c: &mut Conn, uri: &str, window: Window, seen: &mut Seen) -> Option<bool> {
    let t = Instant::now();
    match tokio::time::timeout_at(window.end, c.get(uri)).await {
        Err(_) => None,
        Ok(Err(_)) => {
            seen.errors += 1;
            Some(false)
        }
        Ok(Ok(a)) if a.status != 200 => {
            seen.non200 += 1;
            Some(false)
        }
        Ok(Ok(a)) => {
            let done = Instant::now();
            if window.contains(done) {
                seen.requests += 1;
                seen.parts += 1;
                seen.part_us.push(done.duration_since(t).as_micros() as i64);
                if let Some(r) = a.ready_us {
                    seen.lag_us.push(now_us() - r);
                }
            }
            Some(true)
        }
    }
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.viewers == 0 || !(0.5..=3600.0).contains(&args.duration) || args.ramp > 600.0 {
        eprintln!("llviewers: need --viewers >= 1, --duration in 0.5..=3600, --ramp <= 600");
        return ExitCode::from(2);
    }
    let rt = match runtime(args.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("llviewers: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = rt.block_on(run(&args));
    report(&args, run);
    ExitCode::SUCCESS
}

/// A runtime of `threads` workers (1: single-threaded).
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// What all viewers saw together.
struct Run {
    all: Seen,
    /// Parts per second of each viewer, times 1000.
    rates: Vec<i64>,
    /// CPU seconds this process used.
    cpu: f64,
    /// Wall-clock seconds, ramp included.
    wall: f64,
}

impl Seen {
    fn add(&mut self, s: Seen) {
        self.requests += s.requests;
        self.parts += s.parts;
        self.errors += s.errors;
        self.non200 += s.non200;
        self.lag_us.extend(s.lag_us);
        self.part_us.extend(s.part_us);
        if self.gave_up.is_none() {
            self.gave_up = s.gave_up;
        }
    }
}

/// Starts the viewers spread over the ramp and gathers what they saw.
async fn run(args: &Args) -> Run {
    let n = args.viewers;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let ramp = Duration::from_secs_f64(args.ramp);
    let window = Window {
        start: t0 + ramp,
        end: t0 + ramp + Duration::from_secs_f64(args.duration),
    };
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let delay = ramp.mul_f64(i as f64 / n as f64);
            tokio::spawn(viewer(args.clone(), delay, window))
        })
        .collect();
    let mut all = Seen::default();
    let mut rates = Vec::with_capacity(n as usize);
    for t in tasks {
        match t.await {
            Ok(s) => {
                rates.push((s.parts as f64 / args.duration * 1000.0) as i64);
                all.add(s);
            }
            Err(_) => all.errors += 1,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    Run {
        all,
        rates,
        cpu: cpu_seconds() - cpu0,
        wall,
    }
}

/// Prints the summary and the `RESULT` line.
fn report(args: &Args, run: Run) {
    let Run {
        mut all,
        mut rates,
        cpu,
        wall,
    } = run;
    let n = args.viewers;
    let secs = args.duration;
    let rps = all.requests as f64 / secs;
    let parts_per_viewer = all.parts as f64 / secs / n as f64;
    let slowest = quantile(&mut rates, 0.0) as f64 / 1000.0;
    let (lag50, lag99, lagmax) = (
        quantile(&mut all.lag_us, 0.5),
        quantile(&mut all.lag_us, 0.99),
        quantile(&mut all.lag_us, 1.0),
    );
    let (part50, part99) = (
        quantile(&mut all.part_us, 0.5),
        quantile(&mut all.part_us, 0.99),
    );
    let gen_cpu = cpu / wall * 100.0;
    println!(
        "{n} viewers, {secs:.1} s measured: {rps:.0} req/s, {parts_per_viewer:.2} parts/s per viewer \
         (slowest {slowest:.2}), errors {} non-200 {}",
        all.errors, all.non200
    );
    println!(
        "delivery lag ms p50 {:.2} p99 {:.2} max {:.2}; part fetch ms p50 {:.2} p99 {:.2}; \
         generator CPU {gen_cpu:.0}% of a core",
        ms(lag50),
        ms(lag99),
        ms(lagmax),
        ms(part50),
        ms(part99)
    );
    if let Some(why) = &all.gave_up {
        println!("a viewer gave up: {why}");
    }
    println!(
        "RESULT viewers={n} secs={secs:.1} requests={} rps={rps:.0} parts_per_viewer_s={parts_per_viewer:.3} \
         slowest_viewer_parts_s={slowest:.3} errors={} non200={} lag_p50_ms={:.2} lag_p99_ms={:.2} \
         lag_max_ms={:.2} part_p50_ms={:.2} part_p99_ms={:.2} gen_cpu_pct={gen_cpu:.0}",
        all.requests,
        all.errors,
        all.non200,
        ms(lag50),
        ms(lag99),
        ms(lagmax),
        ms(part50),
        ms(part99)
    );
}
