//! The upgrade from the Go service, as an operator makes it (UPGRADING.md): the Go service's
//! database (goose's table, its schema, links in every state, `tests/upgrade/go-db.sql`) and
//! its `.env` (`tests/upgrade/go.env`, quotes and Go syntax included) go in; the real `linkd`
//! and `botd` binaries start on them, with only Telegram faked. Links, ids, tokens and expiry
//! come out unchanged, old links play, the Go keyboard on the operator's phone works, and
//! the database stays one the Go service opens (rollback).
//!
//! The `linkd` binary is taken from beside `botd`'s (`cargo build --workspace` or
//! `cargo test --workspace` builds both; scripts/test.sh does).

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::common::{fake_telegram::FakeTelegram, *};
use diesel::{
    connection::SimpleConnection, sql_types, Connection, QueryableByName, RunQueryDsl,
    SqliteConnection,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/upgrade")
        .join(name)
}

/// The Go operator's `.env` as `KEY`, raw value (quotes kept: the daemons must cope).
fn go_env() -> Vec<(String, String)> {
    std::fs::read_to_string(fixture("go.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[derive(Debug, Clone, PartialEq, QueryableByName)]
struct Row {
    #[diesel(sql_type = sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = sql_types::Text)]
    token: String,
    #[diesel(sql_type = sql_types::BigInt)]
    enabled: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    created_at: i64,
    #[diesel(sql_type = sql_types::Nullable<sql_types::BigInt>)]
    expires_at: Option<i64>,
    #[diesel(sql_type = sql_types::Nullable<sql_types::BigInt>)]
    disabled_at: Option<i64>,
    #[diesel(sql_type = sql_types::Text)]
    note: String,
}

#[derive(Debug, PartialEq, QueryableByName)]
struct Text {
    #[diesel(sql_type = sql_types::Text)]
    text: String,
}

/// The rows of `watch_links`, and what the Go service needs to open the file: goose's
/// versions and the schema of its table and indexes.
fn snapshot(db: &Path) -> (Vec<Row>, Vec<Text>) {
    let mut c = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let rows = diesel::sql_query("SELECT * FROM watch_links ORDER BY id")
        .load(&mut c)
        .unwrap();
    let go = diesel::sql_query(
        "SELECT version_id || ':' || is_applied AS text FROM goose_db_version \
         UNION ALL SELECT sql AS text FROM sqlite_master \
         WHERE tbl_name = 'watch_links' AND sql IS NOT NULL",
    )
    .load(&mut c)
    .unwrap();
    (rows, go)
}

/// A real daemon; killed if the test fails before stopping it.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(program: &Path, env: &[(String, String)], log: PathBuf) -> Daemon {
        let child = Command::new(program)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        Daemon { child, log }
    }

    /// SIGTERM, then the exit code and what it logged.
    async fn stop(mut self) -> (Option<i32>, String) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        (status.code(), std::fs::read_to_string(&self.log).unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// GET `path` from linkd: (status, set-cookie pair, body).
async fn get(addr: &str, path: &str, cookie: Option<&str>) -> (u16, Option<String>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: watch.example.org\r\n{cookie}Connection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let set = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(|l| l[11..].trim().split(';').next().unwrap().to_string());
    (status, set, body.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Like `ask`, but skips the notifications (stream live, links opened) and the keyboard
/// refresh that may arrive meanwhile.
async fn answer(tg: &FakeTelegram, text: &str) -> fake_telegram::Call {
    let since = tg.mark();
    tg.send_text(OPERATOR, text);
    let call = tg
        .wait_for(since, WAIT, |c| {
            c.method == "sendMessage"
                && c.chat() == Some(OPERATOR)
                && !c.text().contains("for the first time")
                && !c.text().starts_with("🔴 The stream")
                && !c.text().starts_with("⌨️")
        })
        .await
        .unwrap_or_else(|e| panic!("no answer to {text:?}: {e}"));
    assert_operator_language(call.text());
    call
}

fn ctx() -> tarpc::context::Context {
    tarpc::context::current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_service_database_and_env_upgrade_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = go_database(dir.path());
    let (before, go_before) = snapshot(&db);
    assert_eq!(before.len(), 5);

    let up = Upgraded::start(dir.path(), &db).await;
    links_come_out_unchanged(&up.api, &before).await;
    old_links_play(&up.http, &before).await;
    the_operators_phone_works(&up.tg, &up.api).await;
    up.stop_without_secrets(&before).await;
    the_database_stays_the_go_services(&db, &before, &go_before);
    drop(dir);
}

/// The Go service's database, written from its fixture into `dir`.
fn go_database(dir: &Path) -> PathBuf {
    let db = dir.join("db.sqlite");
    let mut c = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    c.batch_execute(&std::fs::read_to_string(fixture("go-db.sql")).unwrap())
        .unwrap();
    db
}

/// Both real daemons started on the Go operator's `.env`, with a live origin and the fake
/// Bot API.
struct Upgraded {
    _origin: Origin,
    tg: FakeTelegram,
    http: String,
    api: proto::LinkApiClient,
    linkd: Daemon,
    botd: Daemon,
}

impl Upgraded {
    async fn start(dir: &Path, db: &Path) -> Upgraded {
        let linkd_bin = Path::new(env!("CARGO_BIN_EXE_botd")).with_file_name("linkd");
        assert!(
            linkd_bin.exists(),
            "{} is missing: run `cargo build --workspace` first",
            linkd_bin.display()
        );
        let origin = Origin::start().await;
        origin.set_live(true);
        let tg = FakeTelegram::start(TOKEN).await;
        let socket = dir.join("linkd.sock");
        let http = format!("127.0.0.1:{}", free_port());
        let mut env = go_env();
        // What differs per machine; everything else is the Go operator's file as it is.
        for (k, v) in [
            ("HTTP_ADDR", http.clone()),
            ("DB_PATH", db.display().to_string()),
            ("RPC_SOCKET", socket.display().to_string()),
            ("MEDIAMTX_HLS_BASE_URL", origin.base_url()),
            ("TELEGRAM_API_URL", tg.url()),
        ] {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v));
        }
        let linkd = Daemon::spawn(&linkd_bin, &env, dir.join("linkd.log"));
        let deadline = Instant::now() + WAIT;
        let api = loop {
            if let Ok(api) = proto::connect(&socket).await {
                break api;
            }
            assert!(Instant::now() < deadline, "linkd did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let since = tg.mark();
        let botd = Daemon::spawn(
            Path::new(env!("CARGO_BIN_EXE_botd")),
            &env,
            dir.join("botd.log"),
        );
        tg.wait_method(since, "getMe").await;
        Upgraded {
            _origin: origin,
            tg,
            http,
            api,
            linkd,
            botd,
        }
    }

    /// Both daemons stop cleanly, and neither logged the bot token or a link token.
    async fn stop_without_secrets(self, before: &[Row]) {
        let (code, bot_log) = self.botd.stop().await;
        assert_eq!(code, Some(0), "{bot_log}");
        let (code, linkd_log) = self.linkd.stop().await;
        assert_eq!(code, Some(0), "{linkd_log}");
        for log in [&bot_log, &linkd_log] {
            assert!(
                !log.contains("AAHsecretTOKENvalue"),
                "the bot token was logged"
            );
            for row in before {
                assert!(
                    !log.contains(&row.token),
                    "link {}'s token was logged",
                    row.id
                );
            }
        }
    }
}

/// Every link as it was: id, token, times, note; states as the Go service had them.
async fn links_come_out_unchanged(api: &proto::LinkApiClient, before: &[Row]) {
    for row in before {
        let link = api.get_link(ctx(), row.id).await.unwrap().unwrap();
        assert_eq!(
            link.url,
            format!("https://watch.example.org/live/stream/{}", row.token)
        );
        assert_eq!(
            (
                link.created_at,
                link.expires_at,
                link.disabled_at,
                &link.note
            ),
            (row.created_at, row.expires_at, row.disabled_at, &row.note)
        );
    }
    let state = |id| {
        let api = api.clone();
        async move { api.get_link(ctx(), id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(8).await, proto::LinkState::Expired);
    assert_eq!(state(9).await, proto::LinkState::Disabled);
    let active: Vec<i64> = api
        .list_active(ctx())
        .await
        .unwrap()
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(active, [12, 7, 3]);
}

/// Old links play: the watch page, then the stream through /play with its cookie.
async fn old_links_play(http: &str, before: &[Row]) {
    assert_eq!(get(http, "/", None).await.0, 200);
    for id in [3, 7] {
        let token = &before.iter().find(|r| r.id == id).unwrap().token;
        let (status, cookie, _) = get(http, &format!("/live/stream/{token}"), None).await;
        assert_eq!(status, 200, "link {id}'s page");
        let (status, _, body) = get(http, "/play/index.m3u8", cookie.as_deref()).await;
        assert_eq!(status, 200, "link {id} plays");
        assert!(body.contains("#EXTM3U"), "{body}");
    }
    for id in [8, 9] {
        let token = &before.iter().find(|r| r.id == id).unwrap().token;
        let (status, _, _) = get(http, &format!("/live/stream/{token}"), None).await;
        assert_eq!(status, 410, "link {id} has ended");
    }
}

/// The operator's phone: the Go keyboard, an old Disable deep link, the Go TTL buttons.
async fn the_operators_phone_works(tg: &FakeTelegram, api: &proto::LinkApiClient) {
    let list = answer(tg, "📋 Active").await;
    for words in ["3 active links", "Grandma", "ex-boss", "Europe/Berlin"] {
        assert!(list.text().contains(words), "{words}: {}", list.text());
    }
    let off = answer(tg, "⛔ Disable last").await;
    assert!(off.text().contains("Link #12</b> is off"), "{}", off.text());
    let off = answer(tg, "/start disable_7").await;
    assert!(
        off.text().contains("Link #7</b> · Grandma is off"),
        "{}",
        off.text()
    );
    let perm = answer(tg, "♾ Permanent").await;
    assert!(perm.text().contains("Link #13</b>"), "{}", perm.text());
    assert!(perm.text().contains("never expires"), "{}", perm.text());
    let temp = answer(tg, "🟢 90 minutes").await;
    assert!(
        temp.text().contains("in 1 h 30 min") || temp.text().contains("in 1 h 29 min"),
        "{}",
        temp.text()
    );
    // DEFAULT_LINK_TTL=0: a link made without a lifetime is permanent, as in the Go service.
    let default = api.create_link(ctx(), None, None).await.unwrap().unwrap();
    assert_eq!((default.id, default.expires_at), (15, None));
}

/// Afterwards: the rows are the Go service's, but for what the operator changed; goose's
/// table and the schema are untouched, so the Go binary opens the file again (rollback).
fn the_database_stays_the_go_services(db: &Path, before: &[Row], go_before: &[Text]) {
    let (after, go_after) = snapshot(db);
    assert_eq!(go_after, go_before);
    for row in before {
        let now = after.iter().find(|r| r.id == row.id).unwrap();
        if row.id == 7 || row.id == 12 {
            assert_eq!(
                (&now.token, now.created_at, now.expires_at, &now.note),
                (&row.token, row.created_at, row.expires_at, &row.note)
            );
            assert_eq!(now.enabled, 0);
            assert!(now.disabled_at.is_some());
        } else {
            assert_eq!(now, row, "link {} changed", row.id);
        }
    }
    let new: Vec<i64> = after.iter().map(|r| r.id).filter(|id| *id > 12).collect();
    assert_eq!(new, [13, 14, 15]);
}
