//! linkd on PostgreSQL (`DATABASE_URL`): a real server started by the test on a temporary
//! directory and a loopback port. The round trip of a link, and the database going away and
//! coming back under a running linkd.

use super::faults::play_status;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{Linkd, LinkdProcess};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use linkd::testing::pg::TempPostgres;
use linkd::testing::Secret;
use std::time::{Duration, Instant};

/// A throw-away PostgreSQL server, started off the runtime's threads.
async fn postgres() -> TempPostgres {
    tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .unwrap()
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    token: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    enabled: i32,
}

/// The links as PostgreSQL holds them.
fn links_in(url: &str) -> Vec<Row> {
    let mut c = PgConnection::establish(url).unwrap();
    diesel::sql_query("SELECT id, token, enabled FROM watch_links ORDER BY id")
        .load(&mut c)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_on_postgres_keeps_its_links_there_and_serves_them() {
    let pg = postgres().await;
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let (base, url) = (origin.base_url(), pg.url());
    let (dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.database_url = Some(Secret::new(url));
    })
    .await;
    let (id, token, _) = l.new_link(&["1h"]).await;
    let (kept, kept_token, _) = l.new_link(&["2h"]).await;
    let rows = links_in(&pg.url());
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].id, rows[0].token.as_str(), rows[0].enabled),
        (id, token.as_str(), 1)
    );
    assert!(!l.config.db_path.exists(), "no SQLite file was made");
    let cookie = l.open(&token).await;
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 200);
    let out = l.linkctl(&["off", &id.to_string()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 403);
    assert_eq!(links_in(&pg.url())[0].enabled, 0);
    l.stop().await.unwrap();

    // A restart on the same database serves what it holds.
    let base = origin.base_url();
    let url = pg.url();
    let l = Linkd::start_in(dir.path(), move |c| {
        c.mediamtx_hls_base_url = base;
        c.database_url = Some(Secret::new(url));
    })
    .await;
    let ids = l.listed_ids().await;
    assert_eq!(ids, vec![kept]);
    let cookie = l.open(&kept_token).await;
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 200);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_refuses_writes_clearly_keeps_playing_and_heals() {
    let mut pg = postgres().await;
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let env = [("DATABASE_URL", url.as_str())];
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_linkd"))
        .arg("--check-config")
        .env_clear()
        .env("BASE_URL", "http://127.0.0.1")
        .env("MEDIAMTX_HLS_BASE_URL", origin.base_url())
        .envs(env)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        shown.contains("DATABASE_URL=postgres://postgres:***@127.0.0.1"),
        "{shown}"
    );
    assert!(!shown.contains(pg.password()), "{shown}");

    let l = LinkdProcess::spawn(dir.path(), &origin.base_url(), &env).await;
    let out = l.linkctl(&["--json", "new", "1h"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.json()["id"].as_i64().unwrap();
    let token = crate::common::token_of(&out.json());
    let page = crate::common::get(&l.url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    let cookie = page.header("set-cookie").unwrap();
    let cookie = cookie.split(';').next().unwrap();

    pg.kill();
    for args in [vec!["new", "1h"], vec!["extend", &id.to_string(), "2h"]] {
        let t = Instant::now();
        let out = l.linkctl(&args).await;
        assert_eq!(out.code, 1, "{args:?} while PostgreSQL is down: {out:?}");
        assert!(out.stderr.contains("storage failure"), "{}", out.stderr);
        assert!(
            out.stderr.contains("state store unreachable"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains(pg.password()), "{}", out.stderr);
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    }
    // What linkd holds in memory keeps playing.
    assert_eq!(play_status(&l.url("/play/index.m3u8"), cookie).await, 200);
    let list = l.linkctl(&["--json", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);

    pg.start_again();
    let out = l.linkctl(&["off", &id.to_string()]).await;
    assert_eq!(
        out.code, 0,
        "writes work again without a restart: {}",
        out.stderr
    );
    assert_eq!(play_status(&l.url("/play/index.m3u8"), cookie).await, 403);
    assert_eq!(links_in(&pg.url())[0].enabled, 0);
    assert!(!l.logged(pg.password()), "the password reached the log");
    assert_eq!(l.stop().await, Some(0));
    pg.stop();
}
