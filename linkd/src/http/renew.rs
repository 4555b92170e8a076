//! Short-lived playback sessions that follow their link while the page is open.
//!
//! The watch page's cookie lives [`SESSION_SECS`]; every `/play/_session` poll of the open
//! page (once a second) answers with the same session renewed for as long again, never past
//! the link's current expiry, which `extend` may have moved. A closed page stops polling and
//! its session ends by itself within [`SESSION_SECS`]; an expired or switched-off link is
//! refused by the gate whatever the cookie says.

use super::session::{self, Session, SESSION_SECS};
use super::Web;

/// The `Set-Cookie` value renewing session `s` at `now`, for its link (`token`) that ends at
/// `link_expires_at` (`None`: permanent).
pub fn cookie(
    web: &Web,
    now: i64,
    s: &Session,
    token: &str,
    link_expires_at: Option<i64>,
) -> String {
    let end = session::session_end(now, link_expires_at);
    debug_assert!(end - now <= SESSION_SECS);
    let value = web.sessions.renew(s, token, end);
    session::set_cookie(&value, end - now, web.cookie_secure)
}
