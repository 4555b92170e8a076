//! Queries of `link_greetings`: the line a link's viewers are greeted with.

use super::schema::link_greetings;
use super::{on_each, Conn};
use diesel::prelude::*;

/// Every greeting, as (link, text).
pub fn all(c: &mut Conn) -> QueryResult<Vec<(i64, String)>> {
    link_greetings::table
        .select((link_greetings::link_id, link_greetings::greeting))
        .load(c)
}

/// Sets link `link_id`'s greeting to `text`.
pub fn set(c: &mut Conn, link_id: i64, text: &str) -> QueryResult<usize> {
    on_each!(c, c => diesel::insert_into(link_greetings::table)
        .values((
            link_greetings::link_id.eq(link_id),
            link_greetings::greeting.eq(text),
        ))
        .on_conflict(link_greetings::link_id)
        .do_update()
        .set(link_greetings::greeting.eq(text))
        .execute(c))
}

/// Removes link `link_id`'s greeting.
pub fn remove(c: &mut Conn, link_id: i64) -> QueryResult<usize> {
    diesel::delete(link_greetings::table.find(link_id)).execute(c)
}
