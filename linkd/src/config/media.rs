//! The publishing side's settings: the stream path and RTMP URL derived from the others,
//! the media listener's need for linkd's reader credential, and the warning about a media
//! server left with static publish credentials.

use super::{Config, Secret};
use std::net::SocketAddr;

/// The stream's path on the media server (`live/stream`): the path of
/// `MEDIAMTX_HLS_BASE_URL`.
pub fn stream_path(hls_base_url: &str) -> String {
    let after_scheme = hls_base_url
        .split_once("://")
        .map_or(hls_base_url, |(_, r)| r);
    let path = after_scheme.split_once('/').map_or("", |(_, p)| p);
    path.trim_matches('/').to_string()
}

/// `rtmp://{BASE_URL's host}:1935/{app}`, where app is the stream path but its last part.
fn default_rtmp_url(base_url: &str, hls_base_url: &str) -> String {
    let host = base_url
        .split_once("://")
        .map_or(base_url, |(_, r)| r)
        .split(['/', ':'])
        .next()
        .unwrap_or("localhost");
    let path = stream_path(hls_base_url);
    let app = path.rsplit_once('/').map_or("live", |(app, _)| app);
    format!("rtmp://{host}:1935/{app}")
}

/// The media server asks linkd about readers too, so linkd must have its reader credential.
pub(super) fn check_media_auth(
    l: &mut kit::config::Loader,
    auth: &Option<Option<SocketAddr>>,
    read_password: &Option<Option<Secret>>,
) {
    if let (Some(Some(_)), Some(None)) = (auth, read_password) {
        l.problem(
            "MEDIA_AUTH_ADDR",
            "set MEDIAMTX_READ_USER and MEDIAMTX_READ_PASSWORD too: linkd admits only its own reader",
        );
    }
}

impl Config {
    /// What `--check-config` and the start warn about: settings that work but are unsafe.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let static_pair =
            self.mediamtx_publish_user.is_some() || self.mediamtx_publish_password.is_some();
        if static_pair && self.media_auth_addr.is_none() {
            w.push(
                "MEDIAMTX_PUBLISH_USER/MEDIAMTX_PUBLISH_PASSWORD are set but MEDIA_AUTH_ADDR is not: \
                 the media server keeps a static publish password that cannot be rotated; set \
                 MEDIA_AUTH_ADDR and point MediaMTX's authHTTPAddress at it (README: Publishing)"
                    .to_string(),
            );
        }
        w
    }
}

/// `RTMP_PUBLIC_URL` as set, else derived from `BASE_URL` and the stream path; `None` when
/// one of them was bad (its problem is recorded).
pub(super) fn rtmp_url(
    set: Option<Option<String>>,
    base_url: &Option<String>,
    hls_base_url: &Option<String>,
) -> Option<String> {
    match (set, base_url, hls_base_url) {
        (Some(Some(url)), _, _) => Some(url),
        (Some(None), Some(base), Some(hls)) => Some(default_rtmp_url(base, hls)),
        _ => None,
    }
}

/// Adds the configuration's warnings to what `--check-config` prints.
pub(super) fn with_warnings(loaded: kit::config::Load<Config>) -> kit::config::Load<Config> {
    loaded.map(|(c, mut effective)| {
        for w in c.warnings() {
            effective.warn(w);
        }
        (c, effective)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{figment, OK};

    /// The RTMP URL follows BASE_URL's host and the stream path unless it is set; the media
    /// listener needs linkd's reader credential; static publish credentials without it warn.
    #[test]
    fn publishing_settings_are_derived_checked_and_warned_about() {
        let c = Config::from_figment(figment(OK)).unwrap();
        assert_eq!(c.rtmp_public_url, "rtmp://watch.example.org:1935/live");
        assert!(c.warnings().is_empty());
        let mut pairs = OK.to_vec();
        pairs.push(("MEDIAMTX_PUBLISH_USER", "obs"));
        pairs.push(("MEDIAMTX_PUBLISH_PASSWORD", "static-secret"));
        pairs.push(("RTMP_PUBLIC_URL", "rtmp://ingest.example.org:1936/live/"));
        let c = Config::from_figment(figment(&pairs)).unwrap();
        assert_eq!(c.rtmp_public_url, "rtmp://ingest.example.org:1936/live");
        let w = c.warnings().join("\n");
        assert!(
            w.contains("MEDIA_AUTH_ADDR") && !w.contains("static-secret"),
            "{w}"
        );
        pairs.push(("MEDIA_AUTH_ADDR", "127.0.0.1:9180"));
        let err = Config::from_figment(figment(&pairs)).unwrap_err();
        assert!(
            err.lines()
                .join("\n")
                .contains("MEDIA_AUTH_ADDR: set MEDIAMTX_READ_USER"),
            "{err}"
        );
        pairs.push(("MEDIAMTX_READ_USER", "linkd"));
        pairs.push(("MEDIAMTX_READ_PASSWORD", "r"));
        let c = Config::from_figment(figment(&pairs)).unwrap();
        assert!(c.warnings().is_empty());
    }
}
