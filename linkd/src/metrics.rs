//! `/metrics` in Prometheus text format, on its own listener (`METRICS_ADDR`, off unless set):
//! requests by route and status, upstream fetches, cache hits and bytes, coalesced waiters,
//! expired answers given while they were refreshed, open and refused connections,
//! viewers per link, and whether the stream is live.

use crate::http::{full, Body, Route, Web};
use crate::Shared;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const ROUTES: [Route; 6] = [
    Route::Health,
    Route::Watch,
    Route::Session,
    Route::Play,
    Route::Asset,
    Route::NotFound,
];
const STATUSES: [u16; 15] = [
    200, 206, 304, 400, 403, 404, 405, 410, 414, 429, 431, 500, 502, 503, 0,
];

/// Request counters, one per route and status (0 = any other status).
pub struct RequestCounts {
    counts: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
}

impl Default for RequestCounts {
    fn default() -> Self {
        RequestCounts {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl RequestCounts {
    /// Counts one answered request.
    pub fn record(&self, route: Route, status: u16) {
        let r = ROUTES
            .iter()
            .position(|x| *x == route)
            .unwrap_or(ROUTES.len() - 1);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.counts[r][s].fetch_add(1, Ordering::Relaxed);
    }
}

/// The metrics page.
pub fn render(shared: &Shared, web: &Web) -> String {
    let mut out = String::new();
    out.push_str("# HELP tempstream_http_requests_total HTTP requests answered, by route and status (0 = other).\n");
    out.push_str("# TYPE tempstream_http_requests_total counter\n");
    for (r, route) in ROUTES.iter().enumerate() {
        for (s, status) in STATUSES.iter().enumerate() {
            let n = web.requests.counts[r][s].load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "tempstream_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    route.name()
                );
            }
        }
    }
    let st = &web.cache.stats;
    let counters = [
        (
            "tempstream_upstream_fetches_total",
            "Requests sent to the origin.",
            st.upstream_fetches.load(Ordering::Relaxed),
        ),
        (
            "tempstream_cache_hits_total",
            "Requests answered from memory.",
            st.hits.load(Ordering::Relaxed),
        ),
        (
            "tempstream_cache_hit_bytes_total",
            "Bytes answered from memory.",
            st.hit_bytes.load(Ordering::Relaxed),
        ),
        (
            "tempstream_coalesced_waiters_total",
            "Requests that waited for another request's origin fetch.",
            st.coalesced.load(Ordering::Relaxed),
        ),
        (
            "tempstream_cache_stale_hits_total",
            "Requests answered with an expired answer while one request refreshed it.",
            st.stale.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP tempstream_cache_bytes Bytes of origin answers held in memory.\n# TYPE tempstream_cache_bytes gauge\ntempstream_cache_bytes {}",
        web.cache.bytes()
    );
    let _ = writeln!(
        out,
        "# HELP tempstream_stream_live Whether the stream is live (1) or offline (0).\n# TYPE tempstream_stream_live gauge\ntempstream_stream_live {}",
        u8::from(shared.stream.live())
    );
    let (over_total, over_client) = web.conns.refused();
    let _ = writeln!(
        out,
        "# HELP tempstream_http_connections Open HTTP connections.\n# TYPE tempstream_http_connections gauge\ntempstream_http_connections {}\n\
         # HELP tempstream_http_connections_refused_total Connections refused with a 503, by the cap they were over.\n\
         # TYPE tempstream_http_connections_refused_total counter\n\
         tempstream_http_connections_refused_total{{cap=\"total\"}} {over_total}\n\
         tempstream_http_connections_refused_total{{cap=\"client\"}} {over_client}",
        web.conns.open()
    );
    out.push_str("# HELP tempstream_viewers Playback sessions watching now, by link id.\n# TYPE tempstream_viewers gauge\n");
    let mut per_link: Vec<(i64, u32)> = shared.viewers.per_link().into_iter().collect();
    per_link.sort();
    for (link, n) in per_link {
        let _ = writeln!(out, "tempstream_viewers{{link_id=\"{link}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP tempstream_active_links Links active now.\n# TYPE tempstream_active_links gauge\ntempstream_active_links {}",
        shared.links.active_count()
    );
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    web: Arc<Web>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
        };
        let (shared, web) = (shared.clone(), web.clone());
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (shared, web) = (shared.clone(), web.clone());
            async move {
                let r: Response<Body> = if req.uri().path() == "/metrics" {
                    let mut r = Response::new(full(render(&shared, &web)));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    r
                } else {
                    crate::http::text(StatusCode::NOT_FOUND, "not found")
                };
                Ok::<_, std::convert::Infallible>(r)
            }
        });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}
