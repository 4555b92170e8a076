//! `/play/*`: the gate. A valid session cookie whose link is active (checked in memory) gets
//! the origin's answer; anything else gets 403 and the cookie cleared. Every answer has a
//! type set by linkd from the file's extension, `nosniff`, a policy that runs nothing, and a
//! `Cache-Control` with `private`, so no shared cache in front keeps gated bytes.

use super::conditional::{self, Reply};
use super::memo::Memo;
use super::path::{Kind, StreamFile};
use super::session::{self, Session};
use super::{full, sharing, zerocopy, Body, Web};
use crate::cache;
use crate::links::Refusal;
use crate::origin::OriginError;
use crate::viewers::Live;
use crate::{upstream, Shared};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request as HttpRequest, Response, StatusCode};
use hyper::body::Incoming;
use proto::LinkState;
use std::sync::Arc;

/// Content-Security-Policy of every `/play` answer: nothing in it runs.
pub const PLAY_CSP: &str = "sandbox; default-src 'none'";
/// `Cache-Control` of `/play` answers that must not be kept at all.
const NO_STORE: &str = "private, no-store";

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
    /// The operator ended the link's sessions (the link plays on for new openings).
    Kicked,
    /// The link has a new token: this session belongs to the old one.
    Rotated,
    /// A one-time link that another session has.
    Taken,
}

impl Gate {
    fn name(self) -> &'static str {
        match self {
            Gate::Open(_) => "active",
            Gate::Invalid => "invalid",
            Gate::Expired => "expired",
            Gate::Disabled => "disabled",
            Gate::Kicked => "kicked",
            Gate::Rotated => "rotated",
            Gate::Taken => "taken",
        }
    }
}

/// Checks the request's session: the link it names (memory), its signature under that
/// link's key (skipped for the value this connection's `memo` verified last under the same
/// keys and token), then the session's end and the link's state.
pub fn gate(web: &Web, shared: &Shared, headers: &HeaderMap, memo: &Memo) -> (Gate, Option<i64>) {
    let now = shared.links.now();
    let Some(value) = session::from_cookie_header(headers) else {
        return (Gate::Invalid, None);
    };
    let epoch = web.sessions.epoch();
    let recalled = memo.recall(value, epoch);
    let Some(claim) = recalled.or_else(|| session::Claim::parse(value)) else {
        return (Gate::Invalid, None);
    };
    let checked = shared.links.with_entry(claim.link_id, |e| {
        let verified = if recalled.is_some() && memo.verified_under(&e.token) {
            session::Sessions::admit(&claim, e.expires_at, now)
        } else {
            let s = web.sessions.check(&claim, &e.token, e.expires_at, now);
            if s.is_some() {
                memo.keep(value, &claim, epoch, &e.token);
            }
            s
        };
        let gate = match verified {
            Some(s) => match (e.state(now), e.rules.refusal(s.id)) {
                (LinkState::Active, None) => Gate::Open(s),
                (LinkState::Active, Some(Refusal::Kicked)) => Gate::Kicked,
                (LinkState::Active, Some(Refusal::Taken)) => Gate::Taken,
                (LinkState::Expired, _) => Gate::Expired,
                (LinkState::Disabled, _) => Gate::Disabled,
            },
            None if sharing::rotated(web, &claim, e, now) => Gate::Rotated,
            None => return (Gate::Invalid, None),
        };
        (gate, e.expires_at)
    });
    checked.unwrap_or((Gate::Invalid, None))
}

/// The 403 of a request whose session does not play (`g`), with the cookie cleared.
pub fn refuse(web: &Web, g: Gate) -> Response<Body> {
    refusal(web, g).map(full)
}

/// [`refuse`] before its body is made ready for the connection.
fn refusal(web: &Web, g: Gate) -> Response<Bytes> {
    let mut r = plain(
        StatusCode::FORBIDDEN,
        match g {
            Gate::Expired => "this link has expired",
            Gate::Disabled => "this link was switched off",
            Gate::Kicked => "this viewing was ended by the link's owner",
            Gate::Rotated => "this link was replaced by a new one",
            Gate::Taken => "this one-time link is being watched on another device",
            _ => "no valid link for this request",
        },
    );
    r.headers_mut()
        .insert("x-link-state", HeaderValue::from_static(g.name()));
    end_session(web, g, &mut r);
    r
}

/// Clears the playback cookie of a refused request, and remembers why the link ended.
fn end_session<B>(web: &Web, g: Gate, r: &mut Response<B>) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(web.cookie_secure)) {
        h.append(header::SET_COOKIE, v);
    }
    if !matches!(g, Gate::Open(_) | Gate::Invalid) {
        if let Ok(v) = HeaderValue::from_str(&session::state_cookie(g.name(), web.cookie_secure)) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// `GET /play/_session`: the state of this viewer's link, for the player to poll.
pub fn session_state(
    web: &Web,
    shared: &Shared,
    req: &HttpRequest<Incoming>,
    memo: &Memo,
) -> Response<Body> {
    let (g, expires_at) = gate(web, shared, req.headers(), memo);
    let mut renewed = None;
    let name = match g {
        Gate::Open(s) => {
            shared.viewers.polled(s.id);
            let now = shared.links.now();
            renewed = shared.links.with_entry(s.link_id, |e| {
                super::renew::cookie(web, now, &s, &e.token, e.expires_at)
            });
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
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    policies(h);
    if let Some(c) = renewed.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.append(header::SET_COOKIE, c);
    }
    r
}

/// A `/play` request the gate let through, with its file checked and its viewer counted
/// (`revoke::play` runs the steps: [`Request::start`], the shared fetch, [`Request::answer`]).
pub struct Request {
    session: Session,
    file: StreamFile,
    viewer: Arc<Live>,
}

impl Request {
    /// Checks the file `req` asks for and counts its viewer; `None` for anything but a
    /// stream file (answered with [`not_a_stream_file`]).
    pub fn start(
        shared: &Shared,
        session: Session,
        req: &HttpRequest<Incoming>,
    ) -> Option<Request> {
        let raw = &req.uri().path()["/play/".len()..];
        let file = StreamFile::parse(raw, req.uri().query()).ok()?;
        let viewer = shared.viewers.touch(session.id, session.link_id);
        Some(Request {
            session,
            file,
            viewer,
        })
    }

    /// The link the request plays.
    pub fn link_id(&self) -> i64 {
        self.session.link_id
    }

    /// The origin's answer for the file: memory's now, or the fetch to wait for (shared with
    /// every caller of the same upstream request), with linkd's own headers for a whole answer
    /// already in place.
    pub fn fetch(&self, web: &Web) -> cache::Begun {
        let file = &self.file;
        web.cache.begin(&file.key(), &file.name, || {
            // Only a caller that starts the fetch pays for these copies.
            let (origin, name, query) = (web.origin.clone(), file.name.clone(), file.query.clone());
            let kind = file.kind;
            async move {
                upstream::fetch(&origin, &name, query.as_deref())
                    .await
                    .map(|mut c| {
                        own_headers(&mut c.headers, kind);
                        c.body = zerocopy::file_backed(c.body);
                        Arc::new(c)
                    })
                    .map_err(|e| {
                        match e {
                            OriginError::Redirect => {
                                tracing::warn!(error = %e, "origin answer refused")
                            }
                            _ => tracing::warn!(error = %e, "origin request failed"),
                        }
                        Arc::<str>::from(e.to_string())
                    })
            }
        })
    }

    /// This request's answer from the shared `outcome`.
    pub fn answer(
        &self,
        web: &Web,
        shared: &Shared,
        outcome: cache::Outcome,
        req: &HttpRequest<Incoming>,
    ) -> Response<Bytes> {
        let s = &self.session;
        // Video received while live binds a one-time link to its first session.
        let video = self.file.kind != Kind::Playlist
            && matches!(&outcome, Ok(c) if c.status == StatusCode::OK);
        if video && !shared.links.bind_once(s.link_id, s.id) {
            return refusal(web, Gate::Taken);
        }
        let r = answer(outcome, req.headers(), req.method() == Method::HEAD);
        self.viewer.sent(r.body().len() as u64);
        r
    }
}

/// The 400 of a `/play` request for anything but a stream file.
pub fn not_a_stream_file() -> Response<Body> {
    plain(StatusCode::BAD_REQUEST, "this is not a file of the stream").map(full)
}

/// linkd's headers on an answer of a `kind` file: its type, ranges, caching and policies.
fn own_headers(h: &mut HeaderMap, kind: Kind) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if kind == Kind::Playlist {
            "private, no-cache"
        } else {
            "private, max-age=3600"
        }),
    );
    policies(h);
}

/// This request's answer from the shared one: its status, conditional and range requests
/// answered from memory, with the shared answer's headers (the origin's allowed ones and
/// linkd's own type and policies).
fn answer(outcome: cache::Outcome, req: &HeaderMap, head: bool) -> Response<Bytes> {
    let c = match outcome {
        Ok(c) if c.status == StatusCode::OK => c,
        Ok(c) => return origin_refusal(c.status),
        Err(_) => return bad_gateway(),
    };
    let len = c.body.len();
    let mut h = c.headers.clone();
    let (status, body) = match conditional::evaluate(req, &c.headers, len) {
        Reply::Whole => (StatusCode::OK, c.body.clone()),
        Reply::NotModified => (StatusCode::NOT_MODIFIED, Bytes::new()),
        Reply::Partial(r) => {
            content_range(
                &mut h,
                format_args!("bytes {}-{}/{len}", r.start, r.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, c.body.slice(r))
        }
        Reply::Unsatisfiable => {
            content_range(&mut h, format_args!("bytes */{len}"));
            (StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new())
        }
    };
    if head && status != StatusCode::NOT_MODIFIED {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut r = Response::new(if head { Bytes::new() } else { body });
    *r.status_mut() = status;
    *r.headers_mut() = h;
    r
}

fn content_range(h: &mut HeaderMap, value: std::fmt::Arguments<'_>) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        h.insert(header::CONTENT_RANGE, v);
    }
}

/// The headers every `/play` answer carries: nothing in it is ever sniffed into a type or
/// run as a page.
fn policies(h: &mut HeaderMap) {
    super::set_static(
        h,
        [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, PLAY_CSP),
        ],
    );
}

/// A plain-text `/play` answer that no cache stores.
fn plain(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(body.as_bytes()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    policies(h);
    r
}

/// A non-200 answer of the origin, in linkd's words. MediaMTX 1.18+ answers 401 for a stream
/// that has gone: to a viewer that is "offline", like its 404, and never a password prompt.
fn origin_refusal(status: StatusCode) -> Response<Bytes> {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND | StatusCode::GONE => {
            plain(StatusCode::NOT_FOUND, "the stream is offline")
        }
        s if s.is_client_error() => plain(
            StatusCode::BAD_REQUEST,
            "the stream's origin refused this request",
        ),
        _ => bad_gateway(),
    }
}

fn bad_gateway() -> Response<Bytes> {
    plain(
        StatusCode::BAD_GATEWAY,
        "the stream's origin is not reachable",
    )
}
