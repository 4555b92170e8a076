//! The event log that botd reads for its notifications: stream live/offline, a link opened on
//! a new device (appended by the audit trail's writer).
//!
//! Events are rows in the database with increasing ids; each consumer's read position is
//! stored too, so nothing is missed or repeated across a restart of linkd or of the consumer.

use crate::clock::Clock;
use crate::gates::{announce, Change};
use crate::store::{self, EventRow, Store};
use diesel::OptionalExtension;
use proto::{ApiError, Event, EventKind};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The note of a stream event the media server reported (the probe's have none).
const FROM_MEDIA_SERVER: &str = "media server";

/// Most events returned by one call.
const BATCH: i64 = 100;

/// The event log.
pub struct Events {
    store: Store,
    clock: Clock,
    newest: watch::Sender<i64>,
}

fn storage(e: store::StoreError) -> ApiError {
    ApiError::Storage {
        message: e.to_string(),
    }
}

fn to_wire(r: EventRow) -> Option<Event> {
    let from_media_server = r.note == FROM_MEDIA_SERVER && r.link_id.is_none();
    let kind = match r.kind.as_str() {
        "stream_live" => EventKind::StreamLive,
        "stream_offline" => EventKind::StreamOffline,
        "link_opened" => EventKind::LinkOpened {
            link_id: r.link_id?,
            note: r.note,
            devices: r.devices.max(0) as u32,
        },
        _ => return None,
    };
    Some(Event {
        id: r.id as u64,
        at: r.at,
        kind,
        from_media_server,
    })
}

impl Events {
    /// An event log on `store`.
    pub fn new(store: Store, clock: Clock) -> Events {
        Events {
            store,
            clock,
            newest: watch::channel(0).0,
        }
    }

    fn wake(&self, id: i64) {
        self.newest.send_replace(id);
    }

    /// Wakes readers for event `id`, appended by another writer (the audit trail's, for a
    /// link opened on a new device).
    pub fn appended(&self, id: i64) {
        self.wake(id);
    }

    /// Appends a stream event (`stream_live` / `stream_offline`), marked when the media
    /// server reported it, unless the log's last stream event says the same already (another
    /// gate saw the change first, or linkd restarted); failures are logged.
    pub async fn stream_changed(&self, live: bool, from_media_server: bool) {
        let note = match from_media_server {
            true => FROM_MEDIA_SERVER,
            false => "",
        };
        let at = self.clock.now();
        let kind = if live {
            "stream_live"
        } else {
            "stream_offline"
        };
        let event = store::NewEvent {
            at,
            kind,
            link_id: None,
            note,
        };
        match self.store.call(move |c| append_stream(c, event)).await {
            Ok(Some(id)) => {
                self.wake(id);
                announce(&self.store, Change::Event(id)).await;
            }
            Ok(None) => tracing::debug!(kind, "stream event in the log already"),
            Err(e) => tracing::warn!(error = %e, kind, "cannot record event"),
        }
    }

    /// Pending events of `consumer`, waiting up to `wait` for one to happen.
    pub async fn next(
        &self,
        consumer: &str,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Vec<Event>, ApiError> {
        check_consumer(consumer)?;
        let mut newest = self.newest.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            newest.borrow_and_update();
            let name = consumer.to_string();
            let rows = self
                .store
                .call(move |c| store::pending_events(c, &name, BATCH))
                .await
                .map_err(storage)?;
            if !rows.is_empty() {
                return Ok(rows.into_iter().filter_map(to_wire).collect());
            }
            tokio::select! {
                changed = newest.changed() => { if changed.is_err() { return Ok(Vec::new()) } }
                _ = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
                _ = shutdown.cancelled() => return Ok(Vec::new()),
            }
        }
    }

    /// Moves `consumer`'s read position to `last_id`.
    pub async fn ack(&self, consumer: &str, last_id: u64) -> Result<(), ApiError> {
        check_consumer(consumer)?;
        let name = consumer.to_string();
        let id = i64::try_from(last_id).unwrap_or(i64::MAX);
        self.store
            .call(move |c| store::ack_events(c, &name, id))
            .await
            .map_err(storage)
    }
}

#[derive(diesel::QueryableByName)]
struct Kind {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
}

/// The advisory lock under which a gate looks at the log's last stream event and appends
/// its own ("strm" in ASCII).
const STREAM_EVENT_LOCK: i64 = 0x7374_726d;

/// Appends stream event `event` unless the last stream event of the log is of its kind;
/// returns its id when appended. On PostgreSQL under an advisory lock, so gates telling the
/// same change at once append it once (SQLite has one gate, whose calls run one at a time).
fn append_stream(
    c: &mut store::Conn,
    event: store::NewEvent<'static>,
) -> diesel::QueryResult<Option<i64>> {
    use diesel::{Connection, RunQueryDsl};
    if !matches!(c, store::Conn::Pg(_)) {
        return append_unless_said(c, event);
    }
    c.transaction(|c| {
        if let store::Conn::Pg(pg) = c {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({STREAM_EVENT_LOCK})"))
                .execute(pg)?;
        }
        append_unless_said(c, event)
    })
}

fn append_unless_said(
    c: &mut store::Conn,
    event: store::NewEvent<'static>,
) -> diesel::QueryResult<Option<i64>> {
    use diesel::RunQueryDsl;
    const LAST: &str = "SELECT kind FROM link_events \
        WHERE kind IN ('stream_live', 'stream_offline') ORDER BY id DESC LIMIT 1";
    let last: Option<Kind> =
        store::on_each!(c, c => diesel::sql_query(LAST).get_result(c).optional())?;
    if last.is_some_and(|l| l.kind == event.kind) {
        return Ok(None);
    }
    store::insert_event(c, event).map(Some)
}

fn check_consumer(consumer: &str) -> Result<(), ApiError> {
    if consumer.is_empty()
        || consumer.chars().count() > 64
        || consumer.chars().any(char::is_control)
    {
        return Err(ApiError::InvalidConsumer);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three gates telling the same changes append each change once; a change after
    /// another is appended again.
    #[tokio::test]
    async fn a_stream_change_told_by_several_gates_is_one_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let gates: Vec<Events> = (0..3)
            .map(|_| Events::new(store.clone(), Clock::manual(1_000)))
            .collect();
        for live in [true, false, true] {
            for g in &gates {
                g.stream_changed(live, false).await;
            }
        }
        let rows = store
            .call(|c| store::pending_events(c, "t", 100))
            .await
            .unwrap();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["stream_live", "stream_offline", "stream_live"]);
    }
}
