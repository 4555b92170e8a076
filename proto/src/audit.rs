//! The audit trail's wire types ("who watched"): who changed a link, what its viewers did,
//! a link's story ([`LinkLog`]) and who watches now ([`Viewer`]).

use crate::Link;
use serde::{Deserialize, Serialize};

/// Who changed a link, as linkd recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A Telegram chat, through botd; `user` is the local user of botd's connection.
    Chat {
        /// The chat's id.
        chat_id: i64,
        /// The socket's peer user, when known.
        user: Option<String>,
    },
    /// A local user on linkd's socket (linkctl, scripts), from the socket's peer credentials.
    User {
        /// The user name, or `uid N` when the system has no name for it.
        name: String,
    },
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Chat { chat_id, .. } => write!(f, "chat {chat_id}"),
            Actor::User { name } => write!(f, "user {name}"),
        }
    }
}

/// What an [`AuditEvent`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// The link was made.
    Created,
    /// It was given a new expiry.
    Extended,
    /// It was given a new token (URL).
    Rotated,
    /// It was switched off.
    Disabled,
    /// Its current sessions were ended.
    Kicked,
    /// Its watch page was opened by a browser and given a playback session.
    Opened,
    /// A session first fetched the stream.
    SessionStarted,
    /// A session stopped making requests (or linkd stopped).
    SessionEnded,
}

impl AuditKind {
    /// The snake_case name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Created => "created",
            AuditKind::Extended => "extended",
            AuditKind::Rotated => "rotated",
            AuditKind::Disabled => "disabled",
            AuditKind::Kicked => "kicked",
            AuditKind::Opened => "opened",
            AuditKind::SessionStarted => "session_started",
            AuditKind::SessionEnded => "session_ended",
        }
    }

    /// The kind named `name` (see [`AuditKind::as_str`]).
    pub fn parse(name: &str) -> Option<AuditKind> {
        [
            AuditKind::Created,
            AuditKind::Extended,
            AuditKind::Rotated,
            AuditKind::Disabled,
            AuditKind::Kicked,
            AuditKind::Opened,
            AuditKind::SessionStarted,
            AuditKind::SessionEnded,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// One row of the audit trail. Viewer fields are filled for viewer events only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When, Unix seconds.
    pub at: i64,
    /// The link.
    pub link_id: i64,
    /// What happened.
    pub kind: AuditKind,
    /// Who did it, for changes of the link.
    pub actor: Option<Actor>,
    /// The link's expiry after a change (`created`, `extended`), Unix seconds.
    pub expires_at: Option<i64>,
    /// The viewer's address, truncated (`203.0.113.0/24`, `2001:db8:1::/48`).
    pub client: Option<String>,
    /// The viewer's browser family: Chrome, Firefox, Safari, Edge, Telegram or other.
    pub browser: Option<String>,
    /// A short label telling this link's devices apart (not a credential; a browser keeps
    /// it in a cookie of the watch page).
    pub device: Option<String>,
    /// Seconds watched (`session_ended`).
    pub seconds: Option<u64>,
    /// Bytes of the stream sent (`session_ended`).
    pub bytes: Option<u64>,
}

/// Answer to [`LinkApi::link_log`]: the link's story within the audit trail's retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkLog {
    /// The link.
    pub link: Link,
    /// How often its page was opened with a playback session.
    pub opened: u32,
    /// On how many devices.
    pub devices: u32,
    /// Seconds watched over all sessions, the live ones included.
    pub watched_s: u64,
    /// When a viewer last made a request, Unix seconds.
    pub last_seen: Option<i64>,
    /// Sessions watching now.
    pub watching_now: u32,
    /// The latest events, newest first (at most [`LOG_EVENTS`]).
    pub events: Vec<AuditEvent>,
    /// linkd's clock, Unix seconds.
    pub now: i64,
}

/// Most events a [`LinkLog`] carries.
pub const LOG_EVENTS: usize = 50;

/// A playback session watching now (answer to [`LinkApi::viewers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The link it plays.
    pub link_id: i64,
    /// The link's note.
    pub note: String,
    /// The device label (see [`AuditEvent::device`]).
    pub device: Option<String>,
    /// Browser family.
    pub browser: Option<String>,
    /// Address, truncated.
    pub client: Option<String>,
    /// Since when it watches, Unix seconds.
    pub since: i64,
    /// Its last request, Unix seconds.
    pub last_seen: i64,
    /// Bytes of the stream sent to it so far.
    pub bytes: u64,
}
