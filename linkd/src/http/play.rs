//! `/play/*`: the gate. A valid session cookie whose link is active (checked in memory) gets
//! the origin's answer; anything else gets 403 and the cookie cleared.

use super::session::{self, Session};
use super::{empty, full, text, Body, Web};
use crate::origin::{strip_response_headers, OriginError};
use crate::Shared;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use proto::LinkState;

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

/// Checks the request's session: signature, then the link's state in memory.
pub fn gate(web: &Web, shared: &Shared, headers: &http::HeaderMap) -> (Gate, Option<i64>) {
    let now = shared.links.now();
    let Some(s) = session::from_cookie_header(headers).and_then(|v| web.sessions.verify(v, now))
    else {
        return (Gate::Invalid, None);
    };
    match shared.links.check(s.link_id) {
        Some((LinkState::Active, exp)) => (Gate::Open(s), exp),
        Some((LinkState::Expired, exp)) => (Gate::Expired, exp),
        Some((LinkState::Disabled, exp)) => (Gate::Disabled, exp),
        None => (Gate::Invalid, None),
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
    let h = r.headers_mut();
    h.insert("x-link-state", HeaderValue::from_static(g.name()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(web.cookie_secure)) {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /play/_session`: the state of this viewer's link, for the player to poll.
pub fn session_state(web: &Web, shared: &Shared, req: &Request<Incoming>) -> Response<Body> {
    let (g, expires_at) = gate(web, shared, req.headers());
    if let Gate::Open(s) = g {
        shared.viewers.touch(s.id, s.link_id);
    }
    let body = serde_json::json!({
        "state": g.name(),
        "live": shared.stream.live(),
        "expires_at": expires_at,
    });
    let mut r = Response::new(full(body.to_string()));
    if !matches!(g, Gate::Open(_)) {
        *r.status_mut() = StatusCode::FORBIDDEN;
        if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(web.cookie_secure)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
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
pub async fn play(web: &Web, shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let session = match gate(web, shared, req.headers()) {
        (Gate::Open(s), _) => s,
        (g, _) => return refuse(web, g),
    };
    shared.viewers.touch(session.id, session.link_id);
    let raw = &req.uri().path()["/play/".len()..];
    let Ok(path) = super::path::sanitize(raw) else {
        return text(StatusCode::BAD_REQUEST, "this is not a file of the stream");
    };
    let query = req.uri().query();
    if query.is_some_and(|q| !super::path::query_ok(q)) {
        return text(StatusCode::BAD_REQUEST, "this is not a file of the stream");
    }
    let head = req.method() == Method::HEAD;
    match web.origin.get(&path, query, req.headers()).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            // MediaMTX 1.18+ answers 401 for a stream that has gone: to a viewer that is
            // "offline", like its 404, and never a password prompt.
            if parts.status == StatusCode::UNAUTHORIZED {
                return text(StatusCode::NOT_FOUND, "the stream is offline");
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
            text(
                StatusCode::BAD_GATEWAY,
                "the stream's origin is not reachable",
            )
        }
    }
}
