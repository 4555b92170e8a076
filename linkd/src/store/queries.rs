//! The queries of links and of the event log botd reads: one text for both backends.

use super::schema::{event_cursors, link_events, link_opens, watch_links};
use super::{on_each, write_tx, Conn};
use crate::token::Token;
use diesel::prelude::*;

/// A row of `watch_links`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = watch_links)]
pub struct LinkRow {
    /// Primary key.
    pub id: i64,
    /// The secret in the watch URL.
    #[diesel(deserialize_as = String)]
    pub token: Token,
    /// 1 until disabled.
    pub enabled: i32,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` = permanent.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub disabled_at: Option<i64>,
    /// Free text.
    pub note: String,
}

/// A row of `link_events`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = link_events)]
pub struct EventRow {
    /// Increasing id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `stream_live`, `stream_offline` or `link_opened`.
    pub kind: String,
    /// The link, for link events.
    pub link_id: Option<i64>,
    /// The link's note, for link events.
    pub note: String,
    /// For `link_opened`: on how many devices the link has been opened.
    pub devices: i32,
}

/// Every link.
pub fn all_links(c: &mut Conn) -> QueryResult<Vec<LinkRow>> {
    watch_links::table
        .select(LinkRow::as_select())
        .order(watch_links::id)
        .load(c)
}

/// Inserts a link and returns its row.
pub fn insert_link(
    c: &mut Conn,
    token: &Token,
    created_at: i64,
    expires_at: Option<i64>,
    note: &str,
) -> QueryResult<LinkRow> {
    // In an explicit transaction: with RETURNING the row comes back before SQLite commits,
    // and only the transaction's COMMIT reports a write that storage refused.
    write_tx(c, |c| {
        insert_link_row(c, token, created_at, expires_at, note)
    })
}

/// Inserts a link within the caller's transaction.
pub(super) fn insert_link_row(
    c: &mut Conn,
    token: &Token,
    created_at: i64,
    expires_at: Option<i64>,
    note: &str,
) -> QueryResult<LinkRow> {
    diesel::insert_into(watch_links::table)
        .values((
            watch_links::token.eq(token.expose()),
            watch_links::enabled.eq(1),
            watch_links::created_at.eq(created_at),
            watch_links::expires_at.eq(expires_at),
            watch_links::note.eq(note),
        ))
        .returning(watch_links::all_columns)
        .get_result(c)
}

/// Marks a link disabled at `at`.
pub fn disable_link(c: &mut Conn, id: i64, at: i64) -> QueryResult<usize> {
    diesel::update(watch_links::table.find(id))
        .set((
            watch_links::enabled.eq(0),
            watch_links::disabled_at.eq(Some(at)),
        ))
        .execute(c)
}

/// Gives a link a new expiry.
pub fn set_expiry(c: &mut Conn, id: i64, expires_at: i64) -> QueryResult<usize> {
    diesel::update(watch_links::table.find(id))
        .set(watch_links::expires_at.eq(Some(expires_at)))
        .execute(c)
}

/// Deletes links that ended (expired or disabled) before `before`; returns their ids.
pub fn delete_ended(c: &mut Conn, before: i64) -> QueryResult<Vec<i64>> {
    c.transaction(|c| {
        let ended = watch_links::enabled
            .eq(0)
            .and(watch_links::disabled_at.lt(before))
            .or(watch_links::expires_at.lt(before));
        let ids: Vec<i64> = watch_links::table
            .filter(ended)
            .select(watch_links::id)
            .load(c)?;
        if !ids.is_empty() {
            diesel::delete(watch_links::table.filter(watch_links::id.eq_any(&ids))).execute(c)?;
            diesel::delete(link_opens::table.filter(link_opens::link_id.eq_any(&ids)))
                .execute(c)?;
        }
        Ok(ids)
    })
}

/// A row of `link_events` to append.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub link_id: Option<i64>,
    pub note: &'a str,
}

/// Appends an event and returns its id.
pub fn insert_event(c: &mut Conn, event: NewEvent<'_>) -> QueryResult<i64> {
    write_tx(c, |c| insert_event_row(c, event))
}

fn insert_event_row(c: &mut Conn, e: NewEvent<'_>) -> QueryResult<i64> {
    diesel::insert_into(link_events::table)
        .values((
            link_events::at.eq(e.at),
            link_events::kind.eq(e.kind),
            link_events::link_id.eq(e.link_id),
            link_events::note.eq(e.note),
        ))
        .returning(link_events::id)
        .get_result(c)
}

/// Up to `limit` events after the read position of `consumer`.
pub fn pending_events(c: &mut Conn, consumer: &str, limit: i64) -> QueryResult<Vec<EventRow>> {
    let cursor: i64 = event_cursors::table
        .find(consumer)
        .select(event_cursors::last_id)
        .first(c)
        .optional()?
        .unwrap_or(0);
    link_events::table
        .filter(link_events::id.gt(cursor))
        .order(link_events::id)
        .limit(limit)
        .select(EventRow::as_select())
        .load(c)
}

/// Moves the read position of `consumer` forward to `last_id` (never back).
pub fn ack_events(c: &mut Conn, consumer: &str, last_id: i64) -> QueryResult<()> {
    // The upsert's diesel form exists per backend; so does the larger of two numbers.
    let larger = match c {
        Conn::Sqlite(_) => "max(last_id, excluded.last_id)",
        Conn::Pg(_) => "GREATEST(event_cursors.last_id, excluded.last_id)",
    };
    let set = event_cursors::last_id.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(larger));
    on_each!(c, c => diesel::insert_into(event_cursors::table)
        .values((
            event_cursors::consumer.eq(consumer),
            event_cursors::last_id.eq(last_id),
        ))
        .on_conflict(event_cursors::consumer)
        .do_update()
        .set(set)
        .execute(c))?;
    Ok(())
}

/// Deletes events older than `before` (kept as long as ended links are).
pub fn delete_events_before(c: &mut Conn, before: i64) -> QueryResult<usize> {
    diesel::delete(link_events::table.filter(link_events::at.lt(before))).execute(c)
}
