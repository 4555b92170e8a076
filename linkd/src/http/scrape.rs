//! `GET /metrics` on the metrics listener: gathers the figures from the parts that hold them
//! and renders them with `metrics`. Any other path is 404.

use super::{full, text, Body, Web};
use crate::metrics::{self, Figures};
use crate::Shared;
use http::{header, HeaderValue, Request, Response, StatusCode};
use std::sync::atomic::Ordering;

/// The answer to a request on the metrics listener.
pub(super) fn answer<B>(shared: &Shared, web: &Web, req: &Request<B>) -> Response<Body> {
    if req.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    let mut r = Response::new(full(metrics::render(&web.requests, &figures(shared, web))));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn figures(shared: &Shared, web: &Web) -> Figures {
    let st = &web.cache.stats;
    Figures {
        upstream_fetches: st.upstream_fetches.load(Ordering::Relaxed),
        cache_hits: st.hits.load(Ordering::Relaxed),
        cache_hit_bytes: st.hit_bytes.load(Ordering::Relaxed),
        coalesced: st.coalesced.load(Ordering::Relaxed),
        stale: st.stale.load(Ordering::Relaxed),
        cache_bytes: web.cache.bytes(),
        sendfile_bytes: super::zerocopy::sent_bytes(),
        stream_live: shared.stream.live(),
        connections: web.conns.open(),
        refused: web.conns.refused(),
        viewers: shared.viewers.per_link().into_iter().collect(),
        active_links: shared.links.active_count(),
    }
}
