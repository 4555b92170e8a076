//! The `/play/` path sanitiser: only the stream's own files can be asked of the origin.
//!
//! The path is percent-decoded exactly once, split into segments, and every segment must be
//! a plain file name from a conservative character set. Anything else (traversal in any
//! encoding, empty or dot segments, backslashes, absolute URLs, over-long paths) is refused
//! before the origin is contacted.

/// Longest accepted path after `/play/`, in bytes.
pub const MAX_PATH: usize = 200;
/// Most segments (e.g. `segment/12.3.m4s` has two).
pub const MAX_SEGMENTS: usize = 4;
/// Longest accepted query string.
pub const MAX_QUERY: usize = 512;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too long or too deep.
    TooLong,
    /// Bad percent-encoding, or an encoded byte that is not allowed.
    Encoding,
    /// An empty, `.` or `..` segment, or one starting with a dot.
    Segment,
    /// A character outside `A-Z a-z 0-9 . _ -`.
    Character,
}

/// Checks the raw (still percent-encoded) path after `/play/`; returns the clean path.
pub fn sanitize(raw: &str) -> Result<String, Refused> {
    if raw.is_empty() || raw.len() > MAX_PATH * 3 {
        return Err(if raw.is_empty() {
            Refused::Segment
        } else {
            Refused::TooLong
        });
    }
    let decoded = percent_decode_once(raw)?;
    if decoded.len() > MAX_PATH {
        return Err(Refused::TooLong);
    }
    let segments: Vec<&str> = decoded.split('/').collect();
    if segments.len() > MAX_SEGMENTS {
        return Err(Refused::TooLong);
    }
    for seg in &segments {
        if seg.is_empty() || seg.starts_with('.') {
            return Err(Refused::Segment);
        }
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(Refused::Character);
        }
    }
    Ok(decoded)
}

/// Checks a query string that is forwarded verbatim (`_HLS_msn`, `session`, ...).
pub fn query_ok(query: &str) -> bool {
    query.len() <= MAX_QUERY
        && query.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'=' | b'&' | b'_' | b'-' | b'.' | b'%')
        })
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
        let deep = "a/".repeat(MAX_SEGMENTS) + "a";
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
            &deep,
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
            ("segment/12.3.m4s", "segment/12.3.m4s"),
            ("init.mp4", "init.mp4"),
            ("%69ndex.m3u8", "index.m3u8"),
        ];
        for (raw, want) in ok {
            assert_eq!(sanitize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn query_table() {
        assert!(query_ok("_HLS_msn=12&_HLS_part=3"));
        assert!(query_ok(
            "session=0b7e2a4c-1f2d-4c3b-9a8e-0123456789ab&_HLS_skip=YES"
        ));
        assert!(!query_ok("a=<script>"));
        assert!(!query_ok(&"a".repeat(MAX_QUERY + 1)));
    }
}
