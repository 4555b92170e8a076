//! The store's queries, each test run on both backends: a temporary SQLite file and a
//! throw-away PostgreSQL server.

use super::*;
use crate::testing::pg::TempPostgres;
use crate::token::Token;

/// Runs `body` on a new SQLite store, then on a new PostgreSQL store.
pub(crate) fn on_both(body: impl Fn(&Store) -> QueryResult<()>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
    assert_eq!(sqlite.backend(), Backend::Sqlite);
    body(&sqlite).unwrap_or_else(|e| panic!("on SQLite: {e}"));
    let pg = TempPostgres::start();
    let postgres = Store::open(&Db::Postgres(Secret::new(pg.url()))).unwrap();
    assert_eq!(postgres.backend(), Backend::Postgres);
    body(&postgres).unwrap_or_else(|e| panic!("on PostgreSQL: {e}"));
}

/// Runs `body` on the store's connection.
fn with(store: &Store, body: impl FnOnce(&mut Conn) -> QueryResult<()>) -> QueryResult<()> {
    store.call_now(body).map_err(|e| match e {
        StoreError::Query(q) => q,
        other => panic!("{other}"),
    })
}

fn token(n: u8) -> Token {
    Token::parse(&format!("{:A>32}", n)).unwrap()
}

#[test]
fn links_are_made_changed_and_cleaned_up() {
    on_both(|s| {
        with(s, |c| {
            let a = insert_link(c, &token(1), 100, Some(200), "gran")?;
            let b = insert_link(c, &token(2), 101, None, "")?;
            assert_eq!((a.id, a.enabled, a.note.as_str()), (1, 1, "gran"));
            assert_eq!((b.id, b.expires_at), (2, None));
            let dup = insert_link(c, &token(1), 102, None, "");
            assert!(matches!(
                dup,
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _
                ))
            ));
            assert_eq!(disable_link(c, b.id, 150)?, 1);
            assert_eq!(set_expiry(c, a.id, 300)?, 1);
            let all = all_links(c)?;
            assert_eq!(all.len(), 2);
            assert_eq!(
                (all[0].expires_at, all[1].disabled_at),
                (Some(300), Some(150))
            );
            assert_eq!(delete_ended(c, 160)?, vec![b.id]);
            assert_eq!(all_links(c)?.len(), 1);
            // Ids are not reused after a delete.
            assert!(insert_link(c, &token(3), 103, None, "")?.id > b.id);
            Ok(())
        })
    });
}

#[test]
fn events_are_read_from_a_cursor_that_never_goes_back() {
    on_both(|s| {
        with(s, |c| {
            let e = |at, kind| NewEvent {
                at,
                kind,
                link_id: None,
                note: "",
            };
            let first = insert_event(c, e(1, "stream_live"))?;
            let second = insert_event(c, e(2, "stream_offline"))?;
            assert!(second > first);
            assert_eq!(pending_events(c, "bot", 10)?.len(), 2);
            ack_events(c, "bot", second)?;
            ack_events(c, "bot", first)?;
            assert!(pending_events(c, "bot", 10)?.is_empty());
            assert_eq!(pending_events(c, "other", 1)?[0].id, first);
            assert_eq!(delete_events_before(c, 2)?, 1);
            Ok(())
        })
    });
}

#[test]
fn limits_kicks_rotations_and_bindings() {
    on_both(|s| {
        with(s, |c| {
            let once = proto::Limits {
                max_viewers: Some(3),
                once: true,
            };
            let l = limits::insert_limited(c, &token(1), 100, None, "", once)?;
            assert_eq!(limits::bind(c, l.id, u64::MAX, 0)?, 1);
            assert_eq!(limits::bind(c, l.id, 7, 0)?, 0, "bound already");
            limits::kick(c, l.id, 1)?;
            let row = limits::all(c)?[0];
            assert_eq!((row.generation, row.bound_session), (1, None));
            assert_eq!(limits::bind(c, l.id, 7, 1)?, 1);
            limits::rotate(c, l.id, &token(9), 2)?;
            assert_eq!(all_links(c)?[0].token, token(9));
            // A link without limits gets its row on its first kick.
            let plain = insert_link(c, &token(2), 100, None, "")?;
            limits::kick(c, plain.id, 4)?;
            assert_eq!(limits::all(c)?.len(), 2);
            assert_eq!(limits::delete(c, &[l.id, plain.id])?, 2);
            Ok(())
        })
    });
}

#[test]
fn keys_stream_key_and_greetings() {
    on_both(|s| {
        with(s, |c| {
            let k1 = signing_keys::rotate(c, &[1u8; 32], 10, false)?;
            let k2 = signing_keys::rotate(c, &[2u8; 32], 20, false)?;
            let all = signing_keys::all(c)?;
            assert_eq!(all.len(), 2);
            assert_eq!((all[0].id, all[0].retired_at), (k1.id, Some(20)));
            assert_eq!(
                (all[1].value.clone(), all[1].retired_at),
                (vec![2u8; 32], None)
            );
            assert_eq!(signing_keys::delete_retired_before(c, 21)?, 1);
            assert_eq!(signing_keys::rotate(c, &[3u8; 32], 30, true)?.id, k2.id + 1);
            assert!(stream_key::get(c)?.is_none());
            assert_eq!(stream_key::create(c, "aa", 1)?.legacy_ok, 1);
            assert_eq!(stream_key::create(c, "bb", 2)?.value, "aa");
            let r = stream_key::rotate(c, "cc", 3)?;
            assert_eq!((r.value.as_str(), r.legacy_ok), ("cc", 0));
            greetings::set(c, 5, "hello")?;
            greetings::set(c, 5, "hi")?;
            assert_eq!(greetings::all(c)?, vec![(5, "hi".to_string())]);
            greetings::remove(c, 5)?;
            assert!(greetings::all(c)?.is_empty());
            Ok(())
        })
    });
}

#[test]
fn presence_sums_the_other_gates_fresh_rows() {
    on_both(|s| {
        with(s, |c| {
            presence::replace_mine(c, "a", &[(1, 2), (2, 1)], 100)?;
            presence::replace_mine(c, "b", &[(1, 3)], 100)?;
            presence::replace_mine(c, "old", &[(1, 50)], 10)?;
            assert_eq!(presence::others(c, "a", 90)?, vec![(1, 3)]);
            assert_eq!(presence::others(c, "c", 90)?, vec![(1, 5), (2, 1)]);
            presence::replace_mine(c, "b", &[], 101)?;
            assert_eq!(presence::others(c, "a", 90)?, vec![]);
            Ok(())
        })
    });
}

#[test]
fn a_broken_postgres_connection_is_dialled_again_and_the_password_never_shows() {
    let mut pg = TempPostgres::start();
    let store = Store::open(&Db::Postgres(Secret::new(pg.url()))).unwrap();
    assert!(store.reachable());
    pg.kill();
    let failed = store
        .call_now(|c| insert_link(c, &token(1), 1, None, ""))
        .unwrap_err();
    let said = failed.to_string();
    assert!(matches!(failed, StoreError::Unreachable { .. }), "{said}");
    assert!(said.starts_with("state store unreachable"), "{said}");
    assert!(!said.contains(pg.password()), "{said}");
    assert!(!store.reachable() && store.unreachable_since().is_some());
    // Down: every call fails at once with the same clear error.
    let again = store.call_now(all_links).unwrap_err().to_string();
    assert!(
        again.contains("127.0.0.1") && !again.contains(pg.password()),
        "{again}"
    );
    pg.start_again();
    let row = store
        .call_now(|c| insert_link(c, &token(1), 1, None, ""))
        .unwrap();
    assert_eq!(row.id, 1);
    assert!(store.reachable());
    // A restart nobody called through: the first call after it works.
    pg.kill();
    pg.start_again();
    assert_eq!(store.call_now(all_links).unwrap().len(), 1);
    assert!(store.reachable() && store.unreachable_since().is_none());
}
