//! The API that linkd serves on its Unix socket, and the wire types of that API.
//!
//! linkd owns the links; botd, `linkctl` and scripts call it through the [`LinkApi`] trait.
//! This crate holds only the trait, its request/response types and the framing, so every
//! client and the server agree on one definition.
//!
//! # Wire format
//!
//! The transport is [tarpc] with its JSON codec over a Unix stream socket (`RPC_SOCKET`,
//! default `./linkd.sock`). Each message is one frame: a 4-byte big-endian length, then that
//! many bytes of UTF-8 JSON. A client sends requests and may send several before reading the
//! answers; answers carry the request id.
//!
//! A request (client to linkd):
//!
//! ```json
//! {"Request":{"context":{"deadline":{"secs":10,"nanos":0},
//!   "trace_context":{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":0,
//!   "sampling_decision":"Unsampled"}},
//!   "id":1,"message":{"CreateLink":{"ttl":"90m","note":"grandma"}}}}
//! ```
//!
//! (`trace_id` is 16 bytes; zeros are fine.)
//!
//! `deadline` is relative (how long the caller will wait); `message` names the method in
//! `CamelCase` with its arguments as an object (`{"ListActive":{}}`, `{"DisableLink":{"id":3}}`).
//! The answer (linkd to client):
//!
//! ```json
//! {"request_id":1,"message":{"Ok":{"CreateLink":{"Ok":{"id":7,"url":"https://..."}}}}}
//! ```
//!
//! The outer `Ok`/`Err` is the transport's (an `Err` means the call was not executed, e.g.
//! its deadline passed); the inner one is the method's own `Result<_, ApiError>`, where an
//! error is an externally tagged [`ApiError`], e.g. `{"Err":{"NotFound":{"id":9}}}`.
//! A client may also cancel: `{"Cancel":{"trace_context":{...},"request_id":1}}`.
//!
//! Rotating the key that signs playback sessions (`linkctl signing-key rotate --logout-all`):
//!
//! ```json
//! {"Request":{"context":{...},"id":2,"message":{"RotateSigningKey":{"logout_all":true}}}}
//! {"request_id":2,"message":{"Ok":{"RotateSigningKey":{"Ok":{"key_id":3,
//!   "created_at":1795956279,"older_keys_accepted":0,"logged_out_all":true}}}}}
//! ```

mod audit;
#[cfg(feature = "client")]
pub mod client;
mod limits;

pub use limits::{check_max_viewers, Limits, MAX_VIEWERS};
#[cfg(feature = "client")]
pub mod story;

pub use audit::{Actor, AuditEvent, AuditKind, LinkLog, Viewer, LOG_EVENTS};
mod publish;
mod status;

pub use publish::{StreamKey, StreamKeyRotation};
pub use status::{Backend, StateStore, Status};

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of this crate, which is the version of the whole tempstream workspace.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Shortest TTL a temporary link may have.
pub const MIN_TTL_SECS: u64 = 1;
/// Longest TTL a temporary link may have: 30 days.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// Longest note, in Unicode scalar values (not bytes).
pub const MAX_NOTE_CHARS: usize = 200;

/// The calls linkd answers on its socket.
#[tarpc::service]
pub trait LinkApi {
    /// Liveness and version check; never fails.
    async fn ping() -> Pong;
    /// Creates a temporary link. `ttl` is a humantime duration (`90m`, `1h30m`, `2d`);
    /// `None` means linkd's `DEFAULT_LINK_TTL`.
    async fn create_link(ttl: Option<String>, note: Option<String>) -> Result<Link, ApiError>;
    /// Creates a link that never expires (it can still be disabled).
    async fn create_permanent_link(note: Option<String>) -> Result<Link, ApiError>;
    /// The links that are active now, newest first.
    async fn list_active() -> Result<Vec<Link>, ApiError>;
    /// One link by id, whatever its state.
    async fn get_link(id: i64) -> Result<Link, ApiError>;
    /// Switches a link off; its viewers are refused from the moment this returns.
    async fn disable_link(id: i64) -> Result<Link, ApiError>;
    /// Switches off the newest active link.
    async fn disable_last() -> Result<Link, ApiError>;
    /// Gives an active link a new expiry: `ttl` from now (a permanent link becomes temporary).
    async fn extend_link(id: i64, ttl: String) -> Result<Link, ApiError>;
    /// Sets the line a link's viewers are greeted with on the watch page (`None` or empty
    /// removes it). Only this shows text to viewers: a link's note is the operator's label.
    /// Checked like a note.
    async fn set_greeting(id: i64, greeting: Option<String>) -> Result<Link, ApiError>;
    /// The stream and the service as they are now.
    async fn status() -> Result<Status, ApiError>;
    /// Events not yet acknowledged by `consumer`, oldest first. Waits up to `wait_ms`
    /// (at most 30 s) for one to happen when there are none. Delivery is at least once:
    /// events stay pending until [`LinkApi::ack_events`], also across restarts of either side.
    async fn next_events(consumer: String, wait_ms: u32) -> Result<Vec<Event>, ApiError>;
    /// Marks every event of `consumer` up to and including `last_id` as handled.
    async fn ack_events(consumer: String, last_id: u64) -> Result<(), ApiError>;
    /// Signs new playback sessions with a new master key from now on. Sessions signed by
    /// older keys stay valid until they end, or, with `logout_all`, end at once (their
    /// viewers open their link again).
    async fn rotate_signing_key(logout_all: bool) -> Result<SigningKeyRotation, ApiError>;
    /// Creates a link with sharing [`Limits`]; `ttl` as in `create_link`, unless `permanent`.
    async fn create_limited_link(
        ttl: Option<String>,
        permanent: bool,
        note: Option<String>,
        limits: Limits,
    ) -> Result<Link, ApiError>;
    /// Ends an active link's current playback sessions now; the link stays, and the next
    /// opening starts afresh (a one-time link binds again).
    async fn kick_link(id: i64) -> Result<Link, ApiError>;
    /// Gives an active link a new token (a new URL; same id, note, expiry and limits); the
    /// old URL and its sessions stop at once.
    async fn rotate_link(id: i64) -> Result<Link, ApiError>;
    /// Switches off every active link; the links switched off, newest first.
    async fn disable_all() -> Result<Vec<Link>, ApiError>;
    /// Names the Telegram chat on whose behalf this connection's later calls are made, so
    /// the audit trail records that chat (and the socket's local user) as who changed a link.
    /// botd sends it once per connection; a connection that never does is its local user.
    async fn identify(chat_id: i64) -> Result<(), ApiError>;
    /// A link's story from the audit trail: how often and on how many devices it was
    /// opened, how long it was watched, and its latest events, newest first.
    async fn link_log(id: i64) -> Result<LinkLog, ApiError>;
    /// Who is watching now: every live playback session, by link.
    async fn viewers() -> Result<Vec<Viewer>, ApiError>;
    /// The key OBS publishes with, and the RTMP URL to publish to. Shown on request only.
    async fn stream_key() -> Result<StreamKey, ApiError>;
    /// Makes a new stream key: the old one (and an earlier setup's static publish pair) is
    /// refused from now on, and a publisher live with it is stopped where the media server
    /// has a control API.
    async fn rotate_stream_key() -> Result<StreamKeyRotation, ApiError>;
}

/// Answer to [`LinkApi::rotate_signing_key`]. The key itself never leaves linkd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRotation {
    /// Id of the key that signs new sessions from now on.
    pub key_id: u32,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// Older keys whose sessions are still accepted until they end (0 after `logout_all`).
    pub older_keys_accepted: u32,
    /// Whether every session signed by an older key was ended.
    pub logged_out_all: bool,
}

/// Answer to [`LinkApi::ping`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// linkd's version.
    pub version: String,
}

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Enabled and not expired: the link plays.
    Active,
    /// Its expiry time has passed.
    Expired,
    /// Switched off by an operator.
    Disabled,
}

impl LinkState {
    /// The lowercase name used in JSON and in human output.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Active => "active",
            LinkState::Expired => "expired",
            LinkState::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A watch link as callers see it. Times are Unix seconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Database id; what operators use to refer to a link.
    pub id: i64,
    /// Full watch URL: `BASE_URL` + `/live/stream/{token}`. It is the secret of the link.
    pub url: String,
    /// Free text label given at creation (may be empty).
    pub note: String,
    /// When it was made.
    pub created_at: i64,
    /// When it stops playing; `None` for a permanent link.
    pub expires_at: Option<i64>,
    /// Active, expired or disabled, computed at the time of the answer.
    pub state: LinkState,
    /// When it was switched off, if it was.
    pub disabled_at: Option<i64>,
    /// Playback sessions of this link watching now (a request in the last 20 s; none once it
    /// is switched off).
    pub viewers: u32,
    /// Its sharing limits (absent in answers of older linkd: none).
    #[serde(flatten)]
    pub limits: Limits,
}

/// Something that happened, for notifications (botd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing id; acknowledge with [`LinkApi::ack_events`].
    pub id: u64,
    /// When it happened, Unix seconds.
    pub at: i64,
    /// What happened.
    pub kind: EventKind,
    /// A stream change the media server itself reported (its go-live hooks), not a guess of
    /// the probe: worth telling at once. Absent (false) in answers of earlier versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_media_server: bool,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The stream started.
    StreamLive,
    /// The stream stopped.
    StreamOffline,
    /// A link was opened on a device that had not opened it before: a session's first
    /// fetch of the stream.
    LinkOpened {
        /// The link's id.
        link_id: i64,
        /// Its note at that time.
        note: String,
        /// How many devices have opened it so far, this one included (0 from linkd
        /// releases that did not count them).
        #[serde(default)]
        devices: u32,
    },
}

/// Why a note was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteProblem {
    /// Longer than [`MAX_NOTE_CHARS`] characters.
    TooLong,
    /// Contains a control character (newline, tab, escape, ...).
    ControlCharacter,
}

/// The failures a caller can act on. Messages are lowercase and meant for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// No link has this id.
    #[error("link {id} not found")]
    NotFound {
        /// The id asked for.
        id: i64,
    },
    /// The link was switched off already.
    #[error("link {id} is already disabled")]
    AlreadyDisabled {
        /// The link.
        id: i64,
        /// When it was switched off.
        disabled_at: Option<i64>,
    },
    /// The link ran out already.
    #[error("link {id} has already expired")]
    AlreadyExpired {
        /// The link.
        id: i64,
        /// When it expired.
        expires_at: i64,
    },
    /// `disable_last` found nothing to switch off.
    #[error("there are no active links")]
    NoActiveLinks,
    /// The TTL is not a duration or out of range.
    #[error("invalid ttl {given:?}: {reason}; use a duration from {min_secs}s to {max_secs}s, e.g. 30m, 1h30m or 2d")]
    InvalidTtl {
        /// What the caller sent.
        given: String,
        /// What is wrong with it.
        reason: String,
        /// Shortest accepted, seconds.
        min_secs: u64,
        /// Longest accepted, seconds.
        max_secs: u64,
    },
    /// The note is too long or has control characters.
    #[error("invalid note: {}", match problem { NoteProblem::TooLong => format!("longer than {max_chars} characters"), NoteProblem::ControlCharacter => "control characters are not allowed".to_string() })]
    InvalidNote {
        /// What is wrong.
        problem: NoteProblem,
        /// The longest accepted note, in characters.
        max_chars: usize,
    },
    /// The consumer name of an event call is empty or too long.
    #[error("invalid consumer name: use 1 to 64 characters")]
    InvalidConsumer,
    /// The database could not be written or read; nothing was changed.
    #[error("storage failure: {message}")]
    Storage {
        /// What failed, without secrets.
        message: String,
    },
    /// linkd is shutting down and takes no more changes.
    #[error("linkd is shutting down")]
    ShuttingDown,
    /// A viewer cap out of range.
    #[error("invalid viewer cap {given}: use 1 to {max} viewers at once")]
    InvalidMaxViewers {
        /// What the caller sent.
        given: u32,
        /// The largest accepted cap.
        max: u32,
    },
}

/// The tarpc transport over a Unix stream, as described in the crate docs.
pub type Transport<Item, SinkItem> = tarpc::serde_transport::Transport<
    tokio::net::UnixStream,
    Item,
    SinkItem,
    tarpc::tokio_serde::formats::Json<Item, SinkItem>,
>;

/// Longest frame either side accepts (1 MiB).
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Wraps a connected Unix stream in the framing and codec of this API.
pub fn transport<Item, SinkItem>(stream: tokio::net::UnixStream) -> Transport<Item, SinkItem>
where
    Item: for<'de> Deserialize<'de>,
    SinkItem: Serialize,
{
    let framed = tokio_util::codec::LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_BYTES)
        .new_framed(stream);
    tarpc::serde_transport::new(framed, tarpc::tokio_serde::formats::Json::default())
}

/// Connects to linkd's socket and returns a ready client.
pub async fn connect(socket: &Path) -> std::io::Result<LinkApiClient> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    Ok(LinkApiClient::new(tarpc::client::Config::default(), transport(stream)).spawn())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_externally_tagged() {
        let e = ApiError::NotFound { id: 9 };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"NotFound":{"id":9}}"#
        );
        let back: ApiError = serde_json::from_str(r#"{"NotFound":{"id":9}}"#).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn error_messages_are_lowercase_sentences_without_period() {
        let cases = [
            ApiError::NotFound { id: 1 },
            ApiError::AlreadyDisabled {
                id: 1,
                disabled_at: Some(5),
            },
            ApiError::AlreadyExpired {
                id: 1,
                expires_at: 5,
            },
            ApiError::NoActiveLinks,
            ApiError::InvalidTtl {
                given: "x".into(),
                reason: "not a duration".into(),
                min_secs: MIN_TTL_SECS,
                max_secs: MAX_TTL_SECS,
            },
            ApiError::InvalidNote {
                problem: NoteProblem::TooLong,
                max_chars: 200,
            },
            ApiError::InvalidNote {
                problem: NoteProblem::ControlCharacter,
                max_chars: 200,
            },
            ApiError::Storage {
                message: "disk full".into(),
            },
            ApiError::ShuttingDown,
        ];
        for e in cases {
            let m = e.to_string();
            assert!(m.chars().next().unwrap().is_lowercase(), "{m}");
            assert!(!m.ends_with('.'), "{m}");
        }
    }

    /// The request and answer shown in the crate docs are what the transport really carries.
    #[test]
    fn documented_wire_examples_parse() {
        let request = r#"{"Request":{"context":{"deadline":{"secs":10,"nanos":0},
          "trace_context":{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":0,
          "sampling_decision":"Unsampled"}},
          "id":1,"message":{"CreateLink":{"ttl":"90m","note":"grandma"}}}}"#;
        let parsed: tarpc::ClientMessage<LinkApiRequest> = serde_json::from_str(request).unwrap();
        match parsed {
            tarpc::ClientMessage::Request(r) => match r.message {
                LinkApiRequest::CreateLink { ttl, note } => {
                    assert_eq!(
                        (ttl.as_deref(), note.as_deref()),
                        (Some("90m"), Some("grandma"))
                    )
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        let answer =
            r#"{"request_id":1,"message":{"Ok":{"DisableLink":{"Err":{"NotFound":{"id":9}}}}}}"#;
        let parsed: tarpc::Response<LinkApiResponse> = serde_json::from_str(answer).unwrap();
        match parsed.message {
            Ok(LinkApiResponse::DisableLink(Err(ApiError::NotFound { id: 9 }))) => {}
            other => panic!("{other:?}"),
        }
    }

    /// The key rotation frames shown in the crate docs are what the transport carries.
    #[test]
    fn documented_key_rotation_frames_parse() {
        let request = r#"{"Request":{"context":{"deadline":{"secs":10,"nanos":0},
          "trace_context":{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":0,
          "sampling_decision":"Unsampled"}},
          "id":2,"message":{"RotateSigningKey":{"logout_all":true}}}}"#;
        let parsed: tarpc::ClientMessage<LinkApiRequest> = serde_json::from_str(request).unwrap();
        match parsed {
            tarpc::ClientMessage::Request(r) => match r.message {
                LinkApiRequest::RotateSigningKey { logout_all } => assert!(logout_all),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        let answer = r#"{"request_id":2,"message":{"Ok":{"RotateSigningKey":{"Ok":{"key_id":3,
          "created_at":1795956279,"older_keys_accepted":0,"logged_out_all":true}}}}}"#;
        let parsed: tarpc::Response<LinkApiResponse> = serde_json::from_str(answer).unwrap();
        let want = SigningKeyRotation {
            key_id: 3,
            created_at: 1795956279,
            older_keys_accepted: 0,
            logged_out_all: true,
        };
        match parsed.message {
            Ok(LinkApiResponse::RotateSigningKey(Ok(r))) => assert_eq!(r, want),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn link_state_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&LinkState::Disabled).unwrap(),
            r#""disabled""#
        );
    }
}
