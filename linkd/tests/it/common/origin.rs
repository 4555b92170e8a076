//! A fake HLS origin on loopback that behaves like MediaMTX where linkd can tell: its URL
//! layout, 404 while nothing is published, LL-HLS blocking reloads on `_HLS_msn`/`_HLS_part`,
//! the 1.18+ session flow (302 to `cookieCheck=1`, `session=` appended to every playlist URI,
//! a 2 s pause then 401 for a missing or unknown session), reader Basic auth, validators
//! (`ETag`, `Last-Modified`) on media files, and 404 for HEAD. It records every request it
//! gets.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Parts per segment in LL mode.
pub const PARTS: u64 = 5;
/// How long MediaMTX 1.18/1.19 waits before answering 401 to a missing or unknown session.
pub const SESSION_PAUSE: Duration = Duration::from_secs(2);
/// The `Last-Modified` of every media file.
pub const MEDIA_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// A request the origin got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// LL-HLS (multivariant + media playlist with blocking reload) instead of classic HLS.
    pub low_latency: bool,
    /// MediaMTX 1.18+ sessions.
    pub sessions: bool,
    /// Required `Authorization` header value.
    pub auth: Option<String>,
}

pub struct OriginState {
    pub behaviour: Behaviour,
    pub live: AtomicBool,
    /// LL: parts made so far (advanced by a ticker).
    pub parts: AtomicU64,
    pub seen: Mutex<Vec<Seen>>,
    /// While set, the LL ticker makes no new parts, so blocking reloads wait (see
    /// [`FakeOrigin::freeze`]).
    pub frozen: AtomicBool,
    /// Blocking reloads whose request was dropped (the client went away) before they were answered.
    pub abandoned_waits: AtomicU64,
    /// While set, media files asked without `cookieCheck=1` answer 302 to this `Location`
    /// (a hostile origin, or MediaMTX's session redirect).
    pub redirect: Mutex<Option<String>>,
    sessions: Mutex<HashSet<String>>,
    next_session: AtomicU64,
}

impl OriginState {
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    pub fn count(&self, path_suffix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.ends_with(path_suffix))
            .count()
    }
    pub fn sessions_opened(&self) -> u64 {
        self.next_session.load(Ordering::SeqCst)
    }
    /// Forgets every session, as MediaMTX does 30 s after a session's last request.
    pub fn forget_sessions(&self) {
        self.sessions.lock().unwrap().clear();
    }
}

pub struct FakeOrigin {
    pub addr: SocketAddr,
    pub state: Arc<OriginState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Drop for FakeOrigin {
    /// Stops the origin and cuts every open connection, like a crashed server.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for c in self.conns.lock().unwrap().iter() {
            c.abort();
        }
    }
}

impl FakeOrigin {
    /// Starts a live origin on an ephemeral loopback port.
    pub async fn start(behaviour: Behaviour) -> FakeOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        FakeOrigin::serve(listener, behaviour)
    }

    /// Starts a live origin on `addr`, e.g. the port of an origin that was stopped (a restart
    /// of MediaMTX). Retries binding for up to 5 s while the old socket goes away.
    pub async fn start_at(addr: SocketAddr, behaviour: Behaviour) -> FakeOrigin {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("cannot bind the origin again on {addr}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        FakeOrigin::serve(listener, behaviour)
    }

    fn serve(listener: tokio::net::TcpListener, behaviour: Behaviour) -> FakeOrigin {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(OriginState {
            behaviour,
            live: AtomicBool::new(true),
            parts: AtomicU64::new(PARTS * 2),
            seen: Mutex::new(Vec::new()),
            frozen: AtomicBool::new(false),
            abandoned_waits: AtomicU64::new(0),
            redirect: Mutex::new(None),
            sessions: Mutex::new(HashSet::new()),
            next_session: AtomicU64::new(0),
        });
        let s = state.clone();
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let c2 = conns.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                let conn = tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(s, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                c2.lock().unwrap().push(conn.abort_handle());
            }
        });
        let s = state.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if s.live.load(Ordering::SeqCst) && !s.frozen.load(Ordering::SeqCst) {
                    s.parts.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        FakeOrigin {
            addr,
            state,
            tasks: vec![server, ticker],
            conns,
        }
    }

    /// The value for `MEDIAMTX_HLS_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/live/stream", self.addr)
    }

    pub fn set_live(&self, live: bool) {
        self.state.live.store(live, Ordering::SeqCst);
    }

    /// Stops (or resumes) making LL parts while staying live: a blocking reload for the next
    /// part then waits until `freeze(false)`, like a stalled encoder.
    pub fn freeze(&self, frozen: bool) {
        self.state.frozen.store(frozen, Ordering::SeqCst);
    }

    /// The query of a blocking reload of the media playlist that waits for the next part.
    /// The part `n` parts after the newest one: (its number, its `_HLS_msn`, its `_HLS_part`).
    pub fn part_ahead(&self, n: u64) -> (u64, u64, u64) {
        let target = self.state.parts.load(Ordering::SeqCst) + n;
        (target, target / PARTS, target % PARTS)
    }

    pub fn next_part_query(&self) -> String {
        let parts = self.state.parts.load(Ordering::SeqCst);
        format!("_HLS_msn={}&_HLS_part={}", parts / PARTS, parts % PARTS)
    }
}

fn reply(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", ctype.parse().unwrap());
    r
}

fn param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

async fn handle(s: Arc<OriginState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    s.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: req.headers().clone(),
    });
    if req.method() != http::Method::GET {
        return reply(StatusCode::NOT_FOUND, "text/plain", "404 page not found");
    }
    if let Some(want) = &s.behaviour.auth {
        let got = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            let mut r = unauthorized();
            r.headers_mut().insert(
                "www-authenticate",
                "Basic realm=\"mediamtx\"".parse().unwrap(),
            );
            return r;
        }
    }
    let Some(file) = path.strip_prefix("/live/stream/") else {
        return reply(StatusCode::NOT_FOUND, "text/plain", "404 page not found");
    };
    let q = query.as_deref();
    match session_suffix(&s, file, q).await {
        Ok(suffix) => serve(&s, file, q, &suffix).await,
        Err(r) => r,
    }
}

fn unauthorized() -> Response<Full<Bytes>> {
    reply(
        StatusCode::UNAUTHORIZED,
        "application/json",
        r#"{"status":"error","error":"authentication error"}"#,
    )
}

/// The session flow: the query to append to every URI of the answer, or the answer itself
/// (the cookieCheck redirect, 404 offline, 401 after the pause).
async fn session_suffix(
    s: &OriginState,
    file: &str,
    q: Option<&str>,
) -> Result<String, Response<Full<Bytes>>> {
    let b = &s.behaviour;
    let live = s.live.load(Ordering::SeqCst);
    let mut suffix = String::new();
    if file == "index.m3u8" {
        if b.sessions && param(q, "cookieCheck") != Some("1") {
            let mut r = reply(StatusCode::FOUND, "text/plain", "");
            r.headers_mut().insert(
                "location",
                "/live/stream/index.m3u8?cookieCheck=1".parse().unwrap(),
            );
            r.headers_mut().insert(
                "set-cookie",
                "cookieCheck=1; Secure; HttpOnly; SameSite=None; Partitioned"
                    .parse()
                    .unwrap(),
            );
            return Err(r);
        }
        if !live {
            return Err(reply(StatusCode::NOT_FOUND, "application/json", ""));
        }
        if b.sessions {
            let n = s.next_session.fetch_add(1, Ordering::SeqCst);
            let id = format!("0000000{n}-1f2d-4c3b-9a8e-0123456789ab");
            s.sessions.lock().unwrap().insert(id.clone());
            suffix = format!("?session={id}");
        }
    } else if b.sessions {
        let ok = param(q, "session").is_some_and(|id| s.sessions.lock().unwrap().contains(id));
        if !ok || !live {
            tokio::time::sleep(SESSION_PAUSE).await;
            return Err(unauthorized());
        }
        suffix = format!("?session={}", param(q, "session").unwrap());
    } else if !live {
        return Err(reply(StatusCode::NOT_FOUND, "application/json", ""));
    }
    Ok(suffix)
}

/// A file of a live stream, with `suffix` appended to every URI of a playlist.
async fn serve(
    s: &OriginState,
    file: &str,
    q: Option<&str>,
    suffix: &str,
) -> Response<Full<Bytes>> {
    let b = &s.behaviour;
    if file == "index.m3u8" && b.low_latency {
        let body = format!(
            "#EXTM3U\n#EXT-X-VERSION:10\n#EXT-X-INDEPENDENT-SEGMENTS\n\n#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS=\"avc1.4d401e\"\nvideo1_stream.m3u8{suffix}\n"
        );
        let mut r = reply(StatusCode::OK, "application/vnd.apple.mpegurl", body);
        r.headers_mut()
            .insert("cache-control", "public, max-age=30".parse().unwrap());
        return r;
    }
    if file == "index.m3u8" || file == "video1_stream.m3u8" {
        return media_playlist(s, q, suffix).await;
    }
    let redirect = s.redirect.lock().unwrap().clone();
    if let Some(location) = redirect.filter(|_| param(q, "cookieCheck") != Some("1")) {
        let mut r = reply(StatusCode::FOUND, "text/plain", "");
        r.headers_mut()
            .insert("location", location.parse().unwrap());
        return r;
    }
    if file.ends_with(".mp4") || file.ends_with(".ts") {
        let mut r = reply(StatusCode::OK, "video/mp4", format!("MEDIA:{file}"));
        let h = r.headers_mut();
        h.insert("cache-control", "public, max-age=3600".parse().unwrap());
        h.insert(
            "set-cookie",
            "hlsSession=abc; Secure; HttpOnly".parse().unwrap(),
        );
        h.insert("server", "fake-origin/1.0".parse().unwrap());
        h.insert("access-control-allow-origin", "*".parse().unwrap());
        h.insert("x-ready-us", "4321".parse().unwrap());
        h.insert("etag", format!("\"{file}\"").parse().unwrap());
        h.insert("last-modified", MEDIA_MODIFIED.parse().unwrap());
        h.insert("x-powered-by", "fake".parse().unwrap());
        return r;
    }
    if file.ends_with(".vtt") {
        // A hostile origin: a page where subtitles should be.
        return reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<script>alert(1)</script>",
        );
    }
    reply(StatusCode::NOT_FOUND, "text/plain", "404 page not found")
}

/// The LL media playlist, after waiting for the part a blocking reload asks for.
async fn media_playlist(s: &OriginState, q: Option<&str>, suffix: &str) -> Response<Full<Bytes>> {
    let parts = s.parts.load(Ordering::SeqCst);
    if let Some(msn) = param(q, "_HLS_msn") {
        let Ok(msn) = msn.parse::<u64>() else {
            return reply(StatusCode::BAD_REQUEST, "text/plain", "");
        };
        let part: u64 = param(q, "_HLS_part")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let target = msn * PARTS + part + 1;
        if target > parts + 2 * PARTS {
            return reply(StatusCode::BAD_REQUEST, "text/plain", "");
        }
        // Counts the wait as abandoned if this future is dropped before it ends.
        struct Waiting<'a>(&'a AtomicU64, bool);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let mut waiting = Waiting(&s.abandoned_waits, false);
        while s.parts.load(Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        waiting.1 = true;
        drop(waiting);
    }
    let parts = s.parts.load(Ordering::SeqCst);
    let segs = parts / PARTS;
    let first = segs.saturating_sub(4);
    let mut body = format!(
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.5\n#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-MAP:URI=\"init.mp4{suffix}\"\n"
    );
    for n in first..segs {
        body.push_str(&format!("#EXTINF:1.00000,\nseg{n}.mp4{suffix}\n"));
    }
    for p in segs * PARTS..parts {
        body.push_str(&format!(
            "#EXT-X-PART:DURATION=0.2,URI=\"part{p}.mp4{suffix}\"\n"
        ));
    }
    body.push_str(&format!(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{parts}.mp4{suffix}\"\n"
    ));
    let mut r = reply(StatusCode::OK, "application/vnd.apple.mpegurl", body);
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().unwrap());
    r.headers_mut()
        .insert("x-ready-us", "1234".parse().unwrap());
    r
}
