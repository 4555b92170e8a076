//! linkd's HTTP server: the route table, connection limits, the access log and graceful drain.
//!
//! | method      | path                    | answer                                                   |
//! |-------------|-------------------------|----------------------------------------------------------|
//! | GET         | `/healthz`              | 200 `ok`                                                 |
//! | GET         | `/`                     | 200 `watch service is running` (as the Go service)       |
//! | GET         | `/live/stream/{token}`  | watch page + playback cookie; 404 / 410 page otherwise    |
//! | GET, HEAD   | `/play/_session`        | the session's state as JSON (200 active, 403 otherwise)   |
//! | GET, HEAD   | `/play/{path}`          | proxied to the origin with a valid cookie, else 403       |
//! | GET, HEAD   | `/assets/{name}`        | embedded page assets, cached for a year                   |
//! | anything    | anything else           | 404 page (405 for a known path with another method)       |

pub mod assets;
pub mod conditional;
pub mod page;
pub mod path;
pub mod play;
pub mod session;
pub mod watch;

use crate::origin::Origin;
use crate::Shared;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Response bodies: whole buffers or a stream from the origin.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// How long a client may take to send its request headers (slowloris bound).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// No body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// What the HTTP side holds beside [`Shared`]: pages, assets, the session signer, the origin.
pub struct Web {
    /// Rendered pages.
    pub pages: page::Pages,
    /// Embedded static files.
    pub assets: assets::Assets,
    /// Signs and checks playback sessions.
    pub sessions: session::Sessions,
    /// The upstream client.
    pub origin: Arc<Origin>,
    /// Failed link openings per client.
    pub limiter: watch::Limiter,
    /// Whether cookies are `Secure`.
    pub cookie_secure: bool,
    /// Shared origin answers.
    pub cache: crate::cache::Cache,
    /// Requests by route and status.
    pub requests: crate::metrics::RequestCounts,
}

impl Web {
    /// The HTTP side's state; `session_key` signs playback sessions.
    pub fn new(
        session_key: &[u8],
        origin: Arc<Origin>,
        cookie_secure: bool,
        cache_bytes: usize,
    ) -> Web {
        let assets = assets::Assets::new();
        Web {
            pages: page::Pages::new(assets.urls()),
            assets,
            sessions: session::Sessions::new(session_key),
            origin,
            limiter: watch::Limiter::default(),
            cookie_secure,
            cache: crate::cache::Cache::new(cache_bytes),
            requests: crate::metrics::RequestCounts::default(),
        }
    }
}

/// Serves HTTP on `listener` until `shutdown`, then lets open requests finish for `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    web: Arc<Web>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let web = web.clone();
        let service = hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            let web = web.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(shared, web, req, peer).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("http requests still running after the grace period; dropping them");
    }
}

/// The route a request took, for the access log (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`
    Health,
    /// `/live/stream/{token}`
    Watch,
    /// `/play/_session`
    Session,
    /// `/play/{path}`
    Play,
    /// `/assets/{name}`
    Asset,
    /// anything else
    NotFound,
}

impl Route {
    /// The route's name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Route::Health => "healthz",
            Route::Watch => "watch",
            Route::Session => "session",
            Route::Play => "play",
            Route::Asset => "asset",
            Route::NotFound => "not_found",
        }
    }
}

/// Picks the route of a path.
pub fn route_of(path: &str) -> Route {
    if path == "/healthz" || path == "/" {
        Route::Health
    } else if path.starts_with("/live/stream/") {
        Route::Watch
    } else if path == "/play/_session" {
        Route::Session
    } else if path.starts_with("/play/") {
        Route::Play
    } else if path.starts_with("/assets/") {
        Route::Asset
    } else {
        Route::NotFound
    }
}

async fn handle(
    shared: Arc<Shared>,
    web: Arc<Web>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let start = Instant::now();
    let route = route_of(req.uri().path());
    let method = req.method().clone();
    let client = client_ip(&req, peer, shared.config.http_trusted_proxy_count);
    let response = dispatch(&shared, &web, route, req, client).await;
    let status = response.status().as_u16();
    web.requests.record(route, status);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if route == Route::Play || route == Route::Asset || route == Route::Session {
        tracing::debug!(%method, route = route.name(), status, ms, %client, "http");
    } else {
        tracing::info!(%method, route = route.name(), status, ms, %client, "http");
    }
    response
}

async fn dispatch(
    shared: &Arc<Shared>,
    web: &Web,
    route: Route,
    req: Request<Incoming>,
    client: IpAddr,
) -> Response<Body> {
    // Only origin-form targets: an absolute URL names another server.
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        return text(StatusCode::BAD_REQUEST, "bad request target");
    }
    let get_or_head = req.method() == Method::GET || req.method() == Method::HEAD;
    if !get_or_head && route != Route::NotFound {
        let mut r = match route {
            Route::Watch => web.pages.error(page::ErrorPage::MethodNotAllowed),
            _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        };
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match route {
        Route::Health if req.uri().path() == "/" => {
            text(StatusCode::OK, "watch service is running")
        }
        Route::Health => text(StatusCode::OK, "ok"),
        Route::Watch => watch::watch(web, shared, req.uri().path(), client),
        Route::Session => play::session_state(web, shared, &req),
        Route::Play => play::play(web, shared, req).await,
        Route::Asset => {
            let name = &req.uri().path()["/assets/".len()..];
            web.assets
                .serve(name, req.method() == Method::HEAD)
                .unwrap_or_else(|| web.pages.error(page::ErrorPage::NotFound))
        }
        Route::NotFound => web.pages.error(page::ErrorPage::NotFound),
    }
}

/// The client's address: the peer, or with `trusted` proxies in front, the entry of
/// `X-Forwarded-For` that the outermost trusted proxy added.
pub fn client_ip<B>(req: &Request<B>, peer: SocketAddr, trusted: u32) -> IpAddr {
    if trusted == 0 {
        return peer.ip();
    }
    // Each trusted proxy appends the address it was connected from, so the entry `trusted`
    // places from the end is the client as the outermost trusted proxy saw it. With fewer
    // entries, the first one is used. Walks the header values from the end without
    // allocating (this runs on every request).
    let mut hops = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.rsplit(','))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut last = None;
    for _ in 1..trusted {
        match hops.next() {
            Some(h) => last = Some(h),
            None => break,
        }
    }
    match hops.next().or(last) {
        Some(h) => h.parse().unwrap_or(peer.ip()),
        None => peer.ip(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_table() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        // (X-Forwarded-For, trusted proxies, expected client)
        let cases = [
            (None, 0, "10.0.0.9"),
            (Some("203.0.113.7"), 0, "10.0.0.9"),
            (Some("203.0.113.7"), 1, "203.0.113.7"),
            (Some("198.51.100.1, 203.0.113.7"), 1, "203.0.113.7"),
            (Some("198.51.100.1, 203.0.113.7"), 2, "198.51.100.1"),
            (None, 1, "10.0.0.9"),
            (Some("garbage"), 1, "10.0.0.9"),
        ];
        for (xff, trusted, want) in cases {
            let mut b = Request::builder();
            if let Some(x) = xff {
                b = b.header("x-forwarded-for", x);
            }
            let req = b.body(()).unwrap();
            assert_eq!(
                client_ip(&req, peer, trusted).to_string(),
                want,
                "{xff:?} {trusted}"
            );
        }
    }
}
