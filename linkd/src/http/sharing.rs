//! Sharing limits at the watch page: who may open a link with a viewer cap or a one-time
//! link, and how a device that already watches such a link is known again when it reloads.
//!
//! A page of a limited link gets, beside the playback cookie, a *slot cookie*
//! (`watch_slot_{id}`, `Path=/live/stream/`, living as long as the link, at most 30 days):
//! its session id signed under a key of its own (the key for `device\0` + token) and for the
//! negated link id, so it never verifies as a playback session and its key is kept apart
//! from the session key `/play` uses. Opening the link again with it keeps the same
//! session: the same slot under the cap, the same binding of a one-time link. The rules
//! themselves live in `links::sharing`; a session refused by them gets its reason at `/play`.

use super::page::ErrorPage;
use super::session::{self, Claim, Session, MAX_SESSION_SECS};
use super::Web;
use crate::links::Entry;
use crate::token::Token;
use crate::Shared;
use http::HeaderMap;

/// The link's key for slot cookies is derived from this and its token.
fn device_token(token: &Token) -> Token {
    Token::from_stored(format!("device\0{}", token.expose()))
}

/// The slot cookie's name for link `id`.
fn slot_cookie_name(id: i64) -> String {
    format!("watch_slot_{id}")
}

/// The session id this browser already has for link `e`, from its slot cookie.
fn known_device(web: &Web, e: &Entry, headers: &HeaderMap, now: i64) -> Option<u64> {
    let value = session::cookie(headers, &slot_cookie_name(e.id))?;
    let claim = Claim::parse(value).filter(|c| c.link_id == -e.id)?;
    let s = web
        .sessions
        .check(&claim, &device_token(&e.token), None, now)?;
    Some(s.id)
}

/// The `Set-Cookie` value of link `e`'s slot cookie for session `id`.
fn slot_cookie(web: &Web, e: &Entry, id: u64, now: i64) -> String {
    let end = e
        .expires_at
        .map_or(now + MAX_SESSION_SECS, |x| x.min(now + MAX_SESSION_SECS));
    let s = Session {
        link_id: -e.id,
        id,
        expires_at: end,
    };
    let value = web.sessions.renew(&s, &device_token(&e.token), end);
    let secure = if web.cookie_secure { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/live/stream/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        slot_cookie_name(e.id),
        end - now
    )
}

fn random_id() -> u64 {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("the operating system's random source failed");
    u64::from_le_bytes(id)
}

/// Opens active link `e` for a viewer: a playback session (the device's own again when it
/// has one) and its `Set-Cookie` values, or the page that says why not: a one-time link
/// another device has, or the viewer cap reached.
pub fn open(
    web: &Web,
    shared: &Shared,
    e: &Entry,
    headers: &HeaderMap,
    now: i64,
) -> Result<(Session, Vec<String>), ErrorPage> {
    let rules = &e.rules;
    let limited = rules.limits.any();
    let known = limited
        .then(|| known_device(web, e, headers, now))
        .flatten()
        .filter(|id| rules.refusal(*id).is_none());
    if rules.limits.once && rules.bound.is_some() && known.is_none() {
        return Err(ErrorPage::Taken);
    }
    if let Some(cap) = rules.limits.max_viewers {
        // This gate's devices and the other gates' (in memory, refreshed by presence).
        let devices = shared
            .viewers
            .count_of(e.id, |s| Some(s) != known && rules.refusal(s).is_none())
            + shared.gates.remote_on(e.id);
        if devices >= cap {
            return Err(ErrorPage::InUse { devices });
        }
    }
    let id = known.unwrap_or_else(|| rules.session_id(random_id()));
    let ends = session::session_end(now, e.expires_at);
    let s = Session {
        link_id: e.id,
        id,
        expires_at: ends,
    };
    let value = web.sessions.renew(&s, &e.token, ends);
    let mut cookies = vec![session::set_cookie(&value, ends - now, web.cookie_secure)];
    if limited {
        cookies.push(slot_cookie(web, e, id, now));
    }
    Ok((s, cookies))
}

/// Whether `claim`, which does not verify under link `e`'s token, was a session of the
/// token `e` had before its last rotation (so the page can say the link has a new URL).
pub fn rotated(web: &Web, claim: &Claim<'_>, e: &Entry, now: i64) -> bool {
    e.rules
        .previous
        .as_ref()
        .is_some_and(|old| web.sessions.check(claim, old, e.expires_at, now).is_some())
}
