//! The answer to `status`: the stream, viewers and links over every gate, linkd's version,
//! and the state store (which database holds the links, whether the gate that answered
//! reaches it, how many gates share it).

use serde::{Deserialize, Serialize};

/// Answer to [`crate::LinkApi::status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Whether the origin serves the stream right now.
    pub live: bool,
    /// Since when it is live (or, when offline, since when it is offline); `None` if unknown.
    pub live_since: Option<i64>,
    /// Playback sessions watching now, over all links.
    pub viewers: u32,
    /// Links that are active now.
    pub active_links: u32,
    /// linkd's version.
    pub version: String,
    /// Seconds since linkd started.
    pub uptime_s: u64,
    /// linkd's clock, Unix seconds, so clients can say "in 59 min" without trusting their own.
    pub now: i64,
    /// Where the links are kept and whether linkd reaches it; absent in answers of earlier
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_store: Option<StateStore>,
}

/// The database that holds the links, as [`Status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateStore {
    /// Which database.
    pub backend: Backend,
    /// Whether linkd's last use of it succeeded.
    pub reachable: bool,
    /// Since when it is unreachable (Unix seconds), while it is.
    pub unreachable_since: Option<i64>,
    /// The name of the gate that answered (`GATE_NAME`).
    pub gate: String,
    /// Gates seen in the shared state in the last seconds, the one that answered included.
    pub gates: u32,
}

/// Which database holds the links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A SQLite file of one linkd (`DB_PATH`).
    Sqlite,
    /// PostgreSQL shared by every gate (`DATABASE_URL`).
    Postgres,
}

impl Backend {
    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}
