//! The HLS origin (MediaMTX): the pooled upstream client and the liveness probe.
//!
//! Requests carry no header of a viewer, only linkd's reader credentials, and no cookie, so
//! MediaMTX 1.18+ keeps its session in the query (`session=`): linkd's own, see `upstream`.
//! Only its `302` to `index.m3u8?cookieCheck=1` is followed, and answers keep only an
//! allowlist of headers. There is a connect timeout but no total timeout: LL-HLS blocking
//! reloads legitimately wait.

use crate::cache::Cached;
use crate::Shared;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long connecting to the origin may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the origin may take to start answering (MediaMTX closes blocking reloads after
/// its 10 s write timeout, so this never cuts a legitimate wait).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one liveness check may take, answer and body (MediaMTX's first playlist of a
/// new muxer takes a second or two).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(8);
/// Redirects followed: MediaMTX's session redirect (`302` to `?cookieCheck=1`) is one.
const MAX_REDIRECTS: usize = 2;

/// The only response headers of the origin that reach viewers: validators for conditional
/// requests, and the bench origin's timing headers. Everything else (cookies, CORS, `Server`,
/// `Content-Type`, `Cache-Control`, hop-by-hop headers) stays behind; linkd sets its own.
const ALLOW: [HeaderName; 5] = [
    header::ETAG,
    header::LAST_MODIFIED,
    HeaderName::from_static("x-ready-us"),
    HeaderName::from_static("x-age"),
    HeaderName::from_static("x-seconds"),
];

/// Why the origin could not answer.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// Connecting or talking to it failed.
    #[error("origin unreachable: {0}")]
    Unreachable(String),
    /// It took too long to answer.
    #[error("origin did not answer within {0:?}")]
    Timeout(Duration),
    /// It redirected outside the stream.
    #[error("origin redirected outside the stream's path")]
    Redirect,
}

/// The upstream client.
pub struct Origin {
    client: Client<HttpConnector, Empty<Bytes>>,
    /// `scheme://authority`
    root: String,
    /// Path of the stream, e.g. `/live/stream`, without a trailing slash.
    base_path: String,
    auth: Option<HeaderValue>,
    /// linkd's own MediaMTX session, shared by every fetch.
    pub(crate) session: crate::upstream::Session,
}

impl Origin {
    /// A client for `base_url` (`MEDIAMTX_HLS_BASE_URL`), with optional Basic credentials.
    pub fn new(base_url: &str, user: Option<&str>, password: Option<&str>) -> Origin {
        let uri: http::Uri = base_url.parse().expect("config checked the origin URL");
        let root = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let base_path = uri.path().trim_end_matches('/').to_string();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        let auth = match (user, password) {
            (Some(u), Some(p)) => {
                let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                let mut v = HeaderValue::from_str(&format!("Basic {v}")).ok();
                if let Some(v) = v.as_mut() {
                    v.set_sensitive(true);
                }
                v
            }
            _ => None,
        };
        Origin {
            client,
            root,
            base_path,
            auth,
            session: crate::upstream::Session::default(),
        }
    }

    /// GETs `path` (a checked file name of the stream) with `query`, following only
    /// MediaMTX's session redirect. No header of a viewer is ever sent: only linkd's reader
    /// credentials.
    pub async fn get(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<Response<Incoming>, OriginError> {
        let mut target = match query {
            Some(q) if !q.is_empty() => format!("{}/{path}?{q}", self.base_path),
            _ => format!("{}/{path}", self.base_path),
        };
        for _ in 0..=MAX_REDIRECTS {
            let mut req = Request::builder()
                .method(Method::GET)
                .uri(format!("{}{target}", self.root))
                .body(Empty::new())
                .map_err(|e| OriginError::Unreachable(e.to_string()))?;
            if let Some(a) = &self.auth {
                req.headers_mut().insert(header::AUTHORIZATION, a.clone());
            }
            let resp = tokio::time::timeout(RESPONSE_TIMEOUT, self.client.request(req))
                .await
                .map_err(|_| OriginError::Timeout(RESPONSE_TIMEOUT))?
                .map_err(|e| OriginError::Unreachable(kit::error_chain(&e)))?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or(OriginError::Redirect)?;
            target = self.resolve_redirect(location)?;
        }
        Err(OriginError::Redirect)
    }

    /// The new target of a redirect: only MediaMTX's session redirect, i.e. a file of the
    /// stream (one name passing the `/play` sanitiser after percent-decoding) with
    /// `cookieCheck=1` in a plain query.
    fn resolve_redirect(&self, location: &str) -> Result<String, OriginError> {
        let next = location.strip_prefix(&self.root).unwrap_or(location);
        let (path, query) = next.split_once('?').ok_or(OriginError::Redirect)?;
        let file = path
            .strip_prefix(&self.base_path)
            .and_then(|p| p.strip_prefix('/'))
            .ok_or(OriginError::Redirect)?;
        let session_redirect = query.split('&').any(|kv| kv == "cookieCheck=1");
        if !session_redirect
            || !crate::http::path::query_ok(query)
            || crate::http::path::sanitize(file).as_deref() != Ok(file)
        {
            return Err(OriginError::Redirect);
        }
        Ok(next.to_string())
    }

    /// GETs `path` and reads the whole answer, keeping only the allowed headers.
    pub async fn get_whole(&self, path: &str, query: Option<&str>) -> Result<Cached, OriginError> {
        let resp = self.get(path, query).await?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, crate::cache::MAX_ENTRY_BYTES)
            .collect()
            .await
            .map_err(|e| OriginError::Unreachable(format!("reading its answer: {e}")))?
            .to_bytes();
        Ok(Cached {
            status: parts.status,
            headers: allowed_headers(&parts.headers),
            body,
        })
    }
}

/// The origin's headers that may reach viewers (see [`ALLOW`]).
pub fn allowed_headers(from: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(ALLOW.len());
    for name in &ALLOW {
        if let Some(v) = from.get(name) {
            h.insert(name.clone(), v.clone());
        }
    }
    h
}

/// The media playlist named in a multivariant playlist, if it is one (first variant).
fn first_variant(playlist: &str) -> Option<String> {
    if !playlist.contains("#EXT-X-STREAM-INF") {
        return None;
    }
    let mut lines = playlist.lines().map(str::trim);
    while let Some(l) = lines.next() {
        if l.starts_with("#EXT-X-STREAM-INF") {
            return lines
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string);
        }
    }
    None
}

/// Asks the origin every `PROBE_INTERVAL` whether the stream is live, records changes and
/// emits `stream_live` / `stream_offline` events. Behind MediaMTX 1.18+ it keeps one session
/// by polling the media playlist it was given, instead of opening a new one every time.
pub async fn probe(shared: Arc<Shared>, origin: Arc<Origin>, shutdown: CancellationToken) {
    let mut media: Option<String> = None;
    let mut first = true;
    loop {
        let check = check_live(&origin, &mut media);
        let live = tokio::select! {
            live = check => live,
            _ = shutdown.cancelled() => return,
        };
        let changed = shared.stream.set(live, shared.links.now());
        if changed || first {
            tracing::info!(live, "stream state");
        }
        if changed {
            shared.events.stream_changed(live, false).await;
        }
        first = false;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(shared.config.probe_interval) => {}
        }
    }
}

/// One liveness check: the media playlist found at the last check, else `index.m3u8`. Both go
/// through linkd's own upstream session, so polling opens no new MediaMTX session.
async fn check_live(origin: &Origin, media: &mut Option<String>) -> bool {
    let fetch = |path: String| async move {
        tokio::time::timeout(PROBE_TIMEOUT, crate::upstream::fetch(origin, &path, None))
            .await
            .map_err(|_| OriginError::Timeout(PROBE_TIMEOUT))
            .and_then(|r| r)
    };
    let playlist_ok = |r: &Result<Cached, OriginError>| matches!(r, Ok(c) if c.status == StatusCode::OK && c.body.starts_with(b"#EXTM3U"));
    if let Some(m) = media.clone() {
        if playlist_ok(&fetch(m).await) {
            return true;
        }
        *media = None;
    }
    let index = fetch("index.m3u8".to_string()).await;
    if let Err(e) = &index {
        tracing::debug!(error = %e, "origin probe failed");
    }
    if !playlist_ok(&index) {
        return false;
    }
    if let Ok(c) = index {
        *media = first_variant(&String::from_utf8_lossy(&c.body))
            .filter(|v| crate::http::path::sanitize(v).is_ok());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_session_redirect_is_followed() {
        let o = Origin::new("http://127.0.0.1:8888/live/stream", None, None);
        for (location, want) in [
            (
                "/live/stream/index.m3u8?cookieCheck=1",
                "/live/stream/index.m3u8?cookieCheck=1",
            ),
            (
                "http://127.0.0.1:8888/live/stream/index.m3u8?a=1&cookieCheck=1",
                "/live/stream/index.m3u8?a=1&cookieCheck=1",
            ),
        ] {
            assert_eq!(o.resolve_redirect(location).unwrap(), want);
        }
        for bad in [
            "/etc/passwd?cookieCheck=1",
            "/live/stream/index.m3u8",
            "/live/stream/index.m3u8?other=1",
            "index.m3u8?cookieCheck=1",
            "http://evil.example/live/stream/index.m3u8?cookieCheck=1",
            "//evil/live/stream/index.m3u8?cookieCheck=1",
            "/live/stream/../x.m3u8?cookieCheck=1",
            "/live/stream/%2e%2e/x.m3u8?cookieCheck=1",
            "/live/stream/%2e%2e?cookieCheck=1",
            "/live/stream/.%2e/index.m3u8?cookieCheck=1",
            "/live/stream/\\..\\index.m3u8?cookieCheck=1",
            "/live/stream/%5c..%5cindex.m3u8?cookieCheck=1",
            "/live/stream/%69ndex.m3u8?cookieCheck=1",
            "/live/stream/other/index.m3u8?cookieCheck=1",
            "/live/streamx/index.m3u8?cookieCheck=1",
            "/live/stream/index.html?cookieCheck=1",
            "/live/stream/index.m3u8?cookieCheck=1&x=<a>",
        ] {
            assert!(o.resolve_redirect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_allowed_headers_of_the_origin_are_kept() {
        let mut from = HeaderMap::new();
        for (k, v) in [
            ("etag", "\"e1\""),
            ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("x-ready-us", "12"),
            ("content-type", "text/html"),
            ("set-cookie", "hlsSession=x"),
            ("server", "mediamtx"),
            ("access-control-allow-origin", "*"),
            ("x-powered-by", "gin"),
            ("cache-control", "public, max-age=3600"),
            ("location", "/x"),
        ] {
            from.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let kept = allowed_headers(&from);
        let mut names: Vec<_> = kept.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["etag", "last-modified", "x-ready-us"]);
    }

    #[test]
    fn first_variant_of_a_multivariant_playlist() {
        let mv = "#EXTM3U\n#EXT-X-VERSION:10\n\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio2_stream.m3u8\"\n\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo1_stream.m3u8\n";
        assert_eq!(first_variant(mv).as_deref(), Some("video1_stream.m3u8"));
        assert_eq!(first_variant("#EXTM3U\n#EXTINF:1,\n0.ts\n"), None);
    }
}
