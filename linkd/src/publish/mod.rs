//! The publishing side: linkd as the media server's authority.
//!
//! `key` makes, keeps and rotates the stream key OBS publishes with; `auth` decides the media
//! server's questions (MediaMTX's `authMethod: http`, nginx-rtmp's `on_publish`/`on_play`)
//! and turns its go-live calls into stream state; `control` stops a publisher whose key was
//! rotated. The HTTP side of the `MEDIA_AUTH_ADDR` listener is `http::media`.

pub mod auth;
pub mod control;
pub mod key;

use crate::sync::lock;
use crate::Shared;
use std::sync::Mutex;

/// The publishing side's state.
pub struct Media {
    /// The stream key.
    pub keys: key::StreamKeys,
    /// The publisher the media server admitted last, until it stops.
    publisher: Mutex<Option<auth::Publisher>>,
    /// The password of linkd's own calls to MediaMTX's control API, made at each start.
    control_password: crate::config::Secret,
}

impl Media {
    /// The publishing side around `keys`.
    pub fn new(keys: key::StreamKeys) -> Media {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let password = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Media {
            keys,
            publisher: Mutex::new(None),
            control_password: crate::config::Secret::new(password),
        }
    }

    /// The user and password of linkd's own calls to MediaMTX's control API.
    pub fn control(&self) -> (&str, &str) {
        (control::CONTROL_USER, self.control_password.expose())
    }
}

/// Replaces the stream key and stops a publisher that is live with the old one (where
/// `MEDIA_CONTROL_URL` names the media server's control API).
pub async fn rotate(shared: &Shared) -> Result<proto::StreamKeyRotation, proto::ApiError> {
    let key = shared.media.keys.rotate().await?;
    let publisher = lock(&shared.media.publisher).clone();
    let publisher_stopped = match (&shared.config.media_control_url, publisher) {
        (Some(url), Some(p)) => control::stop(url, &p, shared.media.control()).await,
        _ => false,
    };
    Ok(proto::StreamKeyRotation {
        key,
        publisher_stopped,
    })
}

/// Applies what an answer to the media server changes: a publisher admitted is the stream
/// going live, its end the stream going offline, at once (the probe stays the fallback).
pub async fn apply(shared: &Shared, effect: auth::Effect) {
    match effect {
        auth::Effect::None => {}
        auth::Effect::Live(p) => {
            *lock(&shared.media.publisher) = Some(p);
            hook(shared, true).await;
        }
        auth::Effect::Offline { client } => {
            if ended(&mut lock(&shared.media.publisher), &client) {
                hook(shared, false).await;
            }
        }
    }
}

/// Forgets the admitted publisher when `client` is that one (a refused publisher ending does
/// not end the admitted one); true when it was.
fn ended(current: &mut Option<auth::Publisher>, client: &str) -> bool {
    let ours = match current.as_ref() {
        Some(auth::Publisher::NginxRtmp { client: c, .. }) => c == client,
        _ => true,
    };
    if ours {
        *current = None;
    }
    ours
}

/// The media server says the stream is (or is no longer) live.
pub async fn hook(shared: &Shared, live: bool) {
    if shared.stream.hooked(live, shared.links.now()) {
        tracing::info!(live, source = "media server", "stream state");
        shared.events.stream_changed(live, true).await;
    }
}
