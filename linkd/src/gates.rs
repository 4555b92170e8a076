//! The other gates: several linkd sharing one state on PostgreSQL behave as one.
//!
//! Each gate keeps the link table in memory (no query per `/play`) and follows what the others
//! change: a reload of the table, the greetings and the keys from the database applies the
//! difference to memory, ending the live sessions of a link switched off, kicked or rotated
//! exactly as the gate that made the change does. Viewer counts are this gate's sessions plus
//! the other gates' (held here, refreshed by the presence task, never asked per request).

use crate::store::{self, Store, StoreError};
use crate::sync::{read, write};
use crate::Shared;
use proto::{Backend, StateStore};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod listen;
pub use listen::follow;

/// How often a gate reloads everything even when it heard of no change.
pub const SAFETY_RELOAD_EVERY: Duration = Duration::from_secs(30);
/// How often a gate writes its live sessions and reads the other gates'.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(2);
/// Presence rows older than this (seconds) are of a gate that stopped or lost the database.
const PRESENCE_FRESH: i64 = 6;
/// The presence row that says a gate is there, with or without viewers (no link has id 0).
const HERE: i64 = 0;

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

impl Change {
    /// The change a notification's payload names, if it is one this version knows.
    pub fn parse(payload: &str) -> Option<Change> {
        let (kind, id) = match payload.split_once(' ') {
            Some((kind, id)) => (kind, Some(id.parse::<i64>().ok()?)),
            None => (payload, None),
        };
        Some(match (kind, id) {
            ("link", Some(id)) => Change::Link(id),
            ("links", None) => Change::Links,
            ("greeting", Some(id)) => Change::Greeting(id),
            ("signing-keys", None) => Change::SigningKeys,
            ("stream-key", None) => Change::StreamKey,
            ("event", Some(id)) => Change::Event(id),
            _ => return None,
        })
    }
}

/// Tells the other gates that this one changed `what` in the database (PostgreSQL's
/// `NOTIFY`; nothing on SQLite, where linkd is the only gate). A failure is logged: the others
/// see the change at their next reload.
pub async fn announce(store: &Store, what: Change) {
    if store.backend() != store::Backend::Postgres {
        return;
    }
    let payload = what.to_string();
    let sent = store
        .call(move |c| {
            use diesel::RunQueryDsl;
            match c {
                store::Conn::Pg(pg) => diesel::sql_query("SELECT pg_notify($1, $2)")
                    .bind::<diesel::sql_types::Text, _>(listen::CHANNEL)
                    .bind::<diesel::sql_types::Text, _>(payload)
                    .execute(pg)
                    .map(|_| ()),
                store::Conn::Sqlite(_) => Ok(()),
            }
        })
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, change = %what, "cannot tell the other gates of a change; they see it at their next reload");
    }
}

/// What this gate knows of the others.
pub struct Gates {
    name: String,
    /// The state this gate shares (its backend, whether the last call reached it).
    store: Store,
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
    /// A gate named `name` on `store` that has seen no other gate yet.
    pub fn new(name: String, store: Store) -> Gates {
        Gates {
            name,
            store,
            remote: RwLock::default(),
            seen: AtomicI64::new(1),
            down_since: AtomicI64::new(0),
        }
    }

    /// Live sessions of link `link_id` on the other gates.
    pub fn remote_on(&self, link_id: i64) -> u32 {
        read(&self.remote).get(&link_id).copied().unwrap_or(0)
    }

    /// Takes the other gates' live sessions per link and how many gates are there.
    fn heard(&self, others: Vec<(i64, i32)>, gates: i64) {
        let remote = others
            .into_iter()
            .filter(|(id, n)| *id != HERE && *n > 0)
            .map(|(id, n)| (id, n as u32))
            .collect();
        *write(&self.remote) = remote;
        self.seen.store(gates.max(1), Ordering::SeqCst);
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
        let mut since = self.down_since.load(Ordering::SeqCst);
        if let Some(t) = self.store.unreachable_since() {
            let t = t
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() as i64);
            since = if since == 0 { t } else { since.min(t) };
        }
        StateStore {
            backend: match self.store.backend() {
                store::Backend::Sqlite => Backend::Sqlite,
                store::Backend::Postgres => Backend::Postgres,
            },
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

/// Every [`PRESENCE_EVERY`] until `shutdown`: writes this gate's live sessions per link and
/// reads the other gates' fresh rows (summed into the counts this gate reports); on the way
/// out, removes this gate's rows so that the others stop counting them at once.
pub async fn presence(shared: Arc<Shared>, shutdown: CancellationToken) {
    let (gate, store) = (shared.gates.name.clone(), shared.gates.store.clone());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(PRESENCE_EVERY) => {}
        }
        let now = shared.links.now();
        let mut mine: Vec<(i64, i32)> = shared
            .viewers
            .per_link()
            .into_iter()
            .map(|(id, n)| (id, i32::try_from(n).unwrap_or(i32::MAX)))
            .collect();
        mine.push((HERE, 0));
        let g = gate.clone();
        let result = store
            .call(move |c| {
                store::presence::replace_mine(c, &g, &mine, now)?;
                let others = store::presence::others(c, &g, now - PRESENCE_FRESH)?;
                Ok((others, gates_seen(c, now - PRESENCE_FRESH)?))
            })
            .await;
        shared.gates.store_used(result.is_ok(), now);
        match result {
            Ok((others, gates)) => shared.gates.heard(others, gates),
            Err(e) => tracing::debug!(error = %e, "presence not written"),
        }
    }
    let now = shared.links.now();
    let _ = store
        .call(move |c| store::presence::replace_mine(c, &gate, &[], now))
        .await;
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Gates whose presence rows were written at or after `since`.
fn gates_seen(c: &mut store::Conn, since: i64) -> diesel::QueryResult<i64> {
    use diesel::RunQueryDsl;
    let sql =
        format!("SELECT COUNT(DISTINCT gate) AS n FROM linkd_presence WHERE seen_at >= {since}");
    let row: Count = store::on_each!(c, c => diesel::sql_query(&sql).get_result(c))?;
    Ok(row.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every change reads back from its payload, which names nothing secret; a payload of
    /// another kind reads as none (the listener then reloads everything).
    #[test]
    fn payloads_name_the_change_and_read_back() {
        let cases = [
            (Change::Link(12), "link 12"),
            (Change::Links, "links"),
            (Change::Greeting(3), "greeting 3"),
            (Change::SigningKeys, "signing-keys"),
            (Change::StreamKey, "stream-key"),
            (Change::Event(99), "event 99"),
        ];
        for (change, payload) in cases {
            assert_eq!(change.to_string(), payload);
            assert_eq!(Change::parse(payload), Some(change));
        }
        for other in ["", "link", "link x", "links 3", "token abc", "event 1 2"] {
            assert_eq!(Change::parse(other), None, "{other:?}");
        }
    }
}
