//! The playback credential in the `watch_session` cookie: a signed session, not the link token.
//!
//! Value: `v2.` + base64url(link id, session id, expiry, key id; 28 bytes) + `.` + base64url
//! (first 16 bytes of HMAC-SHA256 over `v2.` and the payload). The MAC key is the link's own:
//! HMAC-SHA256(master key, `session\0` + link token), so a copy of the database taken before a
//! link existed cannot sign sessions for it. Master keys are kept by id (the cookie names
//! the one that signed it) and rotated with `linkctl signing-key rotate`. A tampered,
//! truncated or forged value fails verification, and a claimed expiry beyond
//! [`MAX_SESSION_SECS`] from now is refused.

use crate::sync::{read, write};
use crate::token::Token;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

mod cookies;

pub(super) use cookies::cookie;
pub use cookies::{
    clear_cookie, clear_state_cookie, ended_state, from_cookie_header, set_cookie, state_cookie,
};
/// Longest expiry a cookie may claim (a bound on forged or old values; linkd itself issues
/// [`SESSION_SECS`]).
pub const MAX_SESSION_SECS: i64 = 30 * 86400;
/// How long a playback session lives. The open page renews it at each `/play/_session` poll,
/// so a closed page's session ends by itself this long after its last poll.
pub const SESSION_SECS: i64 = 60;

/// When a session issued or renewed at `now` ends: [`SESSION_SECS`] later, never after its
/// link's current expiry (`None`: permanent).
pub fn session_end(now: i64, link_expires_at: Option<i64>) -> i64 {
    let end = now + SESSION_SECS;
    link_expires_at.map_or(end, |e| e.min(end))
}

const PREFIX: &str = "v2.";
const PAYLOAD_LEN: usize = 28;
const MAC_LEN: usize = 16;
/// Characters of the base64 payload and of the base64 MAC.
const BODY_CHARS: usize = 38;
const TAG_CHARS: usize = 22;
/// Exact length of a cookie value: prefix, payload, dot, MAC.
pub const VALUE_LEN: usize = PREFIX.len() + BODY_CHARS + 1 + TAG_CHARS;

/// A verified playback session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The link it plays.
    pub link_id: i64,
    /// Random id of this viewer's session.
    pub id: u64,
    /// When the credential stops being accepted (Unix seconds): what it claims, never later
    /// than its link's expiry.
    pub expires_at: i64,
}

/// What a cookie value says before its signature is checked: enough to find the link and
/// the key that must have signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The link it names.
    pub link_id: i64,
    id: u64,
    expires_at: i64,
    key_id: u32,
    body: &'a str,
    tag: [u8; MAC_LEN],
}

impl<'a> Claim<'a> {
    /// Parses a cookie value; `None` for anything not shaped like one.
    pub fn parse(value: &'a str) -> Option<Claim<'a>> {
        if value.len() != VALUE_LEN {
            return None;
        }
        let (body, tag) = value.strip_prefix(PREFIX)?.split_once('.')?;
        let tag: [u8; MAC_LEN] = B64.decode(tag).ok()?.try_into().ok()?;
        let payload = B64.decode(body).ok()?;
        if payload.len() != PAYLOAD_LEN {
            return None;
        }
        let word =
            |r: std::ops::Range<usize>| -> [u8; 8] { payload[r].try_into().unwrap_or([0; 8]) };
        Some(Claim {
            link_id: i64::from_le_bytes(word(0..8)),
            id: u64::from_le_bytes(word(8..16)),
            expires_at: i64::from_le_bytes(word(16..24)),
            key_id: u32::from_le_bytes(payload[24..28].try_into().ok()?),
            body,
            tag,
        })
    }
}

impl Claim<'static> {
    /// This claim again for `value`, the cookie value it was parsed from (`memo` keeps
    /// claims detached from their values).
    pub(super) fn attach<'b>(&self, value: &'b str) -> Claim<'b> {
        let body = value
            .get(PREFIX.len()..PREFIX.len() + BODY_CHARS)
            .unwrap_or("");
        Claim { body, ..*self }
    }
}

impl Claim<'_> {
    /// This claim without the value it borrows, to be kept; [`Claim::attach`] gives it back.
    pub(super) fn detach(&self) -> Claim<'static> {
        Claim { body: "", ..*self }
    }
}

/// Most links' keys kept at once; past it the cache starts afresh (a bound, never reached
/// by a real link table).
const MAX_LINK_KEYS: usize = 1 << 16;

/// The master keys by id, the one new sessions are signed with, and each link's key derived
/// from them once (the derivation costs more than checking a cookie).
struct Keyring {
    current: u32,
    masters: Vec<(u32, Hmac<Sha256>)>,
    /// (master key id, link id) -> the token the key was derived from, and the keyed MAC.
    links: HashMap<(u32, i64), (Token, Hmac<Sha256>)>,
}

impl Keyring {
    fn master(&self, id: u32) -> Option<&Hmac<Sha256>> {
        self.masters.iter().find(|(k, _)| *k == id).map(|(_, m)| m)
    }
}

/// Signs and verifies sessions with per-link keys derived from the master keys.
pub struct Sessions {
    ring: RwLock<Keyring>,
    /// Bumped by every [`Sessions::install`]: a cookie verified under an earlier epoch is
    /// checked again (see `memo`).
    epoch: AtomicU64,
}

impl Sessions {
    /// A signer with master `keys` (id, 32 random bytes kept by linkd); new sessions are
    /// signed with key `current`, which must be one of them.
    pub fn new(keys: &[(u32, Vec<u8>)], current: u32) -> Sessions {
        let s = Sessions {
            ring: RwLock::new(Keyring {
                current,
                masters: Vec::new(),
                links: HashMap::new(),
            }),
            epoch: AtomicU64::new(0),
        };
        s.install(keys, current);
        s
    }

    /// A signer with one master key, id 1 (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn single(key: &[u8]) -> Sessions {
        Sessions::new(&[(1, key.to_vec())], 1)
    }

    /// Replaces the master keys (after a rotation): sessions of keys no longer given stop
    /// verifying at once.
    pub fn install(&self, keys: &[(u32, Vec<u8>)], current: u32) {
        let ring = Keyring {
            current,
            masters: keys
                .iter()
                .map(|(id, k)| {
                    let mac = Hmac::new_from_slice(k).expect("HMAC takes keys of any length");
                    (*id, mac)
                })
                .collect(),
            links: HashMap::new(),
        };
        assert!(
            ring.master(current).is_some(),
            "the current key is one of the keys"
        );
        let mut held = write(&self.ring);
        *held = ring;
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The number of key installs so far: changes whenever the master keys do.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The ids of the master keys and of the one new sessions are signed with.
    pub fn key_ids(&self) -> (Vec<u32>, u32) {
        let ring = read(&self.ring);
        (
            ring.masters.iter().map(|(id, _)| *id).collect(),
            ring.current,
        )
    }

    /// Link `link_id`'s key (from its `token`) under master key `key_id`, keyed and ready to
    /// take a cookie body; `None` if there is no such master key.
    fn link_key(&self, key_id: u32, link_id: i64, token: &Token) -> Option<Hmac<Sha256>> {
        let mac = {
            let ring = read(&self.ring);
            match ring.links.get(&(key_id, link_id)) {
                Some((t, mac)) if t == token => return Some(mac.clone()),
                _ => derive(ring.master(key_id)?, token),
            }
        };
        let mut ring = write(&self.ring);
        // A rotation in between may have dropped the master key: keep only what it holds.
        if ring.master(key_id).is_some() {
            if ring.links.len() >= MAX_LINK_KEYS {
                ring.links.clear();
            }
            ring.links
                .insert((key_id, link_id), (token.clone(), mac.clone()));
        }
        Some(mac)
    }

    /// A new session for the link `link_id` with `token`, ending at `expires_at` (tests; the
    /// watch page makes its session ids in `http::sharing`, which signs them with `renew`).
    #[cfg(any(test, feature = "testing"))]
    pub fn issue(&self, link_id: i64, token: &Token, expires_at: i64) -> (Session, String) {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the operating system's random source failed");
        let s = Session {
            link_id,
            id: u64::from_le_bytes(id),
            expires_at,
        };
        (s, self.sign(&s, token))
    }

    /// Session `s` (the same viewer) of the link with `token`, with the new end `expires_at`.
    pub fn renew(&self, s: &Session, token: &Token, expires_at: i64) -> String {
        self.sign(&Session { expires_at, ..*s }, token)
    }

    fn sign(&self, s: &Session, token: &Token) -> String {
        let current = read(&self.ring).current;
        let mut mac = self
            .link_key(current, s.link_id, token)
            .expect("the current key is in the ring");
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..8].copy_from_slice(&s.link_id.to_le_bytes());
        payload[8..16].copy_from_slice(&s.id.to_le_bytes());
        payload[16..24].copy_from_slice(&s.expires_at.to_le_bytes());
        payload[24..].copy_from_slice(&current.to_le_bytes());
        let body = B64.encode(payload);
        mac.update(PREFIX.as_bytes());
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{PREFIX}{body}.{}", B64.encode(&tag[..MAC_LEN]))
    }

    /// The session of `claim` if its link's key (from `token`) signed it, it has not ended
    /// at `now` and it claims no more than [`MAX_SESSION_SECS`] from now. Its expiry is
    /// capped at `link_expires_at`.
    pub fn check(
        &self,
        claim: &Claim<'_>,
        token: &Token,
        link_expires_at: Option<i64>,
        now: i64,
    ) -> Option<Session> {
        let session = Sessions::admit(claim, link_expires_at, now)?;
        let mut mac = self.link_key(claim.key_id, claim.link_id, token)?;
        mac.update(PREFIX.as_bytes());
        mac.update(claim.body.as_bytes());
        mac.verify_truncated_left(&claim.tag).ok()?;
        Some(session)
    }

    /// The session of `claim` whose signature is known to hold (it verified before under
    /// the same keys: see `memo`) if it has not ended at `now` and claims no more than
    /// [`MAX_SESSION_SECS`] from now; its expiry capped at `link_expires_at`.
    pub fn admit(claim: &Claim<'_>, link_expires_at: Option<i64>, now: i64) -> Option<Session> {
        if now >= claim.expires_at || claim.expires_at > now.saturating_add(MAX_SESSION_SECS) {
            return None;
        }
        Some(Session {
            link_id: claim.link_id,
            id: claim.id,
            expires_at: claim.expires_at.min(link_expires_at.unwrap_or(i64::MAX)),
        })
    }

    /// [`Claim::parse`] then [`Sessions::check`], for a caller that knows the link already.
    #[cfg(any(test, feature = "testing"))]
    pub fn verify(
        &self,
        value: &str,
        now: i64,
        token: &Token,
        link_expires_at: Option<i64>,
    ) -> Option<Session> {
        self.check(&Claim::parse(value)?, token, link_expires_at, now)
    }
}

/// A link's own key, HMAC(master, `session\0` + token), as a MAC ready for a cookie body.
fn derive(master: &Hmac<Sha256>, token: &Token) -> Hmac<Sha256> {
    let mut k = master.clone();
    k.update(b"session\0");
    k.update(token.expose().as_bytes());
    let key = k.finalize().into_bytes();
    Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> Token {
        Token::parse(text).unwrap()
    }

    fn tok() -> Token {
        token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    }

    fn signer() -> Sessions {
        Sessions::single(&[7u8; 32])
    }

    #[test]
    fn issued_sessions_verify_until_they_end() {
        let s = signer();
        let (session, value) = s.issue(42, &tok(), 1000);
        assert_eq!(value.len(), VALUE_LEN);
        assert_eq!(s.verify(&value, 999, &tok(), None), Some(session));
        assert_eq!(s.verify(&value, 1000, &tok(), None), None);
    }

    #[test]
    fn forged_tampered_and_truncated_values_are_refused() {
        let s = signer();
        let (_, value) = s.issue(42, &tok(), 1000);
        let other = Sessions::single(&[8u8; 32]).issue(42, &tok(), 1000).1;
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
            value.replace("v2.", "v1."),
            String::new(),
            "v2..".into(),
        ];
        for c in cases {
            assert_eq!(s.verify(&c, 0, &tok(), None), None, "{c}");
        }
    }

    /// The key is the link's: a session signed for one link's token never verifies for
    /// another, even with the same master key and link id.
    #[test]
    fn a_session_is_bound_to_its_links_token() {
        let s = signer();
        let (_, value) = s.issue(42, &tok(), 1000);
        let other_token = token("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
        assert!(s.verify(&value, 0, &tok(), None).is_some());
        assert_eq!(s.verify(&value, 0, &other_token, None), None);
    }

    /// Each link's key is derived once and kept: a new token for the same link replaces it
    /// (old cookies stop), and a signer that never saw the link verifies the same cookies.
    #[test]
    fn kept_link_keys_follow_the_token() {
        let s = signer();
        let other = token("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
        let (_, a) = s.issue(42, &tok(), 1000);
        let (_, b) = s.issue(42, &other, 1000);
        assert!(s.verify(&b, 0, &other, None).is_some());
        assert_eq!(s.verify(&a, 0, &other, None), None);
        assert!(s.verify(&a, 0, &tok(), None).is_some());
        assert_eq!(s.verify(&b, 0, &tok(), None), None);
        let fresh = signer();
        assert!(fresh.verify(&a, 0, &tok(), None).is_some());
        assert!(fresh.verify(&b, 0, &other, None).is_some());
    }

    /// A cookie may not claim more than the longest session from now, and never outlives
    /// its link.
    #[test]
    fn claimed_expiry_is_bounded() {
        let s = signer();
        let now = 1_000_000;
        let (_, far) = s.issue(42, &tok(), now + MAX_SESSION_SECS + 1);
        assert_eq!(s.verify(&far, now, &tok(), None), None);
        let (_, ok) = s.issue(42, &tok(), now + MAX_SESSION_SECS);
        let got = s.verify(&ok, now, &tok(), Some(now + 60)).unwrap();
        assert_eq!(got.expires_at, now + 60);
    }

    /// After a rotation new sessions name the new key and old ones verify until their keys
    /// are dropped.
    #[test]
    fn rotated_keys_keep_old_sessions_until_dropped() {
        let s = Sessions::new(&[(1, vec![1; 32])], 1);
        let (_, old) = s.issue(42, &tok(), 1000);
        s.install(&[(1, vec![1; 32]), (2, vec![2; 32])], 2);
        let (_, new) = s.issue(42, &tok(), 1000);
        assert_eq!(Claim::parse(&new).unwrap().key_id, 2);
        assert!(s.verify(&old, 0, &tok(), None).is_some());
        assert!(s.verify(&new, 0, &tok(), None).is_some());
        s.install(&[(2, vec![2; 32])], 2);
        assert_eq!(s.verify(&old, 0, &tok(), None), None);
        assert!(s.verify(&new, 0, &tok(), None).is_some());
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
        let (session, _) = s.issue(42, &tok(), 1060);
        let renewed = s.renew(&session, &tok(), 1120);
        let again = s.verify(&renewed, 1100, &tok(), None).unwrap();
        assert_eq!(
            (again.id, again.link_id, again.expires_at),
            (session.id, 42, 1120)
        );
    }
}
