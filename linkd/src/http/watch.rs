//! `GET /live/stream/{token}`: opens a link. An active link gets the watch page and a fresh
//! playback session in the cookie; anything else gets a page that says why, and no cookie.
//! Malformed tokens are refused before any lookup, and clients that keep trying bad tokens
//! are slowed down with 429.

use super::page::{ErrorPage, PlayerConfig};
use super::session::{self, MAX_SESSION_SECS};
use super::{Body, Web};
use crate::Shared;
use http::{header, HeaderValue, Response};
use proto::LinkState;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed openings allowed per client address and window.
pub const MAX_FAILURES: u32 = 20;
/// The window of [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Counts failed link openings per client address.
#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Limiter {
    fn blocked(&self, ip: IpAddr) -> bool {
        let f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.get(&ip)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    fn fail(&self, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() > 10_000 {
            f.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let e = f.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        if e.0 == MAX_FAILURES {
            tracing::warn!(client = %ip, "too many invalid links tried; slowing this client down");
        }
    }
}

/// Opens the link named in `path` (`/live/stream/{token}`).
pub fn watch(web: &Web, shared: &Arc<Shared>, path: &str, client: IpAddr) -> Response<Body> {
    if web.limiter.blocked(client) {
        return web.pages.error(ErrorPage::TooManyRequests);
    }
    let token = &path["/live/stream/".len()..];
    let Some(entry) = shared.links.by_token(token) else {
        web.limiter.fail(client);
        return web.pages.error(ErrorPage::InvalidLink);
    };
    let now = shared.links.now();
    match entry.state(now) {
        LinkState::Expired => return web.pages.error(ErrorPage::Expired),
        LinkState::Disabled => return web.pages.error(ErrorPage::Disabled),
        LinkState::Active => {}
    }
    let ends = entry
        .expires_at
        .unwrap_or(i64::MAX)
        .min(now + MAX_SESSION_SECS);
    let (s, value) = web.sessions.issue(entry.id, ends);
    shared.viewers.touch(s.id, entry.id);
    if shared.links.mark_opened(entry.id) {
        let shared = shared.clone();
        let note = entry.note.clone();
        tokio::spawn(async move { shared.events.link_opened(entry.id, note).await });
    }
    tracing::info!(link_id = entry.id, "link opened");
    let cfg = PlayerConfig {
        play_url: "/play/index.m3u8",
        session_url: "/play/_session",
        expires_at: entry.expires_at,
    };
    let mut r = web.pages.watch(&shared.config.stream_title, &cfg);
    let cookie = session::set_cookie(&value, ends - now, web.cookie_secure);
    for c in [cookie, session::clear_state_cookie(web.cookie_secure)] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}
