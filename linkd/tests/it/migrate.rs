//! `linkctl migrate`: a database made like the Go service's (`tests/upgrade/go-db.sql`),
//! then used by linkd (limits, greetings, sessions and their audit trail, events, keys),
//! moved into a PostgreSQL server the test starts; every row compared, a second move
//! refused, and a linkd on PostgreSQL serving the old links and sessions.

use super::faults::play_status;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{Ctl, Linkd};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use linkd::testing::pg::TempPostgres;
use linkd::testing::Secret;
use std::path::Path;

/// Every table linkd keeps: its name, its key and its columns; `*` marks bytes.
const TABLES: &[(&str, &str, &[&str])] = &[
    (
        "watch_links",
        "id",
        &[
            "id",
            "token",
            "enabled",
            "created_at",
            "expires_at",
            "disabled_at",
            "note",
        ],
    ),
    ("linkd_keys", "name", &["name", "*value", "created_at"]),
    (
        "linkd_signing_keys",
        "id",
        &["id", "*value", "created_at", "retired_at"],
    ),
    (
        "link_events",
        "id",
        &["id", "at", "kind", "link_id", "note", "devices"],
    ),
    (
        "link_audit",
        "id",
        &[
            "id",
            "at",
            "link_id",
            "kind",
            "actor",
            "expires_at",
            "client",
            "browser",
            "device",
            "seconds",
            "bytes",
        ],
    ),
    ("event_cursors", "consumer", &["consumer", "last_id"]),
    ("link_opens", "link_id", &["link_id", "first_opened_at"]),
    (
        "linkd_stream_key",
        "id",
        &["id", "value", "created_at", "legacy_ok"],
    ),
    ("link_greetings", "link_id", &["link_id", "greeting"]),
    (
        "link_limits",
        "link_id",
        &[
            "link_id",
            "max_viewers",
            "once",
            "bound_session",
            "generation",
        ],
    ),
];

#[derive(QueryableByName, PartialEq, Debug)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Each row of `table` as one line of text, in key order, written by the database itself.
fn lines_sql(table: &str, key: &str, cols: &[&str], pg: bool) -> String {
    let shown: Vec<String> = cols
        .iter()
        .map(|c| match (c.strip_prefix('*'), pg) {
            (Some(b), false) => format!("hex({b})"),
            (Some(b), true) => format!("upper(encode({b}, 'hex'))"),
            (None, _) => format!("coalesce(CAST({c} AS TEXT), 'NULL')"),
        })
        .collect();
    format!(
        "SELECT {} AS line FROM {table} ORDER BY {key}",
        shown.join(" || '|' || ")
    )
}

/// Every table of the SQLite file `db`, rows as lines.
fn sqlite_tables(db: &Path) -> Vec<Vec<Line>> {
    let mut c = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    TABLES
        .iter()
        .map(|(t, k, cols)| {
            diesel::sql_query(lines_sql(t, k, cols, false))
                .load(&mut c)
                .unwrap()
        })
        .collect()
}

/// Every table of the PostgreSQL database at `url`, rows as lines.
fn postgres_tables(url: &str) -> Vec<Vec<Line>> {
    let mut c = PgConnection::establish(url).unwrap();
    TABLES
        .iter()
        .map(|(t, k, cols)| {
            diesel::sql_query(lines_sql(t, k, cols, true))
                .load(&mut c)
                .unwrap()
        })
        .collect()
}

/// Runs `linkctl migrate ARGS` with only `env` in its environment.
async fn migrate(args: &[&str], env: &[(&str, &str)]) -> Ctl {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_linkctl"))
        .arg("migrate")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    Ctl {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The Go service's database in `dir`, used by linkd: a limited link with a greeting, a
/// session on Go link 7 (its cookie, signed by key 1, is returned), a second signing key,
/// and the rows no call makes here (botd's read position, a named key).
async fn used_go_database(dir: &Path, origin: &FakeOrigin) -> String {
    let db = dir.join("db.sqlite");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/upgrade/go-db.sql");
    SqliteConnection::establish(db.to_str().unwrap())
        .unwrap()
        .batch_execute(&std::fs::read_to_string(fixture).unwrap())
        .unwrap();
    let l = Linkd::start_in_front_of(dir, origin).await;
    let (id, _, _) = l.new_link(&["2h", "--max-viewers", "2"]).await;
    assert_eq!(
        l.linkctl(&["greet", &id.to_string(), "Hello"]).await.code,
        0
    );
    let (cookie, _) = l
        .open_as("Go7tomorrowBBBBBBBBBBBBBBBBBBB-_", None, "Firefox")
        .await;
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 200);
    assert_eq!(l.linkctl(&["signing-key", "rotate"]).await.code, 0);
    assert_eq!(l.linkctl(&["stream-key", "show"]).await.code, 0);
    l.stop().await.unwrap();
    SqliteConnection::establish(db.to_str().unwrap())
        .unwrap()
        .batch_execute(
            "INSERT INTO event_cursors (consumer, last_id) VALUES ('botd', 1);
             INSERT INTO linkd_keys (name, value, created_at) VALUES ('spare', x'00ff10', 5);",
        )
        .unwrap();
    cookie
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_go_database_moves_exactly_once_and_plays_on_from_postgres() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cookie = used_go_database(dir.path(), &origin).await;
    let db = dir.path().join("db.sqlite");
    let before = sqlite_tables(&db);
    for ((table, _, _), rows) in TABLES.iter().zip(&before) {
        assert!(!rows.is_empty(), "the source has rows in {table}");
    }
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .unwrap();

    // --from defaults to DB_PATH, as linkd reads it.
    let out = migrate(&["--to", &pg.url()], &[("DB_PATH", db.to_str().unwrap())]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("watch_links") && out.stdout.contains("postgres://postgres:***@"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(pg.password()), "{}", out.stdout);
    assert_eq!(
        postgres_tables(&pg.url()),
        before,
        "every row of every table"
    );
    assert_eq!(sqlite_tables(&db), before, "the SQLite file was only read");

    // A second move into the same database is refused, naming what it holds.
    let again = migrate(
        &["--json", "--from", db.to_str().unwrap()],
        &[("DATABASE_URL", &pg.url())],
    )
    .await;
    assert_eq!(again.code, 1, "{again:?}");
    let held = format!("watch_links: {} rows", before[0].len());
    assert!(
        again.stderr.contains("already holds") && again.stderr.contains(&held),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains(pg.password()), "{}", again.stderr);
    assert_eq!(postgres_tables(&pg.url()), before);

    // linkd on PostgreSQL: the old links with their ids and tokens, the session signed
    // before the move, and new ids past the old ones.
    let url = pg.url();
    let base = origin.base_url();
    let (_gate_dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.database_url = Some(Secret::new(url));
    })
    .await;
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 200);
    let ids = l.listed_ids().await;
    assert!(
        ids.contains(&3) && ids.contains(&7) && ids.contains(&12),
        "{ids:?}"
    );
    l.open("Go3permanentAAAAAAAAAAAAAAAAAAAA").await;
    let (new, _, _) = l.new_link(&["1h"]).await;
    assert!(new > *ids.iter().max().unwrap(), "{new} after {ids:?}");
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_names_what_is_wrong_with_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.sqlite");
    let out = migrate(&["--to", "mysql://u:hunter9@db/x"], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--to: not a PostgreSQL URL") && !out.stderr.contains("hunter9"),
        "{}",
        out.stderr
    );
    let out = migrate(&[], &[("DB_PATH", missing.to_str().unwrap())]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("give --to"), "{}", out.stderr);
    let out = migrate(
        &[
            "--from",
            missing.to_str().unwrap(),
            "--to",
            "postgres://u:hunter9@127.0.0.1:9/x",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("nothing.sqlite") && out.stderr.contains("no such file"),
        "{}",
        out.stderr
    );
    assert!(!missing.exists(), "the source is never created");
    // Another program's database is named as the file given, and left as it was.
    let foreign = dir.path().join("photos.sqlite");
    SqliteConnection::establish(foreign.to_str().unwrap())
        .unwrap()
        .batch_execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
        .unwrap();
    let from = foreign.to_str().unwrap();
    let out = migrate(
        &["--from", from, "--to", "postgres://u:hunter9@127.0.0.1:9/x"],
        &[],
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("{from} is a SQLite database of another program")),
        "{}",
        out.stderr
    );
    // DB_PATH and DATABASE_URL from linkd's config file, as linkd reads them.
    let toml = dir.path().join("linkd.toml");
    let settings = format!(
        "db_path = \"{}\"\ndatabase_url = \"postgres://u:hunter9@127.0.0.1:9/x\"\n",
        missing.display()
    );
    std::fs::write(&toml, settings).unwrap();
    let out = migrate(&["--config", toml.to_str().unwrap()], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("nothing.sqlite"), "{}", out.stderr);
}
