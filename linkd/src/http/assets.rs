//! The page's static files (player, session follow-up, hls.js, stylesheet), compiled into the binary and served
//! under names that carry a content hash, so they can be cached for a year.

use super::{full, set_static, Body};
use http::{header, HeaderValue, Response, StatusCode};
use sha2::{Digest, Sha256};

struct File {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

impl File {
    const fn js(stem: &'static str, bytes: &'static [u8]) -> File {
        File {
            stem,
            ext: "js",
            content_type: "text/javascript; charset=utf-8",
            bytes,
        }
    }

    const fn css(stem: &'static str, bytes: &'static [u8]) -> File {
        File {
            stem,
            ext: "css",
            content_type: "text/css; charset=utf-8",
            bytes,
        }
    }
}

const FILES: [File; 4] = [
    File::js("player", include_bytes!("../../assets/player.js")),
    File::js("hls", include_bytes!("../../assets/hls.min.js")),
    File::js("session", include_bytes!("../../assets/session.js")),
    File::css("watch", include_bytes!("../../assets/watch.css")),
];

/// The embedded files and their hashed URLs.
pub struct Assets {
    names: Vec<String>,
}

/// URLs of the assets, as the templates use them.
#[derive(serde::Serialize, Clone)]
pub struct AssetUrls {
    /// The player script.
    pub player_js: String,
    /// hls.js.
    pub hls_js: String,
    /// The stylesheet.
    pub css: String,
    /// The link session follow-up, loaded before the player.
    pub session_js: String,
}

impl Assets {
    /// Computes the hashed names once at start.
    pub fn new() -> Assets {
        let names = FILES
            .iter()
            .map(|f| {
                let hash = Sha256::digest(f.bytes);
                let hex: String = hash[..5].iter().map(|b| format!("{b:02x}")).collect();
                format!("{}.{hex}.{}", f.stem, f.ext)
            })
            .collect();
        Assets { names }
    }

    /// The URLs for the templates.
    pub fn urls(&self) -> AssetUrls {
        AssetUrls {
            player_js: format!("/assets/{}", self.names[0]),
            hls_js: format!("/assets/{}", self.names[1]),
            css: format!("/assets/{}", self.names[3]),
            session_js: format!("/assets/{}", self.names[2]),
        }
    }

    /// The response for `/assets/{name}`, or `None` when there is no such file.
    pub fn serve(&self, name: &str, head: bool) -> Option<Response<Body>> {
        let i = self.names.iter().position(|n| n == name)?;
        let f = &FILES[i];
        let body = if head { super::empty() } else { full(f.bytes) };
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::OK;
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.bytes.len()));
        set_static(
            h,
            [
                (header::CONTENT_TYPE, f.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
        );
        Some(r)
    }
}

impl Default for Assets {
    fn default() -> Self {
        Self::new()
    }
}
