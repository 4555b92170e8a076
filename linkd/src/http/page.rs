//! The pages a person sees: the watch page (tera template `watch.html`) and the error pages
//! (`error.html`), with the security headers every page carries.

use super::assets::AssetUrls;
use super::{full, set_static, Body};
use http::{header, HeaderName, Response, StatusCode};
use serde::Serialize;

/// Content-Security-Policy of every page: own scripts and styles only, media and workers
/// from `blob:` (hls.js feeds the video through MediaSource), no framing.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// Permissions-Policy of every page: a video page needs no sensor, device or payment.
pub const PERMISSIONS: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
midi=(), accelerometer=(), gyroscope=(), magnetometer=()";

/// The page templates, parsed once at start.
pub struct Pages {
    tera: tera::Tera,
    assets: AssetUrls,
}

/// What the player needs to know, as JSON in the page.
#[derive(Serialize)]
pub struct PlayerConfig {
    /// The playlist to play.
    pub play_url: &'static str,
    /// Where the player asks whether the link still plays.
    pub session_url: &'static str,
    /// When the link expires (Unix seconds); `None` for a permanent link.
    pub expires_at: Option<i64>,
}

/// The error pages linkd shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPage {
    /// Unknown or malformed token.
    InvalidLink,
    /// The link ran out.
    Expired,
    /// The link was switched off.
    Disabled,
    /// No such page.
    NotFound,
    /// Wrong method.
    MethodNotAllowed,
    /// Too many failed attempts.
    TooManyRequests,
}

impl ErrorPage {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ErrorPage::InvalidLink => (
                StatusCode::NOT_FOUND,
                "This link is not valid",
                "Check that you opened the whole link, or ask the person who sent it for a new one.",
            ),
            ErrorPage::Expired => (
                StatusCode::GONE,
                "This link has expired",
                "Its time is up. Ask the person who sent it for a new link.",
            ),
            ErrorPage::Disabled => (
                StatusCode::GONE,
                "This link was switched off",
                "The person who sent it has turned it off. Ask them if you think this is a mistake.",
            ),
            ErrorPage::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing here. Open the watch link you were sent.",
            ),
            ErrorPage::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Not allowed",
                "This address can only be opened in a browser.",
            ),
            ErrorPage::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many links that do not work were tried from your address. Wait a minute and try again.",
            ),
        }
    }
}

#[derive(Serialize)]
struct ErrorContext<'a> {
    status: u16,
    state: &'a str,
    title: &'a str,
    message: &'a str,
    assets: &'a AssetUrls,
}

#[derive(Serialize)]
struct WatchContext<'a> {
    title: &'a str,
    note: &'a str,
    config_json: String,
    assets: &'a AssetUrls,
}

/// Adds the headers every HTML page carries.
fn page_headers(r: &mut Response<Body>) {
    set_static(
        r.headers_mut(),
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
            (HeaderName::from_static("permissions-policy"), PERMISSIONS),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                "same-origin",
            ),
        ],
    );
}

/// JSON that is safe inside a `<script>` element.
fn script_safe_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .expect("player config serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

impl Pages {
    /// Parses the embedded templates.
    pub fn new(assets: AssetUrls) -> Pages {
        let mut tera = tera::Tera::default();
        tera.add_raw_templates([
            ("base.html", include_str!("../../../templates/base.html")),
            ("watch.html", include_str!("../../../templates/watch.html")),
            ("error.html", include_str!("../../../templates/error.html")),
        ])
        .expect("the embedded templates parse");
        Pages { tera, assets }
    }

    /// The watch page under the operator's `STREAM_TITLE`, with the link's greeting if the
    /// operator set one. A link's note is the operator's private label ("ex-boss") and
    /// never reaches the page.
    pub fn watch(&self, title: &str, greeting: &str, config: &PlayerConfig) -> Response<Body> {
        let ctx = WatchContext {
            title,
            note: greeting,
            config_json: script_safe_json(config),
            assets: &self.assets,
        };
        self.render("watch.html", &ctx, StatusCode::OK)
    }

    /// An error page.
    pub fn error(&self, page: ErrorPage) -> Response<Body> {
        let (status, title, message) = page.parts();
        let state = match page {
            ErrorPage::Expired => "expired",
            ErrorPage::Disabled => "disabled",
            ErrorPage::InvalidLink => "invalid",
            _ => "error",
        };
        let ctx = ErrorContext {
            status: status.as_u16(),
            state,
            title,
            message,
            assets: &self.assets,
        };
        self.render("error.html", &ctx, status)
    }

    fn render<T: Serialize>(&self, name: &str, ctx: &T, status: StatusCode) -> Response<Body> {
        let html = tera::Context::from_serialize(ctx)
            .and_then(|c| self.tera.render(name, &c))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, template = name, "page rendering failed");
                "<!DOCTYPE html><title>Error</title><p>Something went wrong.</p>".to_string()
            });
        let mut r = Response::new(full(html));
        *r.status_mut() = status;
        page_headers(&mut r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn pages() -> Pages {
        Pages::new(super::super::assets::Assets::new().urls())
    }

    async fn body(r: Response<Body>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn notes_are_escaped_and_config_cannot_close_the_script() {
        let p = pages();
        let cfg = PlayerConfig {
            play_url: "/play/index.m3u8",
            session_url: "/play/_session",
            expires_at: Some(5),
        };
        let r = p.watch("<script>alert(1)</script>", "", &cfg);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let html = body(r).await;
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)"));
        assert!(html.contains(r#""expires_at":5"#));
        assert_eq!(script_safe_json(&"</script>"), r#""\u003c/script\u003e""#);
    }

    #[tokio::test]
    async fn error_pages_have_their_status_and_a_readable_title() {
        let p = pages();
        for (page, status, words) in [
            (ErrorPage::Expired, 410, "expired"),
            (ErrorPage::Disabled, 410, "switched off"),
            (ErrorPage::InvalidLink, 404, "not valid"),
            (ErrorPage::TooManyRequests, 429, "Too many"),
        ] {
            let r = p.error(page);
            assert_eq!(r.status().as_u16(), status);
            assert!(r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"));
            for (name, value) in [
                ("x-frame-options", "DENY"),
                ("x-content-type-options", "nosniff"),
                ("cross-origin-opener-policy", "same-origin"),
                ("cross-origin-resource-policy", "same-origin"),
                ("permissions-policy", PERMISSIONS),
            ] {
                assert_eq!(r.headers()[name], value, "{name}");
            }
            assert!(body(r).await.contains(words));
        }
    }
}
