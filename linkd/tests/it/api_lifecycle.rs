//! The link API over time: a database of the original service, the socket and a second
//! linkd, expiry, cleanup and extend, and events delivered until acknowledged.

use super::api::sqlite_count;
use crate::common;
use crate::common::{wait_for, Linkd};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// The original service's database at `db`: its goose migration verbatim, goose's own
/// bookkeeping table, and four links (active, expired, disabled, permanent) with ids 1 to 4.
fn write_original_database(db: &std::path::Path) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
        c.batch_execute(&format!(
            "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));
             INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1);
             CREATE TABLE watch_links (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 token TEXT NOT NULL UNIQUE,
                 enabled INTEGER NOT NULL DEFAULT 1,
                 created_at INTEGER NOT NULL,
                 expires_at INTEGER,
                 disabled_at INTEGER,
                 note TEXT NOT NULL DEFAULT ''
             );
             CREATE INDEX idx_watch_links_token ON watch_links(token);
             CREATE INDEX idx_watch_links_enabled ON watch_links(enabled);
             INSERT INTO watch_links (token, enabled, created_at, expires_at, disabled_at, note) VALUES
               ('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1, {a}, {e1}, NULL, 'active'),
               ('BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', 1, {a}, {e0}, NULL, 'expired'),
               ('CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC', 0, {a}, {e1}, {a}, 'disabled'),
               ('DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD', 1, {a}, NULL, NULL, 'permanent');",
            a = now - 100,
            e1 = now + 3600,
            e0 = now - 10,
        ))
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_original_service_opens_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    write_original_database(&db);
    let l = Linkd::start_in(dir.path(), |_| {}).await;
    let mut states = Vec::new();
    for id in 1..=4 {
        let c = proto::connect(&l.socket).await.unwrap();
        let link = c
            .get_link(tarpc::context::current(), id)
            .await
            .unwrap()
            .unwrap();
        states.push((
            link.note.clone(),
            link.state.to_string(),
            link.expires_at.is_none(),
        ));
    }
    assert_eq!(
        states,
        vec![
            ("active".into(), "active".into(), false),
            ("expired".into(), "expired".into(), false),
            ("disabled".into(), "disabled".into(), false),
            ("permanent".into(), "active".into(), true),
        ]
    );
    // The old links still open their watch page.
    let r = common::get(
        &l.url("/live/stream/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let r = common::get(
        &l.url("/live/stream/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 410);
    l.stop().await.unwrap();
    assert_eq!(
        sqlite_count(&db, "SELECT count(*) FROM goose_db_version"),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_is_0660_stale_files_are_replaced_and_a_second_linkd_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A stale socket file left by a crash.
    let stale = dir.path().join("linkd.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let l = Linkd::start_in(dir.path(), |_| {}).await;
    let mode = std::fs::metadata(&l.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    assert_eq!(l.linkctl(&["status"]).await.code, 0);

    // A second linkd on the same socket is refused at once; the first keeps serving.
    let mut second = linkd::Config::local(dir.path());
    second.db_path = dir.path().join("other.sqlite");
    match linkd::bind(&second).await {
        Err(linkd::Error::Rpc(e)) => assert!(e.to_string().contains("already listening"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("second linkd was allowed to bind"),
    }
    assert_eq!(l.linkctl(&["status"]).await.code, 0);
    l.stop().await.unwrap();

    // A regular file where the socket should be is left alone.
    std::fs::write(&stale, b"not a socket").unwrap();
    match linkd::bind(&linkd::Config::local(dir.path())).await {
        Err(e) => assert!(e.to_string().contains("not a socket"), "{e}"),
        Ok(_) => panic!("bound over a regular file"),
    }
    assert_eq!(std::fs::read(&stale).unwrap(), b"not a socket");
}

/// How many links `linkctl --json list` shows.
async fn active_listed(l: &Linkd) -> usize {
    let out = l.linkctl(&["--json", "list"]).await;
    out.json().as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_follows_the_clock_and_cleanup_respects_retention() {
    let clock = linkd::Clock::manual(1_800_000_000);
    let c2 = clock.clone();
    let dir = tempfile::tempdir().unwrap();
    let l = Linkd::start_in(dir.path(), move |c| {
        c.clock = c2;
        c.link_retention = Duration::from_secs(7 * 86400);
    })
    .await;
    let (id, token, _) = l.new_link(&["2s"]).await;
    let (id_off, _, _) = l.new_link(&["1h"]).await;
    l.linkctl(&["off", &id_off.to_string()]).await;
    assert_eq!(active_listed(&l).await, 1);
    clock.advance(2);
    assert_eq!(active_listed(&l).await, 0);
    let off = l.linkctl(&["off", &id.to_string()]).await;
    assert_eq!(off.code, 1);
    assert!(off.stderr.contains("already expired"), "{}", off.stderr);
    let page = common::get(&l.url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    assert_eq!(page.status, 410);
    l.stop().await.unwrap();

    // Eight days later the default keeps the ended links (the Go service never deleted
    // one); a retention of 7 days deletes them at start.
    clock.advance(8 * 86400);
    let c3 = clock.clone();
    let l = Linkd::start_in(dir.path(), move |c| {
        c.clock = c3;
        c.link_retention = linkd::Config::from_figment(figment::Figment::from(
            figment::providers::Serialized::defaults(serde_json::json!({
                "base_url": "http://127.0.0.1",
                "mediamtx_hls_base_url": "http://127.0.0.1:9/live/stream",
            })),
        ))
        .expect("a minimal configuration")
        .link_retention;
    })
    .await;
    let kept = proto::connect(&l.socket).await.unwrap();
    assert!(kept
        .get_link(tarpc::context::current(), id)
        .await
        .unwrap()
        .is_ok());
    l.stop().await.unwrap();
    let c4 = clock.clone();
    let l = Linkd::start_in(dir.path(), move |c| {
        c.clock = c4;
        c.link_retention = Duration::from_secs(7 * 86400);
    })
    .await;
    let client = proto::connect(&l.socket).await.unwrap();
    wait_for("ended links are deleted", Duration::from_secs(10), || {
        let client = client.clone();
        async move {
            matches!(
                client.get_link(tarpc::context::current(), id).await,
                Ok(Err(proto::ApiError::NotFound { .. }))
            )
        }
    })
    .await;
    let gone = client
        .get_link(tarpc::context::current(), id_off)
        .await
        .unwrap();
    assert_eq!(gone, Err(proto::ApiError::NotFound { id: id_off }));
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_gives_a_new_expiry() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let (id, _, _) = l.new_link(&["--permanent"]).await;
    let out = l
        .linkctl(&["--json", "extend", &id.to_string(), "2h"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    let left = v["expires_at"].as_i64().unwrap() - common_now();
    assert!((7190..=7200).contains(&left), "{left}");
    l.stop().await.unwrap();
}

fn common_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_until_acknowledged_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let l = Linkd::start_in(dir.path(), |_| {}).await;
    let (id, token, _) = l.new_link(&["1h", "--note", "first"]).await;
    // Opened means a session fetched the stream (the origin is not there: 502 is fine); the
    // same device opening it again is not announced again.
    let mut device = None;
    for _ in 0..2 {
        let (cookie, d) = l.open_as(&token, device.as_deref(), "Firefox/133.0").await;
        let _ = common::get(&l.url("/play/index.m3u8"), Some(&cookie)).await;
        device = Some(d);
    }
    let c = proto::connect(&l.socket).await.unwrap();
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + Duration::from_secs(15);
    let evs = c
        .next_events(ctx, "botd".into(), 5000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        evs[0].kind,
        proto::EventKind::LinkOpened {
            link_id: id,
            note: "first".into(),
            devices: 1,
        }
    );
    l.stop().await.unwrap();

    // Not acknowledged: delivered again after a restart; then acknowledged: gone.
    let l = Linkd::start_in(dir.path(), |_| {}).await;
    let c = proto::connect(&l.socket).await.unwrap();
    let evs = c
        .next_events(ctx_long(), "botd".into(), 5000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(evs.len(), 1);
    c.ack_events(tarpc::context::current(), "botd".into(), evs[0].id)
        .await
        .unwrap()
        .unwrap();
    let start = std::time::Instant::now();
    let evs = c
        .next_events(ctx_long(), "botd".into(), 300)
        .await
        .unwrap()
        .unwrap();
    assert!(evs.is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "waited for new events"
    );
    let bad = c.next_events(ctx_long(), String::new(), 10).await.unwrap();
    assert_eq!(bad, Err(proto::ApiError::InvalidConsumer));
    l.stop().await.unwrap();
}

fn ctx_long() -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + Duration::from_secs(15);
    ctx
}
