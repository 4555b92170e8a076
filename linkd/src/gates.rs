//! The other gates: several linkd sharing one state on PostgreSQL behave as one.
//!
//! Each gate keeps the link table in memory (no query per `/play`) and follows what the others
//! change: a reload of the table, the greetings and the keys from the database applies the
//! difference to memory, ending the live sessions of a link switched off, kicked or rotated
//! exactly as the gate that made the change does. Viewer counts are this gate's sessions plus
//! the other gates' (held here, refreshed by the presence task, never asked per request).

use crate::store::{Store, StoreError};
use crate::sync::read;
use crate::Shared;
use proto::{Backend, StateStore};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a gate reloads everything even when it heard of no change.
pub const SAFETY_RELOAD_EVERY: Duration = Duration::from_secs(30);

/// What a gate changed, as the notification to the others names it (never a token or key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A link: made, extended, switched off, kicked, rotated or bound.
    Link(i64),
    /// Links deleted by the cleanup.
    Links,
    /// A link's greeting.
    Greeting(i64),
    /// The session signing keys.
    SigningKeys,
    /// The stream key.
    StreamKey,
    /// An event appended to the shared log (botd's readers wake up).
    Event(i64),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Link(id) => write!(f, "link {id}"),
            Change::Links => f.write_str("links"),
            Change::Greeting(id) => write!(f, "greeting {id}"),
            Change::SigningKeys => f.write_str("signing-keys"),
            Change::StreamKey => f.write_str("stream-key"),
            Change::Event(id) => write!(f, "event {id}"),
        }
    }
}

/// Tells the other gates that this one changed `what` in the database (PostgreSQL's
/// `NOTIFY`; nothing on SQLite, where linkd is the only gate). A failure is logged: the others
/// see the change at their next reload.
pub async fn announce(store: &Store, what: Change) {
    let _ = (store, what);
}

/// What this gate knows of the others.
pub struct Gates {
    name: String,
    backend: Backend,
    /// Live sessions per link on the other gates, from their fresh presence rows.
    remote: RwLock<HashMap<i64, u32>>,
    /// Gates seen in the shared state, this one included.
    seen: AtomicI64,
    /// Since when the database is unreachable (Unix seconds); 0 while it is reachable.
    down_since: AtomicI64,
}

/// This gate's name: `configured`, else `<hostname>:<port>`.
pub fn gate_name(configured: &str, port: u16) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "linkd".into());
    format!("{host}:{port}")
}

impl Gates {
    /// A gate named `name` on `backend` that has seen no other gate yet.
    pub fn new(name: String, backend: Backend) -> Gates {
        Gates {
            name,
            backend,
            remote: RwLock::default(),
            seen: AtomicI64::new(1),
            down_since: AtomicI64::new(0),
        }
    }

    /// Live sessions of link `link_id` on the other gates.
    pub fn remote_on(&self, link_id: i64) -> u32 {
        read(&self.remote).get(&link_id).copied().unwrap_or(0)
    }

    /// `local` live sessions per link plus the other gates'.
    pub fn summed(&self, mut local: HashMap<i64, u32>) -> HashMap<i64, u32> {
        for (id, n) in read(&self.remote).iter() {
            *local.entry(*id).or_insert(0) += n;
        }
        local
    }

    /// Records the outcome of a use of the database at `now`.
    pub fn store_used(&self, ok: bool, now: i64) {
        if ok {
            self.down_since.store(0, Ordering::SeqCst);
        } else {
            let _ = self
                .down_since
                .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// What `status` says of the state store.
    pub fn state_store(&self) -> StateStore {
        let since = self.down_since.load(Ordering::SeqCst);
        StateStore {
            backend: self.backend,
            reachable: since == 0,
            unreachable_since: (since != 0).then_some(since),
            gate: self.name.clone(),
            gates: self.seen.load(Ordering::SeqCst).max(1) as u32,
        }
    }
}

/// Reloads what the gate holds in memory from the database (links and their limits,
/// greetings, signing keys, the stream key) and ends the live sessions of the links that
/// stopped, were kicked or rotated since memory last saw them.
pub async fn reload(shared: &Shared) -> Result<(), StoreError> {
    let ended = shared.links.reload().await?;
    for id in ended {
        let n = shared.viewers.end_link(id);
        if n > 0 {
            tracing::info!(
                link_id = id,
                sessions = n,
                "link changed on another gate: its sessions ended"
            );
        }
    }
    shared.greetings.reload().await?;
    if shared.keys.reload().await? {
        tracing::info!("session signing keys changed on another gate");
    }
    if shared.media.keys.reload().await? {
        tracing::info!("stream key changed on another gate");
    }
    Ok(())
}

/// Reloads everything every [`SAFETY_RELOAD_EVERY`] until `shutdown`, recording whether the
/// database answered.
pub async fn follow(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SAFETY_RELOAD_EVERY) => {}
        }
        let result = reload(&shared).await;
        shared.gates.store_used(result.is_ok(), shared.links.now());
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot reload the shared state");
        }
    }
}
