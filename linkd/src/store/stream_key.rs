//! Queries of `linkd_stream_key`: the one row holding the key OBS publishes with.

use super::schema::linkd_stream_key as key;
use super::{write_tx, Conn};
use diesel::prelude::*;

/// The row of `linkd_stream_key`.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = key)]
pub struct StreamKeyRow {
    /// Always 1.
    pub id: i64,
    /// The key (hex).
    pub value: String,
    /// Unix seconds.
    pub created_at: i64,
    /// 1 until the first rotation: the static publish pair of an earlier setup is accepted.
    pub legacy_ok: i32,
}

impl std::fmt::Debug for StreamKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamKeyRow")
            .field("created_at", &self.created_at)
            .field("legacy_ok", &self.legacy_ok)
            .finish_non_exhaustive()
    }
}

/// The key, if one was made.
pub fn get(c: &mut Conn) -> QueryResult<Option<StreamKeyRow>> {
    key::table
        .select(StreamKeyRow::as_select())
        .first(c)
        .optional()
}

/// The first key (the static publish pair stays accepted), unless there is one already;
/// returns the row in the table.
pub fn create(c: &mut Conn, value: &str, now: i64) -> QueryResult<StreamKeyRow> {
    write_tx(c, |c| {
        let first = (
            key::id.eq(1),
            key::value.eq(value),
            key::created_at.eq(now),
            key::legacy_ok.eq(1),
        );
        match c {
            Conn::Sqlite(c) => diesel::insert_or_ignore_into(key::table)
                .values(first)
                .execute(c)?,
            Conn::Pg(c) => diesel::insert_into(key::table)
                .values(first)
                .on_conflict_do_nothing()
                .execute(c)?,
        };
        key::table.select(StreamKeyRow::as_select()).first(c)
    })
}

/// Replaces the key with `value`; the static publish pair is no longer accepted.
pub fn rotate(c: &mut Conn, value: &str, now: i64) -> QueryResult<StreamKeyRow> {
    let row = (
        key::id.eq(1),
        key::value.eq(value),
        key::created_at.eq(now),
        key::legacy_ok.eq(0),
    );
    match c {
        Conn::Sqlite(c) => diesel::replace_into(key::table)
            .values(row)
            .returning(StreamKeyRow::as_returning())
            .get_result(c),
        Conn::Pg(c) => diesel::insert_into(key::table)
            .values(row)
            .on_conflict(key::id)
            .do_update()
            .set((
                key::value.eq(value),
                key::created_at.eq(now),
                key::legacy_ok.eq(0),
            ))
            .returning(StreamKeyRow::as_returning())
            .get_result(c),
    }
}
