//! Queries of `link_audit`, the audit trail: appended in batches (one transaction), read per
//! link, deleted past the retention. A session's start on a device new to its link also
//! appends the `link_opened` event botd announces, in the same transaction.

use super::schema::{link_audit, link_events, link_opens};
use super::{write_tx, Conn};
use diesel::prelude::*;

/// A row of `link_audit`, to append or as read.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = link_audit)]
pub struct AuditRow {
    /// Unix seconds.
    pub at: i64,
    /// The link.
    pub link_id: i64,
    /// `created`, `opened`, `session_ended`, ... ([`proto::AuditKind::as_str`]).
    pub kind: String,
    /// Who changed the link: a [`proto::Actor`] as JSON.
    pub actor: Option<String>,
    /// The link's expiry after a change.
    pub expires_at: Option<i64>,
    /// The viewer's address, truncated.
    pub client: Option<String>,
    /// The viewer's browser family.
    pub browser: Option<String>,
    /// The device label.
    pub device: Option<String>,
    /// Seconds watched.
    pub seconds: Option<i64>,
    /// Bytes sent.
    pub bytes: Option<i64>,
}

/// Appends `rows` in one transaction. For each `session_started` on a device its link has
/// not played on before, also appends a `link_opened` event with the link's note (from
/// `note_of`) and its number of devices so far, and notes the link's first open. Returns
/// the id of the last event appended, if any.
pub fn append(
    c: &mut Conn,
    rows: &[AuditRow],
    note_of: impl Fn(i64) -> String,
) -> QueryResult<Option<i64>> {
    write_tx(c, |c| {
        let mut last_event = None;
        for row in rows {
            let new_device = match (&row.device, row.kind.as_str()) {
                (Some(d), "session_started") => !played_on(c, row.link_id, d)?,
                _ => false,
            };
            diesel::insert_into(link_audit::table)
                .values(row)
                .execute(c)?;
            if new_device {
                last_event = Some(opened_on_a_new_device(c, row, &note_of(row.link_id))?);
            }
        }
        Ok(last_event)
    })
}

/// Whether link `link_id` has played on `device` before.
fn played_on(c: &mut Conn, link_id: i64, device: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        link_audit::table.filter(
            link_audit::link_id
                .eq(link_id)
                .and(link_audit::kind.eq("session_started"))
                .and(link_audit::device.eq(device)),
        ),
    ))
    .get_result(c)
}

/// The `link_opened` event of `row`'s session, the first on its device. Its device count is
/// the link's previous announcement's plus one (one index seek, not a count over every
/// session the link had).
fn opened_on_a_new_device(c: &mut Conn, row: &AuditRow, note: &str) -> QueryResult<i64> {
    let before: Option<i32> = link_events::table
        .filter(
            link_events::link_id
                .eq(Some(row.link_id))
                .and(link_events::kind.eq("link_opened")),
        )
        .order(link_events::id.desc())
        .select(link_events::devices)
        .first(c)
        .optional()?;
    let devices = before.unwrap_or(0).saturating_add(1);
    let first = (
        link_opens::link_id.eq(row.link_id),
        link_opens::first_opened_at.eq(row.at),
    );
    match c {
        Conn::Sqlite(c) => diesel::insert_or_ignore_into(link_opens::table)
            .values(first)
            .execute(c)?,
        Conn::Pg(c) => diesel::insert_into(link_opens::table)
            .values(first)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    diesel::insert_into(link_events::table)
        .values((
            link_events::at.eq(row.at),
            link_events::kind.eq("link_opened"),
            link_events::link_id.eq(Some(row.link_id)),
            link_events::note.eq(note),
            link_events::devices.eq(devices),
        ))
        .returning(link_events::id)
        .get_result(c)
}

/// Every row of link `link_id`, oldest first.
pub fn of_link(c: &mut Conn, link_id: i64) -> QueryResult<Vec<AuditRow>> {
    link_audit::table
        .filter(link_audit::link_id.eq(link_id))
        .order(link_audit::id)
        .select(AuditRow::as_select())
        .load(c)
}

/// Deletes what is older than `before` about viewers: audit rows, the `link_opened` events
/// and first opens. Returns how many audit rows went.
pub fn delete_before(c: &mut Conn, before: i64) -> QueryResult<usize> {
    c.transaction(|c| {
        let n = diesel::delete(link_audit::table.filter(link_audit::at.lt(before))).execute(c)?;
        diesel::delete(
            link_events::table.filter(
                link_events::kind
                    .eq("link_opened")
                    .and(link_events::at.lt(before)),
            ),
        )
        .execute(c)?;
        diesel::delete(link_opens::table.filter(link_opens::first_opened_at.lt(before)))
            .execute(c)?;
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::on_both;

    fn row(at: i64, kind: &str, device: Option<&str>) -> AuditRow {
        AuditRow {
            at,
            link_id: 5,
            kind: kind.into(),
            actor: None,
            expires_at: None,
            client: None,
            browser: None,
            device: device.map(String::from),
            seconds: None,
            bytes: None,
        }
    }

    fn count(c: &mut Conn, kind: &str) -> i64 {
        link_events::table
            .filter(link_events::kind.eq(kind))
            .count()
            .get_result(c)
            .unwrap()
    }

    #[test]
    fn new_devices_are_announced_once_and_everything_goes_after_the_retention() {
        on_both(|store| {
            store
                .call_now(|c| {
                    let rows = [
                        row(100, "opened", Some("aa")),
                        row(101, "session_started", Some("aa")),
                        row(200, "session_started", Some("aa")),
                        row(300, "session_started", None),
                    ];
                    let last = append(c, &rows, |_| "gran".into())?;
                    assert!(last.is_some(), "the first device is announced");
                    let last = append(c, &[row(400, "session_started", Some("bb"))], |_| {
                        "gran".into()
                    })?;
                    let devices: i32 = link_events::table
                        .filter(link_events::id.eq(last.unwrap()))
                        .select(link_events::devices)
                        .get_result(c)?;
                    assert_eq!(devices, 2);
                    assert_eq!(count(c, "link_opened"), 2);
                    assert_eq!(of_link(c, 5)?.len(), 5);
                    assert_eq!(of_link(c, 6)?.len(), 0);
                    // Past the retention: the rows, the announcements and the first open go.
                    assert_eq!(delete_before(c, 300)?, 3);
                    assert_eq!(
                        of_link(c, 5)?.iter().map(|r| r.at).collect::<Vec<_>>(),
                        [300, 400]
                    );
                    assert_eq!(count(c, "link_opened"), 1);
                    assert_eq!(link_opens::table.count().get_result::<i64>(c)?, 0);
                    Ok(())
                })
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
        });
    }

    /// A link opened on many devices announces each new one once, counted 1, 2, 3...
    #[test]
    fn many_devices_are_counted_one_by_one() {
        on_both(|store| {
            store
                .call_now(|c| {
                    let names: Vec<String> = (0..300).map(|i| format!("{i:08x}")).collect();
                    let rows: Vec<AuditRow> = names
                        .iter()
                        .flat_map(|d| {
                            [
                                row(100, "session_started", Some(d.as_str())),
                                row(101, "session_started", Some(d.as_str())),
                            ]
                        })
                        .collect();
                    append(c, &rows, |_| "all hands".into())?;
                    let counts: Vec<i32> = link_events::table
                        .filter(link_events::kind.eq("link_opened"))
                        .order(link_events::id.asc())
                        .select(link_events::devices)
                        .load(c)?;
                    assert_eq!(counts, (1..=300).collect::<Vec<i32>>());
                    Ok(())
                })
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
        });
    }
}
