//! One upstream identity for shared fetches: what linkd asks of the origin never depends on
//! a viewer.
//!
//! MediaMTX 1.18+ gives each reader a session (`session=` in the query, opened by
//! `index.m3u8`) and answers 401 after a pause for an unknown one. linkd keeps its own
//! session per origin, adds it to every fetch, renews it (one renewal at a time, by asking
//! `index.m3u8` again) when the origin answers 401 for it, and removes `session=` from every
//! playlist it passes on, so viewers never see or send one. Since every `index.m3u8` opens a
//! session at MediaMTX, the one that opened linkd's session is given to viewers again for
//! [`INDEX_REUSE`] instead of opening one per viewer. Origins without sessions (MediaMTX
//! 1.17, nginx) are detected from their playlists and asked plainly.

use crate::cache::Cached;
use crate::origin::{Origin, OriginError};
use crate::sync::lock;
use bytes::Bytes;
use http::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The file that opens a MediaMTX session.
const INDEX: &str = "index.m3u8";
/// Longest session id taken from a playlist (MediaMTX's are UUIDs).
const MAX_SESSION: usize = 64;
/// How long the `index.m3u8` that opened linkd's session is given to viewers again, while
/// that session lives (a gone stream or a restarted muxer ends it at the next fetch).
pub const INDEX_REUSE: Duration = Duration::from_secs(10);

/// What linkd knows of its upstream session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Current {
    /// Not known yet, or the origin could not open one (stream offline).
    #[default]
    Unknown,
    /// The origin's playlists name no session: it has none.
    Without,
    /// The session linkd uses.
    Id(Arc<str>),
}

/// linkd's session with the origin.
#[derive(Debug, Default)]
pub struct Session {
    current: Mutex<Current>,
    /// Held while a renewal asks the origin, so concurrent 401s cause one renewal.
    renewing: tokio::sync::Mutex<()>,
    /// The rewritten `index.m3u8` that opened the session named with it, and when.
    index: Mutex<Option<(Arc<str>, Cached, Instant)>>,
}

impl Session {
    fn get(&self) -> Current {
        lock(&self.current).clone()
    }

    fn set(&self, c: Current) {
        *lock(&self.current) = c;
    }

    /// Learns the session of a raw `index.m3u8` answer when none is known; returns the
    /// answer rewritten for viewers, remembered if it opened the session in use.
    fn adopt(&self, raw: Cached) -> Cached {
        let learned = learned(&raw);
        let now = {
            let mut cur = lock(&self.current);
            if *cur == Current::Unknown {
                *cur = learned.clone();
            }
            cur.clone()
        };
        let c = rewritten(raw);
        if let Current::Id(id) = learned {
            if now == Current::Id(id.clone()) {
                *lock(&self.index) = Some((id, c.clone(), Instant::now()));
            }
        }
        c
    }

    /// The remembered `index.m3u8`, if it opened the session in use less than
    /// [`INDEX_REUSE`] ago.
    fn reusable_index(&self) -> Option<Cached> {
        let Current::Id(cur) = self.get() else {
            return None;
        };
        let index = lock(&self.index);
        match &*index {
            Some((id, c, at)) if *id == cur && at.elapsed() < INDEX_REUSE => Some(c.clone()),
            _ => None,
        }
    }
}

/// What an `index.m3u8` answer says about sessions.
fn learned(index: &Cached) -> Current {
    if index.status != StatusCode::OK || !index.body.starts_with(b"#EXTM3U") {
        return Current::Unknown;
    }
    match session_in(&index.body) {
        Some(id) => Current::Id(Arc::from(id)),
        None => Current::Without,
    }
}

/// Fetches `path` (a checked stream file) with `query` (checked LL-HLS parameters) under
/// linkd's session: the whole answer, its headers allowlisted, playlists without `session=`.
pub async fn fetch(
    origin: &Origin,
    path: &str,
    query: Option<&str>,
) -> Result<Cached, OriginError> {
    if path == INDEX {
        if let Some(c) = query
            .is_none()
            .then(|| origin.session.reusable_index())
            .flatten()
        {
            return Ok(c);
        }
        let raw = origin.get_whole(path, query).await?;
        return Ok(origin.session.adopt(raw));
    }
    let mut used = origin.session.get();
    if used == Current::Unknown {
        used = renew(origin, &used).await;
    }
    let mut c = origin
        .get_whole(path, with_session(query, &used).as_deref())
        .await?;
    if c.status == StatusCode::UNAUTHORIZED {
        // MediaMTX forgot the session (30 s unused, or a restart): renew it and ask again
        // once. A second 401 is the stream gone.
        let renewed = renew(origin, &used).await;
        if renewed != used && renewed != Current::Unknown {
            c = origin
                .get_whole(path, with_session(query, &renewed).as_deref())
                .await?;
        }
    }
    Ok(rewritten(c))
}

/// Replaces the session `failed` by a new one, unless another caller already did.
async fn renew(origin: &Origin, failed: &Current) -> Current {
    let _one = origin.session.renewing.lock().await;
    let now = origin.session.get();
    if now != *failed {
        return now;
    }
    origin.session.set(Current::Unknown);
    match origin.get_whole(INDEX, None).await {
        Ok(index) => {
            origin.session.adopt(index);
        }
        Err(e) => tracing::debug!(error = %e, "origin session not renewed"),
    }
    origin.session.get()
}

fn with_session(query: Option<&str>, session: &Current) -> Option<String> {
    match (query, session) {
        (Some(q), Current::Id(id)) => Some(format!("{q}&session={id}")),
        (None, Current::Id(id)) => Some(format!("session={id}")),
        (q, _) => q.map(str::to_string),
    }
}

/// A playlist answer without `session=` in its URIs; other answers as they are.
fn rewritten(mut c: Cached) -> Cached {
    if c.body.starts_with(b"#EXTM3U") {
        if let Ok(text) = std::str::from_utf8(&c.body) {
            if text.contains("session=") {
                c.body = Bytes::from(strip_sessions(text));
            }
        }
    }
    c
}

/// Where a `session=` parameter starts in `text` (after `?` or `&`), and its value's end.
fn next_session(text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("session=").map(|i| i + from) {
        let v = i + "session=".len();
        if i > 0 && matches!(text.as_bytes()[i - 1], b'?' | b'&') {
            let len = text[v..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(text.len() - v);
            return Some((i, v + len));
        }
        from = v;
    }
    None
}

/// The first session id named in a playlist.
fn session_in(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let (start, end) = next_session(text)?;
    let id = &text[start + "session=".len()..end];
    (!id.is_empty() && id.len() <= MAX_SESSION).then_some(id)
}

/// `text` with every `session=` query parameter removed (and a `?` left alone removed too).
fn strip_sessions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end)) = next_session(rest) {
        let sep = rest.as_bytes()[start - 1];
        let after = &rest[end..];
        match (sep, after.strip_prefix('&')) {
            // `?session=x&y` -> `?y`
            (b'?', Some(tail)) => {
                out.push_str(&rest[..start]);
                rest = tail;
            }
            // `?session=x` -> ``, `&session=x` -> ``
            _ => {
                out.push_str(&rest[..start - 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_lose_every_session_parameter() {
        let id = "0b7e2a4c-1f2d-4c3b-9a8e-0123456789ab";
        let cases = [
            (
                format!("#EXTM3U\nvideo1_stream.m3u8?session={id}\n"),
                "#EXTM3U\nvideo1_stream.m3u8\n",
            ),
            (
                format!("#EXT-X-MAP:URI=\"a_init.mp4?session={id}\"\n"),
                "#EXT-X-MAP:URI=\"a_init.mp4\"\n",
            ),
            (
                format!("p.mp4?session={id}&x=1\nq.mp4?x=1&session={id}\n"),
                "p.mp4?x=1\nq.mp4?x=1\n",
            ),
            (
                "#EXT-X-FOO:mysession=1\nnosession=2\n".to_string(),
                "#EXT-X-FOO:mysession=1\nnosession=2\n",
            ),
            (format!("a?session={id}"), "a"),
        ];
        for (input, want) in cases {
            assert_eq!(strip_sessions(&input), want, "{input}");
        }
        let body = format!("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8?session={id}\n");
        assert_eq!(session_in(body.as_bytes()), Some(id));
        assert_eq!(session_in(b"#EXTM3U\nv.m3u8\n"), None);
    }

    #[test]
    fn linkd_adds_only_its_own_session() {
        let id = Current::Id(Arc::from("s1"));
        assert_eq!(
            with_session(Some("_HLS_msn=3"), &id).as_deref(),
            Some("_HLS_msn=3&session=s1")
        );
        assert_eq!(with_session(None, &id).as_deref(), Some("session=s1"));
        assert_eq!(with_session(None, &Current::Without), None);
        assert_eq!(
            with_session(Some("_HLS_msn=3"), &Current::Unknown).as_deref(),
            Some("_HLS_msn=3")
        );
    }
}
