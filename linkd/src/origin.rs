//! The HLS origin (MediaMTX): the pooled upstream client and the liveness probe.
//!
//! Requests carry only an allowlist of headers plus linkd's reader credentials, and never a
//! viewer's cookies, so MediaMTX 1.18+ keeps its session in the query (`session=`), one per
//! viewer session. Its `302` to `index.m3u8?cookieCheck=1` is followed here. There is a
//! connect timeout but no total timeout: LL-HLS blocking reloads legitimately wait.

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
/// Redirects followed inside the stream's path.
const MAX_REDIRECTS: usize = 3;

/// Request headers passed on to the origin; everything else (cookies, authorization,
/// user agent, ...) stays with linkd.
const FORWARD: [HeaderName; 5] = [
    header::ACCEPT,
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
];

/// Response headers never passed back to viewers.
const STRIP: [&str; 16] = [
    "set-cookie",
    "server",
    "x-powered-by",
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-expose-headers",
    "access-control-max-age",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
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
        }
    }

    /// GETs `path` (already sanitised, relative to the stream) with `query` verbatim, following
    /// redirects that stay inside the stream. Only allowlisted headers of `incoming` are sent.
    pub async fn get(
        &self,
        path: &str,
        query: Option<&str>,
        incoming: &HeaderMap,
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
            let h = req.headers_mut();
            for name in &FORWARD {
                for v in incoming.get_all(name) {
                    h.append(name.clone(), v.clone());
                }
            }
            if let Some(a) = &self.auth {
                h.insert(header::AUTHORIZATION, a.clone());
            }
            let resp = tokio::time::timeout(RESPONSE_TIMEOUT, self.client.request(req))
                .await
                .map_err(|_| OriginError::Timeout(RESPONSE_TIMEOUT))?
                .map_err(|e| OriginError::Unreachable(error_chain(&e)))?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or(OriginError::Redirect)?;
            target = self.resolve_redirect(&target, location)?;
        }
        Err(OriginError::Redirect)
    }

    /// The new target of a redirect, which must stay under the stream's path.
    fn resolve_redirect(&self, current: &str, location: &str) -> Result<String, OriginError> {
        let location = location.strip_prefix(&self.root).unwrap_or(location);
        let next = if location.starts_with('/') {
            location.to_string()
        } else if location.contains("://") || location.starts_with("//") {
            return Err(OriginError::Redirect);
        } else {
            let dir = current.split('?').next().unwrap_or("");
            let dir = &dir[..dir.rfind('/').map(|i| i + 1).unwrap_or(0)];
            format!("{dir}{location}")
        };
        let (path, _) = next.split_once('?').unwrap_or((&next, ""));
        if !path.starts_with(&format!("{}/", self.base_path)) || path.contains("/..") {
            return Err(OriginError::Redirect);
        }
        Ok(next)
    }

    /// Reads a small body (a playlist) in full, within [`PROBE_TIMEOUT`].
    pub async fn get_text(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<(StatusCode, String), OriginError> {
        let read = async {
            let resp = self.get(path, query, &HeaderMap::new()).await?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), 256 * 1024)
                .collect()
                .await
                .map_err(|e| OriginError::Unreachable(e.to_string()))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(PROBE_TIMEOUT, read)
            .await
            .map_err(|_| OriginError::Timeout(PROBE_TIMEOUT))?
    }
}

/// Removes the origin's headers that viewers must not see.
pub fn strip_response_headers(h: &mut HeaderMap) {
    for name in STRIP {
        h.remove(name);
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
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
            shared.events.stream_changed(live).await;
        }
        first = false;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(shared.config.probe_interval) => {}
        }
    }
}

/// One liveness check: the media playlist of the session kept from the last check, else
/// `index.m3u8` (which opens a new session on MediaMTX 1.18+).
async fn check_live(origin: &Origin, media: &mut Option<String>) -> bool {
    let playlist_ok = |r: &Result<(StatusCode, String), OriginError>| matches!(r, Ok((s, body)) if *s == StatusCode::OK && body.starts_with("#EXTM3U"));
    if let Some(m) = media.as_deref() {
        let (path, query) = m
            .split_once('?')
            .map(|(p, q)| (p, Some(q)))
            .unwrap_or((m, None));
        if playlist_ok(&origin.get_text(path, query).await) {
            return true;
        }
        *media = None;
    }
    let index = origin.get_text("index.m3u8", None).await;
    if let Err(e) = &index {
        tracing::debug!(error = %e, "origin probe failed");
    }
    if !playlist_ok(&index) {
        return false;
    }
    if let Ok((_, body)) = index {
        *media = first_variant(&body)
            .filter(|v| crate::http::path::sanitize(v.split('?').next().unwrap_or("")).is_ok());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_inside_the_stream() {
        let o = Origin::new("http://127.0.0.1:8888/live/stream", None, None);
        let cur = "/live/stream/index.m3u8";
        assert_eq!(
            o.resolve_redirect(cur, "/live/stream/index.m3u8?cookieCheck=1")
                .unwrap(),
            "/live/stream/index.m3u8?cookieCheck=1"
        );
        assert_eq!(
            o.resolve_redirect(cur, "index.m3u8?x=1").unwrap(),
            "/live/stream/index.m3u8?x=1"
        );
        assert_eq!(
            o.resolve_redirect(cur, "http://127.0.0.1:8888/live/stream/a.m3u8")
                .unwrap(),
            "/live/stream/a.m3u8"
        );
        for bad in [
            "/etc/passwd",
            "http://evil.example/live/stream/x",
            "//evil/x",
            "/live/stream/../x",
            "/live/streamx/y",
        ] {
            assert!(o.resolve_redirect(cur, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_variant_of_a_multivariant_playlist() {
        let mv = "#EXTM3U\n#EXT-X-VERSION:10\n\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio2_stream.m3u8?session=a\"\n\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo1_stream.m3u8?session=a\n";
        assert_eq!(
            first_variant(mv).as_deref(),
            Some("video1_stream.m3u8?session=a")
        );
        assert_eq!(first_variant("#EXTM3U\n#EXTINF:1,\n0.ts\n"), None);
    }
}
