//! `GET|HEAD /live/stream/{token}`: opens a link. An active link gets the watch page and a
//! fresh playback session in the cookie; anything else gets a page that says why, and no
//! cookie. Malformed tokens are refused before any lookup, and clients that keep trying bad
//! tokens are slowed down with 429.
//!
//! `HEAD` and link-preview fetches (a messenger showing a card for the URL) get the same
//! page without a session: they are not a viewer, and the link counts as opened only when a
//! session first fetches the stream (`/play`).
//!
//! An opening with a session is recorded in the audit trail (truncated address, browser
//! family, device label from the `watch_device` cookie, which it sets) and registered with
//! `viewers`, so the session's first `/play` request knows who it is.

use super::page::{ErrorPage, PlayerConfig};
use super::session::{self, Session};
use super::{device, Body, Web};
use crate::audit::{self, Facts};
use crate::token::Token;
use crate::Shared;
use http::{header, HeaderValue, Method, Request, Response};
use proto::{AuditKind, LinkState};
use std::net::IpAddr;
use std::sync::Arc;

/// User-Agent words of the crawlers that fetch a page to show a preview card: Telegram,
/// WhatsApp (Signal's clients send `WhatsApp` too), Slack, Discord, Facebook and iMessage
/// (`facebookexternalhit`, `Facebot`), Twitter/X, Apple, LinkedIn, Skype/Teams and the embed
/// services. Only crawler names: an app's own in-app browser (`Telegram-Android`,
/// `FBAN`, `LinkedInApp`) is a viewer and gets a session.
const PREVIEWERS: &[&str] = &[
    "TelegramBot",
    "WhatsApp",
    "Signal",
    "Slackbot",
    "Slack-ImgProxy",
    "Discordbot",
    "facebookexternalhit",
    "Facebot",
    "Twitterbot",
    "Applebot",
    "LinkedInBot",
    "SkypeUriPreview",
    "Iframely",
    "Embedly",
    "redditbot",
    "vkShare",
];

/// Whether `user_agent` is a link-preview crawler (ASCII case-insensitive).
pub fn is_link_preview(user_agent: &str) -> bool {
    let ua = user_agent.as_bytes();
    PREVIEWERS.iter().any(|w| {
        ua.windows(w.len())
            .any(|win| win.eq_ignore_ascii_case(w.as_bytes()))
    })
}

/// Opens the link named in the request's path (`/live/stream/{token}`).
pub fn watch<B>(
    web: &Web,
    shared: &Arc<Shared>,
    req: &Request<B>,
    client: IpAddr,
) -> Response<Body> {
    if web.limiter.blocked(client) {
        return web.pages.error(ErrorPage::TooManyRequests);
    }
    let token = Token::parse(&req.uri().path()["/live/stream/".len()..]);
    let Some(entry) = token.and_then(|t| shared.links.by_token(&t)) else {
        web.limiter.fail(client);
        return web.pages.error(ErrorPage::InvalidLink);
    };
    let now = shared.links.now();
    match entry.state(now) {
        LinkState::Expired => return web.pages.error(ErrorPage::Expired),
        LinkState::Disabled => return web.pages.error(ErrorPage::Disabled),
        LinkState::Active => {}
    }
    let cfg = PlayerConfig {
        play_url: "/play/index.m3u8",
        session_url: "/play/_session",
        expires_at: entry.expires_at,
    };
    let greeting = shared.greetings.get(entry.id).unwrap_or_default();
    let mut r = web
        .pages
        .watch(&shared.config.stream_title, &greeting, &cfg);
    let preview = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_link_preview);
    if req.method() == Method::HEAD || preview {
        tracing::info!(
            link_id = entry.id,
            preview,
            "link page fetched without a session"
        );
        return r;
    }
    let (issued, cookies) = match super::sharing::open(web, shared, &entry, req.headers(), now) {
        Ok(opened) => opened,
        Err(page) => return web.pages.error(page),
    };
    tracing::info!(link_id = entry.id, "session issued");
    let device = opened(shared, req, client, issued);
    for c in cookies
        .into_iter()
        .chain([session::clear_state_cookie(web.cookie_secure), device])
    {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Records the opening of the link by session `issued` in the audit trail and registers the
/// session with what the trail keeps of its viewer; returns the device cookie to (re)set.
fn opened<B>(shared: &Shared, req: &Request<B>, client: IpAddr, issued: Session) -> String {
    let value = device::of_request(req.headers())
        .map(String::from)
        .unwrap_or_else(device::new_value);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let facts = Facts {
        client: shared.config.audit_address_prefix.truncate(client),
        browser: Some(audit::browser(user_agent)),
        device: Some(audit::device_label(issued.link_id, &value)),
    };
    shared
        .audit
        .viewer(issued.link_id, AuditKind::Opened, &facts, None);
    shared.viewers.issued(issued.id, issued.link_id, facts);
    device::set_cookie(&value, shared.config.cookie_secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_preview_user_agents() {
        // (User-Agent as the crawler sends it, is a preview)
        let cases = [
            ("TelegramBot (like TwitterBot)", true),
            ("WhatsApp/2.23.20.0 A", true),
            ("WhatsApp/2", true),
            ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true),
            ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true),
            ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0", true),
            ("Twitterbot/1.0", true),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Telegram-Android/11.5.3 (Google Pixel 8; Android 14; SDK 34; HIGH)", false),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.40.97]", false),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", false),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", false),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", false),
            ("", false),
        ];
        for (ua, want) in cases {
            assert_eq!(is_link_preview(ua), want, "{ua}");
        }
    }
}
