//! The audit trail ("who watched"): an append-only record of each link's changes (who made
//! them) and of its viewers (opened, session started and ended), kept `AUDIT_RETENTION`.
//!
//! Recording never waits: [`Audit::change`] and [`Audit::viewer`] put a row on a bounded
//! channel; [`write`], a task of its own, appends what came in one transaction every second
//! (or every [`BATCH`] rows), and on shutdown writes what is left. Nothing of this runs on
//! `/play`'s way: the registry of live sessions (`viewers`) records a session's start and
//! end here.

mod actor;
mod client;
mod story;

pub use actor::peer;
pub use client::{browser, device_label, Facts, Prefixes};

use crate::clock::Clock;
use crate::store::audit::{self as rows, AuditRow};
use crate::store::{Store, StoreError};
use crate::Shared;
use proto::{Actor, ApiError, AuditEvent, AuditKind, LinkLog, Viewer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Most rows written in one transaction.
pub const BATCH: usize = 512;
/// How long a row may wait to be written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows waiting at most; more are dropped (and counted in a warning) rather than waited for.
const QUEUE: usize = 65_536;

/// How a session ended: its last request (the row's time), seconds watched, bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Unix seconds.
    pub last_seen: i64,
    /// From its first request to its last.
    pub seconds: u64,
    /// Bytes of the stream sent to it.
    pub bytes: u64,
}

enum Msg {
    Row(AuditRow),
    Flush(oneshot::Sender<()>),
}

/// Where rows are recorded; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    store: Store,
    clock: Clock,
    retention: Duration,
}

/// The receiving end of the rows, for [`write`].
pub struct Inbox(mpsc::Receiver<Msg>);

#[cfg(test)]
impl Inbox {
    /// The next row recorded, if one is waiting.
    pub fn next_row(&mut self) -> Option<AuditRow> {
        match self.0.try_recv() {
            Ok(Msg::Row(r)) => Some(r),
            _ => None,
        }
    }
}

impl Audit {
    /// A trail on `store` keeping rows `retention`, and the inbox its writer drains.
    pub fn new(store: Store, clock: Clock, retention: Duration) -> (Audit, Inbox) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let audit = Audit {
            tx,
            dropped: Arc::default(),
            store,
            clock,
            retention,
        };
        (audit, Inbox(rx))
    }

    fn push(&self, row: AuditRow) {
        if self.tx.try_send(Msg::Row(row)).is_err() {
            // Warned at the 1st, 2nd, 4th, ... drop: a flood does not flood the log too.
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "audit rows dropped: the writer is behind or stopped"
                );
            }
        }
    }

    fn row(&self, link_id: i64, kind: AuditKind) -> AuditRow {
        AuditRow {
            at: self.clock.now(),
            link_id,
            kind: kind.as_str().to_string(),
            actor: None,
            expires_at: None,
            client: None,
            browser: None,
            device: None,
            seconds: None,
            bytes: None,
        }
    }

    /// Records that `actor` changed link `link_id` (`created`, `extended`, `rotated`,
    /// `disabled`, `kicked`); `expires_at` is the link's expiry after the change.
    pub fn change(&self, actor: &Actor, link_id: i64, kind: AuditKind, expires_at: Option<i64>) {
        let mut row = self.row(link_id, kind);
        row.actor = serde_json::to_string(actor).ok();
        row.expires_at = expires_at;
        self.push(row);
    }

    /// Records a viewer event of link `link_id` (`opened`, `session_started`,
    /// `session_ended`, the last with how it `ended`).
    pub fn viewer(&self, link_id: i64, kind: AuditKind, facts: &Facts, ended: Option<Ended>) {
        let mut row = self.row(link_id, kind);
        row.client = facts.client.clone();
        row.browser = facts.browser.map(String::from);
        row.device = facts.device.clone();
        if let Some(e) = ended {
            row.at = e.last_seen;
            row.seconds = Some(i64::try_from(e.seconds).unwrap_or(i64::MAX));
            row.bytes = Some(i64::try_from(e.bytes).unwrap_or(i64::MAX));
        }
        self.push(row);
    }

    /// Waits until every row recorded before this call is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Deletes what is older than the retention about viewers and changes; returns how many
    /// audit rows went.
    pub async fn prune(&self) -> Result<usize, StoreError> {
        let before = self.clock.now() - self.retention.as_secs() as i64;
        self.store
            .call(move |c| rows::delete_before(c, before))
            .await
    }

    /// Every recorded event of link `link_id`, oldest first.
    pub async fn events(&self, link_id: i64) -> Result<Vec<AuditEvent>, ApiError> {
        self.flush().await;
        let rows = self
            .store
            .call(move |c| rows::of_link(c, link_id))
            .await
            .map_err(|e| ApiError::Storage {
                message: e.to_string(),
            })?;
        Ok(rows.into_iter().filter_map(to_wire).collect())
    }
}

fn to_wire(r: AuditRow) -> Option<AuditEvent> {
    Some(AuditEvent {
        at: r.at,
        link_id: r.link_id,
        kind: AuditKind::parse(&r.kind)?,
        actor: r.actor.and_then(|a| serde_json::from_str(&a).ok()),
        expires_at: r.expires_at,
        client: r.client,
        browser: r.browser,
        device: r.device,
        seconds: r.seconds.map(|s| s.max(0) as u64),
        bytes: r.bytes.map(|b| b.max(0) as u64),
    })
}

/// Link `link`'s story: its events within the retention, its live sessions, at `now`.
pub fn log(link: proto::Link, mut events: Vec<AuditEvent>, live: &[Viewer], now: i64) -> LinkLog {
    let s = story::tell(&events, live);
    events.reverse();
    events.truncate(proto::LOG_EVENTS);
    LinkLog {
        link,
        opened: s.opened,
        devices: s.devices,
        watched_s: s.watched_s,
        last_seen: s.last_seen,
        watching_now: s.watching_now,
        events,
        now,
    }
}

/// Appends what is recorded, a batch at a time, until `closing` is cancelled; then writes
/// what is left and returns. A batch the database refused is kept (at most [`QUEUE`] rows)
/// and written with the next one, tried again every [`FLUSH_EVERY`] until it is written.
pub async fn write(shared: Arc<Shared>, store: Store, inbox: Inbox, closing: CancellationToken) {
    let mut rx = inbox.0;
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    // Whether the batch holds rows refused before (the warning was given then).
    let mut again = false;
    while gather(&mut rx, &mut batch, &mut waiting, &closing).await {
        batch = append(&shared, &store, std::mem::take(&mut batch), again).await;
        again = !batch.is_empty();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    rx.close();
    while let Ok(m) = rx.try_recv() {
        take(m, &mut batch, &mut waiting);
    }
    let lost = append(&shared, &store, batch, again).await;
    if !lost.is_empty() {
        tracing::error!(
            rows = lost.len(),
            "audit rows lost: the database refused them until linkd stopped"
        );
    }
    for done in waiting {
        let _ = done.send(());
    }
}

/// Takes what comes into `batch` until it is full, a flush is asked for, or [`FLUSH_EVERY`]
/// has passed since the first row. Rows the database refused before are in `batch` already:
/// then it takes what comes until [`FLUSH_EVERY`] from now, the time to try them again.
/// Returns false when linkd is closing (or nobody can record any more).
async fn gather(
    rx: &mut mpsc::Receiver<Msg>,
    batch: &mut Vec<AuditRow>,
    waiting: &mut Vec<oneshot::Sender<()>>,
    closing: &CancellationToken,
) -> bool {
    let held = !batch.is_empty();
    let mut due = held.then(|| tokio::time::Instant::now() + FLUSH_EVERY);
    loop {
        let timer = async move {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(m) => {
                    take(m, batch, waiting);
                    due.get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_EVERY);
                    if !held && (batch.len() >= BATCH || !waiting.is_empty()) {
                        return true;
                    }
                }
                None => return false,
            },
            _ = timer => return true,
            _ = closing.cancelled() => return false,
        }
    }
}

fn take(m: Msg, batch: &mut Vec<AuditRow>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match m {
        Msg::Row(r) => batch.push(r),
        Msg::Flush(done) => waiting.push(done),
    }
}

/// Writes `batch` in one transaction and wakes botd's event readers for what it announced.
/// Returns what the database refused, to be written later (the oldest rows beyond [`QUEUE`]
/// are dropped, with a warning); `again`: it refused some of them before.
async fn append(
    shared: &Arc<Shared>,
    store: &Store,
    batch: Vec<AuditRow>,
    again: bool,
) -> Vec<AuditRow> {
    if batch.is_empty() {
        return batch;
    }
    let n = batch.len();
    let links = shared.clone();
    let note_of = move |id| links.links.get(id).map(|e| e.note).unwrap_or_default();
    let kept = Arc::new(batch);
    let given = kept.clone();
    let result = store.call(move |c| rows::append(c, &given, note_of)).await;
    shared.gates.store_used(result.is_ok(), shared.links.now());
    if again && result.is_ok() {
        tracing::info!(
            rows = n,
            "audit trail written after the database refused it"
        );
    }
    let e = match result {
        Ok(Some(event)) => {
            shared.events.appended(event);
            crate::gates::announce(store, crate::gates::Change::Event(event)).await;
            return Vec::new();
        }
        Ok(None) => return Vec::new(),
        Err(e) => e,
    };
    if again {
        tracing::debug!(error = %e, rows = n, "audit trail still refused");
    } else {
        tracing::warn!(error = %e, rows = n, "cannot write the audit trail; kept to try again");
    }
    let mut kept = Arc::try_unwrap(kept).unwrap_or_else(|a| (*a).clone());
    if kept.len() > QUEUE {
        let dropped = kept.len() - QUEUE;
        kept.drain(..dropped);
        tracing::warn!(
            dropped,
            "audit rows dropped: the database refused them too long"
        );
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_rows_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let (audit, mut inbox) = Audit::new(store, Clock::manual(7), Duration::from_secs(3600));
        for _ in 0..QUEUE + 3 {
            audit.viewer(1, AuditKind::Opened, &Facts::default(), None);
        }
        assert_eq!(audit.dropped.load(Ordering::Relaxed), 3);
        let first = inbox.next_row().unwrap();
        assert_eq!((first.at, first.kind.as_str()), (7, "opened"));
    }
}
