//! Queries of `linkd_signing_keys`: the master keys that sign playback sessions.

use super::schema::linkd_signing_keys as keys;
use super::{write_tx, Conn};
use diesel::prelude::*;

/// A row of `linkd_signing_keys`.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = keys)]
pub struct KeyRow {
    /// The id a session cookie names.
    pub id: i64,
    /// 32 random bytes.
    pub value: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// When a newer key replaced it; `None` for the key in use.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Every key, oldest first.
pub fn all(c: &mut Conn) -> QueryResult<Vec<KeyRow>> {
    keys::table
        .select(KeyRow::as_select())
        .order(keys::id)
        .load(c)
}

/// Adds `value` as the key in use from `now`: the previous one is retired (kept for the
/// sessions it signed), or with `drop_old` every older key is deleted.
pub fn rotate(c: &mut Conn, value: &[u8], now: i64, drop_old: bool) -> QueryResult<KeyRow> {
    write_tx(c, |c| {
        if drop_old {
            diesel::delete(keys::table).execute(c)?;
        } else {
            diesel::update(keys::table.filter(keys::retired_at.is_null()))
                .set(keys::retired_at.eq(Some(now)))
                .execute(c)?;
        }
        diesel::insert_into(keys::table)
            .values((keys::value.eq(value), keys::created_at.eq(now)))
            .returning(keys::all_columns)
            .get_result(c)
    })
}

/// Deletes keys retired before `before`; returns how many.
pub fn delete_retired_before(c: &mut Conn, before: i64) -> QueryResult<usize> {
    diesel::delete(keys::table.filter(keys::retired_at.lt(before))).execute(c)
}
