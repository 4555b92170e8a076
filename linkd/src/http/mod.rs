//! linkd's HTTP server: the route table, the accept loop both listeners share (`listen`:
//! connection limits in `conns`, timeouts, graceful drain), the client's address (`peers`),
//! the access log, the metrics page (`scrape`, on `METRICS_ADDR` only) and the media server's
//! authentication calls (`media`, on `MEDIA_AUTH_ADDR` only; its route table is there).
//!
//! | method      | path                    | answer                                                   |
//! |-------------|-------------------------|----------------------------------------------------------|
//! | GET         | `/healthz`              | 200 `ok`                                                 |
//! | GET         | `/`                     | 200 `watch service is running` (as the Go service)       |
//! | GET, HEAD   | `/live/stream/{token}`  | watch page + playback cookie (not for HEAD or previews)   |
//! | GET, HEAD   | `/play/_session`        | the session's state as JSON (200 active, 403 otherwise)   |
//! | GET, HEAD   | `/play/{path}`          | proxied to the origin with a valid cookie, else 403       |
//! | GET, HEAD   | `/assets/{name}`        | embedded page assets, cached for a year                   |
//! | anything    | anything else           | 404 page (405 for a known path with another method)       |

pub(crate) mod assets;
pub(crate) mod conditional;
pub(crate) mod conns;
mod device;
pub(crate) mod limiter;
mod listen;
mod media;
pub(crate) mod memo;
pub(crate) mod page;
pub(crate) mod path;
pub(crate) mod peers;
pub(crate) mod play;
pub(crate) mod renew;
pub(crate) mod revoke;
mod scrape;
pub(crate) mod session;
pub(crate) mod sharing;
mod timer;
pub(crate) mod watch;
pub(crate) mod zerocopy;

pub(crate) use listen::{serve, Site};

use crate::origin::Origin;
use crate::Shared;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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

/// Sets each header of `pairs` to its fixed value, in that order.
pub fn set_static<const N: usize>(h: &mut HeaderMap, pairs: [(HeaderName, &'static str); N]) {
    for (name, value) in pairs {
        h.insert(name, HeaderValue::from_static(value));
    }
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
    /// Signs and checks playback sessions (shared with the key rotation).
    pub sessions: Arc<session::Sessions>,
    /// The upstream client.
    pub origin: Arc<Origin>,
    /// Failed link openings per client.
    pub limiter: limiter::Limiter,
    /// Whether cookies are `Secure`.
    pub cookie_secure: bool,
    /// Shared origin answers.
    pub cache: crate::cache::Cache,
    /// Requests by route and status.
    pub requests: crate::metrics::RequestCounts,
    /// Open connections and the caps on them.
    pub conns: Arc<conns::Conns>,
}

impl Web {
    /// The HTTP side's state; `sessions` signs playback sessions.
    pub fn new(
        sessions: Arc<session::Sessions>,
        origin: Arc<Origin>,
        cookie_secure: bool,
        cache_bytes: usize,
        conns: Arc<conns::Conns>,
    ) -> Web {
        let assets = assets::Assets::new();
        Web {
            pages: page::Pages::new(assets.urls()),
            assets,
            sessions,
            origin,
            limiter: limiter::Limiter::default(),
            cookie_secure,
            cache: crate::cache::Cache::new(cache_bytes),
            requests: crate::metrics::RequestCounts::default(),
            conns,
        }
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

/// The future of one request's answer, as the connection holds it: ready at once for nearly
/// every request, boxed for the few that wait (for the origin, or on the media server's
/// listener). Small, so that the connection moves and keeps little per request.
pub(crate) enum Answer {
    /// Answered already.
    Ready(Option<Response<Body>>),
    /// Still to come.
    Later(std::pin::Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
}

impl Future for Answer {
    type Output = Result<Response<Body>, std::convert::Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            // Taken once; hyper never polls an answer again after it is ready.
            Answer::Ready(r) => Poll::Ready(Ok(r
                .take()
                .unwrap_or_else(|| text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")))),
            Answer::Later(f) => f.as_mut().poll(cx).map(Ok),
        }
    }
}

/// What the access log says of a request, gathered before it is answered.
struct Access {
    route: Route,
    quiet: bool,
    /// When it came, its method and client: only for a request that is logged.
    logged: Option<(Instant, Method, IpAddr)>,
}

impl Access {
    /// Counts the answer `r` and logs it.
    fn done(self, web: &Web, r: &Response<Body>) {
        let status = r.status().as_u16();
        web.requests.record(self.route.name(), status);
        let Some((start, method, client)) = self.logged else {
            return;
        };
        let (route, ms) = (self.route.name(), start.elapsed().as_secs_f64() * 1000.0);
        if self.quiet {
            tracing::debug!(%method, route, status, ms, %client, "http");
        } else {
            tracing::info!(%method, route, status, ms, %client, "http");
        }
    }
}

/// What one connection of the main site keeps across its requests.
#[derive(Default)]
pub(crate) struct Conn {
    /// The playback cookie it verified last.
    pub memo: memo::Memo,
    /// Asked for by an answer cut short: the connection then ends with a reset.
    pub reset: conns::Reset,
}

/// One request of the main site on connection `conn`: routed, answered, counted and logged.
pub(crate) fn handle(
    shared: &Arc<Shared>,
    web: &Arc<Web>,
    req: Request<Incoming>,
    peer: SocketAddr,
    conn: &Conn,
) -> Answer {
    let route = route_of(req.uri().path());
    // Media requests are logged at debug level: without it they pay for no clock or address.
    let quiet = matches!(route, Route::Play | Route::Asset | Route::Session);
    let logged = (!quiet || tracing::enabled!(tracing::Level::DEBUG)).then(|| {
        (
            Instant::now(),
            req.method().clone(),
            client_of(shared, &req, peer),
        )
    });
    let access = Access {
        route,
        quiet,
        logged,
    };
    match dispatch(shared, web, route, req, peer, conn) {
        Answer::Ready(r) => {
            if let Some(r) = &r {
                access.done(web, r);
            }
            Answer::Ready(r)
        }
        Answer::Later(later) => {
            let web = web.clone();
            Answer::Later(Box::pin(async move {
                let r = later.await;
                access.done(&web, &r);
                r
            }))
        }
    }
}

/// The client's address: `peer`, or what the trusted proxies in front say.
fn client_of(shared: &Shared, req: &Request<Incoming>, peer: SocketAddr) -> IpAddr {
    let cfg = &shared.config;
    peers::client_ip(
        req,
        peer,
        &cfg.http_trusted_proxies,
        cfg.http_trusted_proxy_count,
    )
}

/// The answer of `route` to `req` from `peer`: now, or the future of a `/play` answer that
/// waits for the origin.
fn dispatch(
    shared: &Arc<Shared>,
    web: &Arc<Web>,
    route: Route,
    req: Request<Incoming>,
    peer: SocketAddr,
    conn: &Conn,
) -> Answer {
    if route == Route::Play && is_get_or_head(&req) && origin_form(&req) {
        return revoke::play(web, shared, req, conn);
    }
    Answer::Ready(Some(answer_now(shared, web, route, req, peer, &conn.memo)))
}

/// Whether `req` is a GET or a HEAD.
fn is_get_or_head(req: &Request<Incoming>) -> bool {
    req.method() == Method::GET || req.method() == Method::HEAD
}

/// Whether `req`'s target is in origin form: an absolute URL names another server.
fn origin_form(req: &Request<Incoming>) -> bool {
    req.uri().scheme().is_none() && req.uri().authority().is_none()
}

/// The answer of every request but a `/play` file's.
fn answer_now(
    shared: &Arc<Shared>,
    web: &Web,
    route: Route,
    req: Request<Incoming>,
    peer: SocketAddr,
    memo: &memo::Memo,
) -> Response<Body> {
    if !origin_form(&req) {
        return text(StatusCode::BAD_REQUEST, "bad request target");
    }
    if !is_get_or_head(&req) && route != Route::NotFound {
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
        Route::Watch => watch::watch(web, shared, &req, client_of(shared, &req, peer)),
        Route::Session => play::session_state(web, shared, &req, memo),
        // Answered by `dispatch`; here only if it were ever routed another way.
        Route::Play => text(StatusCode::BAD_REQUEST, "bad request target"),
        Route::Asset => {
            let name = &req.uri().path()["/assets/".len()..];
            web.assets
                .serve(name, req.method() == Method::HEAD)
                .unwrap_or_else(|| web.pages.error(page::ErrorPage::NotFound))
        }
        Route::NotFound => web.pages.error(page::ErrorPage::NotFound),
    }
}
