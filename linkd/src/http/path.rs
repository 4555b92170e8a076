//! The `/play/` path sanitiser: only the stream's own files can be asked of the origin.
//!
//! The path is percent-decoded exactly once and must then be one plain file name (no
//! sub-directory: `/play/a/b.m3u8` would address another MediaMTX path) from a conservative
//! character set, ending in a stream file's extension (playlist `.m3u8`, media `.mp4`,
//! `.m4s`, `.ts`, `.aac`, `.vtt`). Anything else (traversal in any encoding, dot names,
//! backslashes, absolute URLs, over-long paths, other files) is refused before the origin is
//! contacted. Of the query only the LL-HLS parameters pass ([`hls_query`]); the extension
//! check and the content type it gives do not allocate.

/// Longest accepted path after `/play/`, in bytes.
pub const MAX_PATH: usize = 200;
/// Longest accepted query string.
pub const MAX_QUERY: usize = 512;

use std::borrow::Cow;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too long, or more than one segment.
    TooLong,
    /// Bad percent-encoding, or an encoded byte that is not allowed.
    Encoding,
    /// An empty name, or one starting with a dot.
    Segment,
    /// A character outside `A-Z a-z 0-9 . _ -`.
    Character,
    /// Not the extension of a stream file.
    Extension,
    /// A query that is not LL-HLS parameters with valid values.
    Query,
}

/// The kinds of file a stream is made of, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.m3u8`
    Playlist,
    /// `.mp4`, `.m4s` (init, segments, parts)
    Mp4,
    /// `.ts`
    Ts,
    /// `.aac`
    Aac,
    /// `.vtt`
    Vtt,
}

impl Kind {
    /// The kind of a file name, from its extension; `None` for anything else.
    pub fn of(name: &str) -> Option<Kind> {
        let (_, ext) = name.rsplit_once('.')?;
        Some(match ext {
            "m3u8" => Kind::Playlist,
            "mp4" | "m4s" => Kind::Mp4,
            "ts" => Kind::Ts,
            "aac" => Kind::Aac,
            "vtt" => Kind::Vtt,
            _ => return None,
        })
    }

    /// The `Content-Type` linkd gives this kind (never the origin's).
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Playlist => "application/vnd.apple.mpegurl",
            Kind::Mp4 => "video/mp4",
            Kind::Ts => "video/mp2t",
            Kind::Aac => "audio/aac",
            Kind::Vtt => "text/vtt; charset=utf-8",
        }
    }
}

/// A file of the stream as a viewer asked for it: its clean name, kind and the query that
/// may reach the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFile {
    /// The file name, decoded and checked.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// `_HLS_msn`, `_HLS_part`, `_HLS_skip` in that order (playlists only).
    pub query: Option<String>,
}

impl StreamFile {
    /// Checks the raw path after `/play/` and the raw query of a request.
    pub fn parse(raw_path: &str, query: Option<&str>) -> Result<StreamFile, Refused> {
        let name = sanitize(raw_path)?;
        let kind = Kind::of(&name).ok_or(Refused::Extension)?;
        let query = match kind {
            Kind::Playlist => hls_query(query)?,
            // Media files take no parameters: whatever a viewer adds is dropped.
            _ => None,
        };
        Ok(StreamFile { name, kind, query })
    }

    /// The cache key: exactly what is asked of the origin (linkd adds its own session).
    pub fn key(&self) -> Cow<'_, str> {
        match &self.query {
            Some(q) => Cow::Owned(format!("{}?{q}", self.name)),
            None => Cow::Borrowed(&self.name),
        }
    }
}

/// Checks the raw (still percent-encoded) path after `/play/`; returns the clean file name.
pub fn sanitize(raw: &str) -> Result<String, Refused> {
    if raw.is_empty() || raw.len() > MAX_PATH * 3 {
        return Err(if raw.is_empty() {
            Refused::Segment
        } else {
            Refused::TooLong
        });
    }
    let decoded = percent_decode_once(raw)?;
    if decoded.len() > MAX_PATH || decoded.contains('/') {
        return Err(Refused::TooLong);
    }
    if decoded.is_empty() || decoded.starts_with('.') {
        return Err(Refused::Segment);
    }
    if !decoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Refused::Character);
    }
    if Kind::of(&decoded).is_none() {
        return Err(Refused::Extension);
    }
    Ok(decoded)
}

/// Checks the characters of a raw query string.
pub fn query_ok(query: &str) -> bool {
    query.len() <= MAX_QUERY
        && query.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'=' | b'&' | b'_' | b'-' | b'.' | b'%')
        })
}

/// The part of a viewer's query that may reach the origin: `_HLS_msn` and `_HLS_part` as
/// unsigned numbers (`_HLS_part` only with `_HLS_msn`), `_HLS_skip` as `YES` or `v2`, each
/// at most once, in that order. Every other parameter (MediaMTX's `session` above all) is
/// dropped; a bad value is refused.
pub fn hls_query(query: Option<&str>) -> Result<Option<String>, Refused> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if !query_ok(query) {
        return Err(Refused::Query);
    }
    let (mut msn, mut part, mut skip) = (None, None, None);
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let slot = match k {
            "_HLS_msn" => &mut msn,
            "_HLS_part" => &mut part,
            "_HLS_skip" => &mut skip,
            _ => continue,
        };
        let valid = if k == "_HLS_skip" {
            matches!(v, "YES" | "v2")
        } else {
            !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit())
        };
        if !valid || slot.replace(v).is_some() {
            return Err(Refused::Query);
        }
    }
    if part.is_some() && msn.is_none() {
        return Err(Refused::Query);
    }
    let mut out = String::new();
    for (k, v) in [("_HLS_msn", msn), ("_HLS_part", part), ("_HLS_skip", skip)] {
        if let Some(v) = v {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn percent_decode_once(raw: &str) -> Result<String, Refused> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Refused::Encoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| Refused::Encoding)?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| Refused::Encoding)?;
            // A decoded '%' would be a second layer of encoding; '/' and '\' would change
            // the segments. Neither is part of a stream's file name.
            if matches!(b, b'%' | b'/' | b'\\') || !b.is_ascii() {
                return Err(Refused::Encoding);
            }
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Refused::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_table() {
        let long = "a".repeat(MAX_PATH + 1);
        let refused = [
            "",
            "..",
            "../etc/passwd",
            "a/../../etc/passwd",
            "%2e%2e/etc/passwd",
            "%2E%2E%2Fetc%2Fpasswd",
            "%252e%252e/etc",
            "..%2f..%2fetc",
            "..\\..\\windows",
            "%5c..%5c",
            "a//b",
            "/etc/passwd",
            "./index.m3u8",
            ".hidden",
            "a/./b",
            "http://evil.example/x",
            "user@host/x",
            "a b",
            "a%20b",
            "a%00b",
            "index.m3u8%3F",
            "%ff",
            "%",
            "%4",
            "%zz",
            "é.m3u8",
            "a;b",
            "a:b",
            &long,
            // One file name only: a sub-directory would be another MediaMTX path.
            "a/b/index.m3u8",
            "segment/12.3.m4s",
            // Only the stream's files.
            "index.html",
            "hls.min.js",
            "favicon.ico",
            "index",
            "m3u8",
            "index.m3u8.bak",
            "index.M3U8",
        ];
        for r in refused {
            assert!(sanitize(r).is_err(), "{r:?} was accepted");
        }
    }

    #[test]
    fn stream_files_pass() {
        let ok = [
            ("index.m3u8", "index.m3u8"),
            ("video1_stream.m3u8", "video1_stream.m3u8"),
            (
                "3f2a9c0d1e4b_video1_part12.mp4",
                "3f2a9c0d1e4b_video1_part12.mp4",
            ),
            ("3f2a9c0d1e4b_seg7.m4s", "3f2a9c0d1e4b_seg7.m4s"),
            ("main_stream.m3u8", "main_stream.m3u8"),
            ("seg1.ts", "seg1.ts"),
            ("audio.aac", "audio.aac"),
            ("subs.vtt", "subs.vtt"),
            ("init.mp4", "init.mp4"),
            ("%69ndex.m3u8", "index.m3u8"),
        ];
        for (raw, want) in ok {
            assert_eq!(sanitize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn kinds_and_their_content_types() {
        for (name, ctype) in [
            ("index.m3u8", "application/vnd.apple.mpegurl"),
            ("a_part3.mp4", "video/mp4"),
            ("a_seg3.m4s", "video/mp4"),
            ("s.ts", "video/mp2t"),
            ("a.aac", "audio/aac"),
            ("s.vtt", "text/vtt; charset=utf-8"),
        ] {
            assert_eq!(
                Kind::of(name).map(Kind::content_type),
                Some(ctype),
                "{name}"
            );
        }
        assert_eq!(Kind::of("index.html"), None);
    }

    #[test]
    fn query_table() {
        assert!(query_ok("_HLS_msn=12&_HLS_part=3"));
        assert!(!query_ok("a=<script>"));
        assert!(!query_ok(&"a".repeat(MAX_QUERY + 1)));
        // (viewer's query, what reaches the origin; None inside: nothing)
        let passed = [
            (None, None),
            (Some(""), None),
            (
                Some("_HLS_msn=12&_HLS_part=3"),
                Some("_HLS_msn=12&_HLS_part=3"),
            ),
            (
                Some("_HLS_part=3&_HLS_msn=12"),
                Some("_HLS_msn=12&_HLS_part=3"),
            ),
            (
                Some("session=bogus&_HLS_msn=7&x=%41&_HLS_skip=YES"),
                Some("_HLS_msn=7&_HLS_skip=YES"),
            ),
            (Some("_HLS_skip=v2"), Some("_HLS_skip=v2")),
            (Some("session=0b7e2a4c-1f2d-4c3b-9a8e-0123456789ab"), None),
            (Some("cookieCheck=1&user=a&pass=b"), None),
        ];
        for (q, want) in passed {
            assert_eq!(hls_query(q), Ok(want.map(str::to_string)), "{q:?}");
        }
        let refused = [
            "_HLS_msn=abc",
            "_HLS_msn=-1",
            "_HLS_msn=",
            "_HLS_msn",
            "_HLS_msn=1&_HLS_msn=2",
            "_HLS_part=1",
            "_HLS_msn=1&_HLS_part=1.5",
            "_HLS_msn=99999999999999999999",
            "_HLS_skip=yes",
            "_HLS_skip=1",
            "a=<script>",
        ];
        for q in refused {
            assert_eq!(hls_query(Some(q)), Err(Refused::Query), "{q}");
        }
    }

    #[test]
    fn media_files_take_no_query_and_playlists_only_hls_parameters() {
        let f = StreamFile::parse("a_part9.mp4", Some("session=bogus&_HLS_msn=1")).unwrap();
        assert_eq!(
            (f.kind, f.query.clone(), f.key()),
            (Kind::Mp4, None, "a_part9.mp4".into())
        );
        let f = StreamFile::parse("v.m3u8", Some("session=x&_HLS_msn=3")).unwrap();
        assert_eq!(f.key(), "v.m3u8?_HLS_msn=3");
        assert_eq!(
            StreamFile::parse("v.m3u8", Some("_HLS_msn=x")),
            Err(Refused::Query)
        );
        assert_eq!(
            StreamFile::parse("index.html", None),
            Err(Refused::Extension)
        );
    }
}
