//! Conditional and range requests on a whole answer held in memory, as a file server answers
//! them: `If-None-Match` / `If-Modified-Since` against the origin's `ETag` / `Last-Modified`
//! give 304, one `Range` gives 206 (or 416), `If-Range` falls back to the whole answer when
//! the file changed. Several ranges in one request get the whole answer (allowed by RFC 9110).
//! Nothing here allocates.

use http::{header, HeaderMap};
use std::ops::Range;
use std::time::SystemTime;

/// How to answer a request for an answer of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with the whole body.
    Whole,
    /// 304: the client's copy is current.
    NotModified,
    /// 206 with these bytes.
    Partial(Range<usize>),
    /// 416: the range starts past the end.
    Unsatisfiable,
}

/// Decides the answer to a GET or HEAD with `req` headers for a 200 answer whose headers are
/// `have` and body `len` bytes.
pub fn evaluate(req: &HeaderMap, have: &HeaderMap, len: usize) -> Reply {
    let etag = text(have, header::ETAG);
    // Parsed only for a request that asks by date.
    let modified = || text(have, header::LAST_MODIFIED).and_then(date);
    if let Some(inm) = text(req, header::IF_NONE_MATCH) {
        if etag.is_some_and(|e| etag_listed(inm, e, false)) {
            return Reply::NotModified;
        }
    } else if let Some(ims) = text(req, header::IF_MODIFIED_SINCE).and_then(date) {
        if modified().is_some_and(|m| m <= ims) {
            return Reply::NotModified;
        }
    }
    let Some(range) = text(req, header::RANGE) else {
        return Reply::Whole;
    };
    if let Some(if_range) = text(req, header::IF_RANGE) {
        let current = if if_range.starts_with('"') || if_range.starts_with("W/") {
            etag.is_some_and(|e| etag_listed(if_range, e, true))
        } else {
            date(if_range).is_some_and(|d| Some(d) == modified())
        };
        if !current {
            return Reply::Whole;
        }
    }
    byte_range(range, len)
}

fn text(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s).ok()
}

/// Whether `tag` is in the comma list `list` (`*` matches any); weak comparison unless
/// `strong` (then a weak tag on either side never matches).
fn etag_listed(list: &str, tag: &str, strong: bool) -> bool {
    if list == "*" {
        return true;
    }
    if strong && tag.starts_with("W/") {
        return false;
    }
    list.split(',')
        .map(str::trim)
        .any(|t| !(strong && t.starts_with("W/")) && opaque(t) == opaque(tag))
}

/// An entity tag without its weakness mark.
fn opaque(t: &str) -> &str {
    t.strip_prefix("W/").unwrap_or(t)
}

/// One `bytes=` range of a `len`-byte body; anything it cannot serve as one range is
/// answered whole.
fn byte_range(spec: &str, len: usize) -> Reply {
    let Some(spec) = spec.strip_prefix("bytes=").map(str::trim) else {
        return Reply::Whole;
    };
    if spec.contains(',') {
        return Reply::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Reply::Whole;
    };
    let num = |s: &str| -> Option<usize> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().unwrap_or(usize::MAX))
    };
    match (num(first), num(last)) {
        // `bytes=-n`: the last n bytes.
        (None, Some(n)) if first.trim().is_empty() => {
            if n == 0 || len == 0 {
                Reply::Unsatisfiable
            } else {
                Reply::Partial(len.saturating_sub(n)..len)
            }
        }
        (Some(a), None) if last.trim().is_empty() => {
            if a >= len {
                Reply::Unsatisfiable
            } else {
                Reply::Partial(a..len)
            }
        }
        (Some(a), Some(b)) if a <= b => {
            if a >= len {
                Reply::Unsatisfiable
            } else {
                Reply::Partial(a..b.min(len - 1) + 1)
            }
        }
        _ => Reply::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const LM: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn conditional_and_range_table() {
        let have = headers(&[("etag", "\"v1\""), ("last-modified", LM)]);
        use Reply::*;
        let cases: [(&[(&str, &str)], Reply); 20] = [
            (&[], Whole),
            (&[("if-none-match", "\"v1\"")], NotModified),
            (&[("if-none-match", "W/\"v1\"")], NotModified),
            (&[("if-none-match", "\"v0\", \"v1\"")], NotModified),
            (&[("if-none-match", "*")], NotModified),
            (&[("if-none-match", "\"v0\"")], Whole),
            // If-None-Match wins over If-Modified-Since.
            (
                &[("if-none-match", "\"v0\""), ("if-modified-since", LM)],
                Whole,
            ),
            (&[("if-modified-since", LM)], NotModified),
            (
                &[("if-modified-since", "Thu, 22 Oct 2015 07:28:00 GMT")],
                NotModified,
            ),
            (
                &[("if-modified-since", "Tue, 20 Oct 2015 07:28:00 GMT")],
                Whole,
            ),
            (&[("if-modified-since", "yesterday")], Whole),
            (&[("range", "bytes=0-3")], Partial(0..4)),
            (&[("range", "bytes=4-")], Partial(4..10)),
            (&[("range", "bytes=-3")], Partial(7..10)),
            (&[("range", "bytes=5-100")], Partial(5..10)),
            (&[("range", "bytes=10-")], Unsatisfiable),
            (&[("range", "bytes=0-1,4-5")], Whole),
            (&[("range", "items=0-1")], Whole),
            (&[("range", "bytes=0-3"), ("if-range", "\"v0\"")], Whole),
            (&[("range", "bytes=0-3"), ("if-range", LM)], Partial(0..4)),
        ];
        for (req, want) in cases {
            let mut h = HeaderMap::new();
            for (k, v) in req {
                h.insert(
                    header::HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            assert_eq!(evaluate(&h, &have, 10), want, "{req:?}");
        }
        // A weak validator never satisfies If-Range.
        let weak = headers(&[("etag", "W/\"v1\"")]);
        let req = headers(&[("range", "bytes=0-3"), ("if-range", "W/\"v1\"")]);
        assert_eq!(evaluate(&req, &weak, 10), Whole);
        // Without validators nothing is "not modified".
        let req = headers(&[("if-none-match", "\"v1\""), ("range", "bytes=1-2")]);
        assert_eq!(evaluate(&req, &HeaderMap::new(), 10), Partial(1..3));
    }
}
