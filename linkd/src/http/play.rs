//! `/play/*`: the gate. A valid session cookie whose link is active (checked in memory) gets
//! the origin's answer; anything else gets 403 and the cookie cleared.

use super::session::{self, Session};
use super::{empty, full, text, Body, Web};
use crate::cache::{self, Cached};
use crate::origin::{strip_response_headers, Origin, OriginError};
use crate::Shared;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use proto::LinkState;
use std::sync::Arc;

/// What the gate decided about a request's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Plays.
    Open(Session),
    /// No cookie, or a forged, tampered or ended one, or its link is gone.
    Invalid,
    /// The link ran out.
    Expired,
    /// The link was switched off.
    Disabled,
}

impl Gate {
    fn name(self) -> &'static str {
        match self {
            Gate::Open(_) => "active",
            Gate::Invalid => "invalid",
            Gate::Expired => "expired",
            Gate::Disabled => "disabled",
        }
    }
}

/// Checks the request's session: the link it names (memory), its signature under that
/// link's key, then the link's state.
pub fn gate(web: &Web, shared: &Shared, headers: &http::HeaderMap) -> (Gate, Option<i64>) {
    let now = shared.links.now();
    let Some(claim) = session::from_cookie_header(headers).and_then(session::Claim::parse) else {
        return (Gate::Invalid, None);
    };
    let checked = shared.links.with_entry(claim.link_id, |e| {
        let s = web.sessions.check(&claim, &e.token, e.expires_at, now);
        s.map(|s| (s, e.state(now), e.expires_at))
    });
    match checked.flatten() {
        Some((s, LinkState::Active, exp)) => (Gate::Open(s), exp),
        Some((_, LinkState::Expired, exp)) => (Gate::Expired, exp),
        Some((_, LinkState::Disabled, exp)) => (Gate::Disabled, exp),
        None => (Gate::Invalid, None),
    }
}

/// A session's first fetch of the stream is when its link counts as opened (not the page,
/// which link previews fetch too).
fn first_fetch(shared: &Arc<Shared>, s: &Session) {
    if shared.links.mark_opened(s.link_id) {
        let note = shared
            .links
            .get(s.link_id)
            .map(|e| e.note)
            .unwrap_or_default();
        let (shared, id) = (shared.clone(), s.link_id);
        tokio::spawn(async move { shared.events.link_opened(id, note).await });
        tracing::info!(link_id = id, "link opened");
    }
}

fn refuse(web: &Web, g: Gate) -> Response<Body> {
    let mut r = text(
        StatusCode::FORBIDDEN,
        match g {
            Gate::Expired => "this link has expired",
            Gate::Disabled => "this link was switched off",
            _ => "no valid link for this request",
        },
    );
    r.headers_mut()
        .insert("x-link-state", HeaderValue::from_static(g.name()));
    end_session(web, g, &mut r);
    r
}

/// Clears the playback cookie of a refused request, and remembers why the link ended.
fn end_session(web: &Web, g: Gate, r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(web.cookie_secure)) {
        h.append(header::SET_COOKIE, v);
    }
    if matches!(g, Gate::Expired | Gate::Disabled) {
        if let Ok(v) = HeaderValue::from_str(&session::state_cookie(g.name(), web.cookie_secure)) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// `GET /play/_session`: the state of this viewer's link, for the player to poll.
pub fn session_state(web: &Web, shared: &Shared, req: &Request<Incoming>) -> Response<Body> {
    let (g, expires_at) = gate(web, shared, req.headers());
    let name = match g {
        Gate::Open(s) => {
            shared.viewers.touch(s.id, s.link_id);
            g.name()
        }
        // The session cookie was already cleared when the link ended.
        Gate::Invalid => session::ended_state(req.headers()).unwrap_or("invalid"),
        _ => g.name(),
    };
    let body = serde_json::json!({
        "state": name,
        "live": shared.stream.live(),
        "expires_at": expires_at,
    });
    let mut r = Response::new(full(body.to_string()));
    if !matches!(g, Gate::Open(_)) {
        *r.status_mut() = StatusCode::FORBIDDEN;
        end_session(web, g, &mut r);
    }
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET|HEAD /play/{path}`: the gated proxy.
pub async fn play(web: &Web, shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let session = match gate(web, shared, req.headers()) {
        (Gate::Open(s), _) => s,
        (g, _) => return refuse(web, g),
    };
    shared.viewers.touch(session.id, session.link_id);
    first_fetch(shared, &session);
    let raw = &req.uri().path()["/play/".len()..];
    let Ok(path) = super::path::sanitize(raw) else {
        return text(StatusCode::BAD_REQUEST, "this is not a file of the stream");
    };
    let query = req.uri().query();
    if query.is_some_and(|q| !super::path::query_ok(q)) {
        return text(StatusCode::BAD_REQUEST, "this is not a file of the stream");
    }
    let head = req.method() == Method::HEAD;
    // Conditional and range requests are personal: they go to the origin as they are.
    let personal = [
        header::RANGE,
        header::IF_RANGE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
    ]
    .iter()
    .any(|h| req.headers().contains_key(h));
    if personal {
        return proxy_direct(web, &path, query, req.headers(), head).await;
    }
    let key = cache::key(&path, query);
    let origin = web.origin.clone();
    let outcome = web
        .cache
        .get(key, &path, || {
            fetch_whole(origin, path.clone(), query.map(str::to_string))
        })
        .await;
    match outcome {
        Ok(c) => {
            if c.status == StatusCode::UNAUTHORIZED {
                return offline();
            }
            let mut r = Response::new(if head { empty() } else { full(c.body.clone()) });
            *r.status_mut() = c.status;
            *r.headers_mut() = c.headers.clone();
            r
        }
        Err(_) => bad_gateway(),
    }
}

/// MediaMTX 1.18+ answers 401 for a stream that has gone: to a viewer that is "offline",
/// like its 404, and never a password prompt.
fn offline() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "the stream is offline")
}

fn bad_gateway() -> Response<Body> {
    text(
        StatusCode::BAD_GATEWAY,
        "the stream's origin is not reachable",
    )
}

/// One shared fetch: the whole answer, cleaned, for the cache.
async fn fetch_whole(origin: Arc<Origin>, path: String, query: Option<String>) -> cache::Outcome {
    let resp = origin
        .get(&path, query.as_deref(), &HeaderMap::new())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "origin request failed");
            Arc::<str>::from(e.to_string())
        })?;
    let (mut parts, body) = resp.into_parts();
    let body = Limited::new(body, cache::MAX_ENTRY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "origin answer could not be read");
            Arc::<str>::from(e.to_string())
        })?;
    strip_response_headers(&mut parts.headers);
    Ok(Arc::new(Cached {
        status: parts.status,
        headers: parts.headers,
        body: body.to_bytes(),
    }))
}

/// Proxies a request straight through, streaming the body.
async fn proxy_direct(
    web: &Web,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    head: bool,
) -> Response<Body> {
    match web.origin.get(path, query, headers).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            if parts.status == StatusCode::UNAUTHORIZED {
                return offline();
            }
            strip_response_headers(&mut parts.headers);
            let body = if head { empty() } else { body.boxed() };
            Response::from_parts(parts, body)
        }
        Err(e) => {
            match e {
                OriginError::Redirect => tracing::warn!(error = %e, "origin answer refused"),
                _ => tracing::warn!(error = %e, "origin request failed"),
            }
            bad_gateway()
        }
    }
}
