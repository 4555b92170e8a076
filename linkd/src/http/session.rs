//! The playback credential in the `watch_session` cookie: a signed session, not the link token.
//!
//! Value: `v1.` + base64url(link id, session id, expiry; 24 bytes) + `.` + base64url(first 16
//! bytes of HMAC-SHA256 over `v1.` and the payload). The key lives in the database, so
//! sessions survive a restart; a tampered, truncated or forged value fails verification.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the cookie.
pub const COOKIE: &str = "watch_session";
/// Path the cookie is limited to.
pub const COOKIE_PATH: &str = "/play/";
/// How long a playback session lives. The open page renews it at each `/play/_session` poll,
/// so a closed page's session ends by itself this long after its last poll.
pub const SESSION_SECS: i64 = 60;

/// When a session issued or renewed at `now` ends: [`SESSION_SECS`] later, never after its
/// link's current expiry (`None`: permanent).
pub fn session_end(now: i64, link_expires_at: Option<i64>) -> i64 {
    let end = now + SESSION_SECS;
    link_expires_at.map_or(end, |e| e.min(end))
}

const PREFIX: &str = "v1.";
const PAYLOAD_LEN: usize = 24;
const MAC_LEN: usize = 16;
/// Exact length of a cookie value: prefix, 32 payload characters, dot, 22 MAC characters.
const VALUE_LEN: usize = 3 + 32 + 1 + 22;

/// A verified playback session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The link it plays.
    pub link_id: i64,
    /// Random id of this viewer's session.
    pub id: u64,
    /// When the credential stops being accepted (Unix seconds).
    pub expires_at: i64,
}

/// Signs and verifies sessions with one key.
#[derive(Clone)]
pub struct Sessions {
    mac: Hmac<Sha256>,
}

impl Sessions {
    /// A signer with `key` (32 random bytes kept by linkd).
    pub fn new(key: &[u8]) -> Sessions {
        Sessions {
            mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    /// A new session for link `link_id` that ends at `expires_at`.
    pub fn issue(&self, link_id: i64, expires_at: i64) -> (Session, String) {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the operating system's random source failed");
        let s = Session {
            link_id,
            id: u64::from_le_bytes(id),
            expires_at,
        };
        (s, self.encode(&s))
    }

    /// Session `s` (the same viewer) with the new end `expires_at`.
    pub fn renew(&self, s: &Session, expires_at: i64) -> String {
        self.encode(&Session { expires_at, ..*s })
    }

    fn encode(&self, s: &Session) -> String {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..8].copy_from_slice(&s.link_id.to_le_bytes());
        payload[8..16].copy_from_slice(&s.id.to_le_bytes());
        payload[16..].copy_from_slice(&s.expires_at.to_le_bytes());
        let body = B64.encode(payload);
        let mut mac = self.mac.clone();
        mac.update(PREFIX.as_bytes());
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{PREFIX}{body}.{}", B64.encode(&tag[..MAC_LEN]))
    }

    /// The session in `value` if its signature holds and it has not ended at `now`.
    pub fn verify(&self, value: &str, now: i64) -> Option<Session> {
        if value.len() != VALUE_LEN {
            return None;
        }
        let rest = value.strip_prefix(PREFIX)?;
        let (body, tag) = rest.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if tag.len() != MAC_LEN {
            return None;
        }
        let mut mac = self.mac.clone();
        mac.update(PREFIX.as_bytes());
        mac.update(body.as_bytes());
        mac.verify_truncated_left(&tag).ok()?;
        let payload = B64.decode(body).ok()?;
        if payload.len() != PAYLOAD_LEN {
            return None;
        }
        let s = Session {
            link_id: i64::from_le_bytes(payload[..8].try_into().ok()?),
            id: u64::from_le_bytes(payload[8..16].try_into().ok()?),
            expires_at: i64::from_le_bytes(payload[16..].try_into().ok()?),
        };
        (now < s.expires_at).then_some(s)
    }
}

/// The value of cookie `name` in the `Cookie` headers, if present.
fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

/// The value of the `watch_session` cookie, if present.
pub fn from_cookie_header(headers: &http::HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// A `Set-Cookie` value for a cookie under `/play/` with linkd's attributes.
fn cookie_header(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    )
}

/// `Set-Cookie` value that stores `value` for `max_age` seconds.
pub fn set_cookie(value: &str, max_age: i64, secure: bool) -> String {
    cookie_header(COOKIE, value, max_age, secure)
}

/// `Set-Cookie` value that deletes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

/// Name of the cookie that remembers, after the session cookie is cleared, why the link
/// stopped (`expired` or `disabled`), so the page can say so. It grants nothing.
pub const STATE_COOKIE: &str = "watch_state";

/// `Set-Cookie` value of [`STATE_COOKIE`].
pub fn state_cookie(state: &str, secure: bool) -> String {
    cookie_header(STATE_COOKIE, state, 600, secure)
}

/// `Set-Cookie` value that forgets [`STATE_COOKIE`] (a newly opened link starts afresh).
pub fn clear_state_cookie(secure: bool) -> String {
    cookie_header(STATE_COOKIE, "", 0, secure)
}

/// The ended state remembered in [`STATE_COOKIE`], if any.
pub fn ended_state(headers: &http::HeaderMap) -> Option<&'static str> {
    match cookie(headers, STATE_COOKIE)? {
        "expired" => Some("expired"),
        "disabled" => Some("disabled"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Sessions {
        Sessions::new(&[7u8; 32])
    }

    #[test]
    fn issued_sessions_verify_until_they_end() {
        let s = signer();
        let (session, value) = s.issue(42, 1000);
        assert_eq!(value.len(), VALUE_LEN);
        assert_eq!(s.verify(&value, 999), Some(session));
        assert_eq!(s.verify(&value, 1000), None);
    }

    #[test]
    fn forged_tampered_and_truncated_values_are_refused() {
        let s = signer();
        let (_, value) = s.issue(42, 1000);
        let other = Sessions::new(&[8u8; 32]).issue(42, 1000).1;
        let mut flipped = value.clone().into_bytes();
        flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let (body, _) = value.rsplit_once('.').unwrap();
        let cases = [
            other,
            flipped,
            value[..value.len() - 1].to_string(),
            format!("{value}A"),
            format!("{body}.AAAAAAAAAAAAAAAAAAAAAA"),
            value.replace("v1.", "v2."),
            String::new(),
            "v1..".into(),
        ];
        for c in cases {
            assert_eq!(s.verify(&c, 0), None, "{c}");
        }
    }

    #[test]
    fn sessions_end_a_minute_ahead_never_after_their_link() {
        let cases = [
            (1000, None, 1060),
            (1000, Some(5000), 1060),
            (1000, Some(1030), 1030),
            (1000, Some(1060), 1060),
        ];
        for (now, link, want) in cases {
            assert_eq!(session_end(now, link), want, "{now} {link:?}");
        }
        let s = signer();
        let (session, _) = s.issue(42, 1060);
        let renewed = s.renew(&session, 1120);
        let again = s.verify(&renewed, 1100).unwrap();
        assert_eq!(
            (again.id, again.link_id, again.expires_at),
            (session.id, 42, 1120)
        );
    }

    #[test]
    fn cookie_header_parsing() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=b; watch_session=xyz ; c=d".parse().unwrap(),
        );
        assert_eq!(from_cookie_header(&h), Some("xyz"));
        h.insert(http::header::COOKIE, "watch_sessionx=1".parse().unwrap());
        assert_eq!(from_cookie_header(&h), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("v", 60, true);
        assert_eq!(
            c,
            "watch_session=v; Path=/play/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("v", 60, false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
