//! Queries of `link_limits`: a link's sharing limits, its one-time binding and the
//! generation of its sessions (see `links::sharing`).

use super::schema::watch_links;
use super::LinkRow;
use super::{on_each, write_tx, Conn};
use crate::token::Token;
use diesel::prelude::*;
use proto::Limits;

diesel::table! {
    link_limits (link_id) {
        link_id -> BigInt,
        max_viewers -> Nullable<Integer>,
        once -> Integer,
        bound_session -> Nullable<BigInt>,
        generation -> Integer,
    }
}

/// A row of `link_limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = link_limits)]
pub struct LimitsRow {
    /// The link.
    pub link_id: i64,
    /// The viewer cap.
    pub max_viewers: Option<i32>,
    /// 1 for a one-time link.
    pub once: i32,
    /// The session a one-time link is bound to (the id's bits as a signed number).
    pub bound_session: Option<i64>,
    /// Generation of the link's sessions.
    pub generation: i32,
}

/// Every row.
pub fn all(c: &mut Conn) -> QueryResult<Vec<LimitsRow>> {
    link_limits::table.select(LimitsRow::as_select()).load(c)
}

/// Inserts a link and, when it has any, its limits, in one transaction.
pub fn insert_limited(
    c: &mut Conn,
    token: &Token,
    created_at: i64,
    expires_at: Option<i64>,
    note: &str,
    limits: Limits,
) -> QueryResult<LinkRow> {
    if !limits.any() {
        return super::insert_link(c, token, created_at, expires_at, note);
    }
    write_tx(c, |c| {
        let row = super::insert_link_row(c, token, created_at, expires_at, note)?;
        diesel::insert_into(link_limits::table)
            .values((
                link_limits::link_id.eq(row.id),
                link_limits::max_viewers.eq(limits.max_viewers.map(|m| m as i32)),
                link_limits::once.eq(i32::from(limits.once)),
            ))
            .execute(c)?;
        Ok(row)
    })
}

/// Starts generation `generation` of link `id`'s sessions: a one-time link is unbound.
fn set_generation(c: &mut Conn, id: i64, generation: u16) -> QueryResult<usize> {
    let values = (
        link_limits::link_id.eq(id),
        link_limits::generation.eq(i32::from(generation)),
    );
    let set = (
        link_limits::generation.eq(i32::from(generation)),
        link_limits::bound_session.eq(None::<i64>),
    );
    on_each!(c, c => diesel::insert_into(link_limits::table)
        .values(values)
        .on_conflict(link_limits::link_id)
        .do_update()
        .set(set)
        .execute(c))
}

/// A kick: generation `generation` of link `id`'s sessions starts.
pub fn kick(c: &mut Conn, id: i64, generation: u16) -> QueryResult<usize> {
    write_tx(c, |c| set_generation(c, id, generation))
}

/// A rotation: link `id` gets `token`, and generation `generation` of its sessions starts.
pub fn rotate(c: &mut Conn, id: i64, token: &Token, generation: u16) -> QueryResult<usize> {
    write_tx(c, |c| {
        diesel::update(watch_links::table.find(id))
            .set(watch_links::token.eq(token.expose()))
            .execute(c)?;
        set_generation(c, id, generation)
    })
}

/// Binds one-time link `id` to `session`, unless a kick or rotation came first (another
/// generation) or it is bound already.
pub fn bind(c: &mut Conn, id: i64, session: u64, generation: u16) -> QueryResult<usize> {
    diesel::update(
        link_limits::table
            .find(id)
            .filter(link_limits::generation.eq(i32::from(generation)))
            .filter(link_limits::bound_session.is_null()),
    )
    .set(link_limits::bound_session.eq(Some(session as i64)))
    .execute(c)
}

/// Deletes the rows of links `ids`.
pub fn delete(c: &mut Conn, ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(link_limits::table.filter(link_limits::link_id.eq_any(ids))).execute(c)
}
