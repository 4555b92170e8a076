//! Queries of `linkd_presence`: each gate's live sessions per link, so that viewer counts
//! are summed over the gates sharing one database.

use super::schema::linkd_presence as presence;
use super::{write_tx, Conn};
use diesel::prelude::*;

/// Replaces gate `gate`'s rows with `counts` (link, live sessions), seen at `now`.
pub fn replace_mine(c: &mut Conn, gate: &str, counts: &[(i64, i32)], now: i64) -> QueryResult<()> {
    write_tx(c, |c| {
        diesel::delete(presence::table.filter(presence::gate.eq(gate))).execute(c)?;
        for &(link_id, viewers) in counts {
            diesel::insert_into(presence::table)
                .values((
                    presence::gate.eq(gate),
                    presence::link_id.eq(link_id),
                    presence::viewers.eq(viewers),
                    presence::seen_at.eq(now),
                ))
                .execute(c)?;
        }
        Ok(())
    })
}

/// The live sessions per link of every gate but `gate` whose rows were written at or after
/// `fresh_since`, summed per link.
pub fn others(c: &mut Conn, gate: &str, fresh_since: i64) -> QueryResult<Vec<(i64, i32)>> {
    let rows: Vec<(i64, i32)> = presence::table
        .filter(presence::gate.ne(gate))
        .filter(presence::seen_at.ge(fresh_since))
        .select((presence::link_id, presence::viewers))
        .order(presence::link_id)
        .load(c)?;
    let mut summed: Vec<(i64, i32)> = Vec::new();
    for (link_id, viewers) in rows {
        match summed.last_mut() {
            Some((l, v)) if *l == link_id => *v = v.saturating_add(viewers),
            _ => summed.push((link_id, viewers)),
        }
    }
    Ok(summed)
}
