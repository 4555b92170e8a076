//! Several gates on one state, and the database failing under a gate: changes made on one
//! gate in force on the others, viewer counts summed, one event per change in the shared
//! log, and nothing lost while the database does not answer.

use super::faults::play_status;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{get, wait_for, Linkd};
use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use linkd::testing::pg::TempPostgres;
use linkd::testing::Secret;
use std::path::Path;
use std::time::{Duration, Instant};

/// How soon a change made on one gate must be in force on the others.
const IN_FORCE_WITHIN: Duration = Duration::from_secs(1);

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A throw-away PostgreSQL server, started off the runtime's threads.
async fn postgres() -> TempPostgres {
    tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .unwrap()
}

/// Gates named `gate-1` ... sharing the database at `url`, in front of `origin`, each with
/// its own directory (socket) and port.
async fn gates(n: usize, url: &str, origin: &FakeOrigin) -> (Vec<tempfile::TempDir>, Vec<Linkd>) {
    let (mut dirs, mut gates) = (Vec::new(), Vec::new());
    for i in 1..=n {
        let dir = tempfile::tempdir().unwrap();
        let (url, base) = (url.to_string(), origin.base_url());
        let l = Linkd::start_in(dir.path(), move |c| {
            c.database_url = Some(Secret::new(url));
            c.gate_name = format!("gate-{i}");
            c.mediamtx_hls_base_url = base;
        })
        .await;
        dirs.push(dir);
        gates.push(l);
    }
    (dirs, gates)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `SELECT count(*) AS n ...` on PostgreSQL.
fn count_pg(url: &str, sql: &str) -> i64 {
    let mut c = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut c)
        .unwrap()
        .n
}

/// `/play/index.m3u8` on `l` with `cookie`.
async fn play(l: &Linkd, cookie: &str) -> u16 {
    play_status(&l.url("/play/index.m3u8"), cookie).await
}

/// Waits until `/play` on `l` with `cookie` answers `status`; how long that took.
async fn until_play(l: &Linkd, cookie: &str, status: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    wait_for(&format!("/play answers {status}"), limit, || async {
        play(l, cookie).await == status
    })
    .await;
    start.elapsed()
}

/// Runs linkctl on `l` and checks that it succeeded.
async fn ctl_ok(l: &Linkd, args: &[&str]) {
    let out = l.linkctl(args).await;
    assert_eq!(out.code, 0, "linkctl {args:?}: {}", out.stderr);
}

/// `linkctl --json status` of `l`.
async fn status(l: &Linkd) -> serde_json::Value {
    l.linkctl(&["--json", "status"]).await.json()
}

/// The viewers `linkctl --json list` of `l` shows for link `id`.
async fn listed_viewers(l: &Linkd, id: i64) -> i64 {
    let list = l.linkctl(&["--json", "list"]).await.json();
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .map_or(-1, |v| v["viewers"].as_i64().unwrap())
}

/// The token of active link `id`, as `linkctl list` on `l` shows it.
async fn token_of(l: &Linkd, id: i64) -> String {
    let list = l.linkctl(&["--json", "list"]).await.json();
    let link = list.as_array().unwrap().iter().find(|v| v["id"] == id);
    crate::common::token_of(link.expect("the link is active"))
}

/// Opens link `token` on gate `l` once that gate knows it; the session cookie pair.
async fn open_when_known(l: &Linkd, token: &str) -> String {
    let url = l.url(&format!("/live/stream/{token}"));
    wait_for("the gate knows the link", IN_FORCE_WITHIN, || async {
        get(&url, None).await.is_ok_and(|r| r.status == 200)
    })
    .await;
    l.open(token).await
}

/// A link made on gate 3 plays on gate 1, and a session gate 1 issued plays on gate 2.
async fn made_anywhere_plays_everywhere(g: &[Linkd]) -> (i64, String) {
    let (id, token, _) = g[2].new_link(&["1h"]).await;
    let cookie = open_when_known(&g[0], &token).await;
    assert_eq!(play(&g[0], &cookie).await, 200);
    until_play(&g[1], &cookie, 200, IN_FORCE_WITHIN).await;
    (id, cookie)
}

/// `args` (off, kick, rotate) on gate 1 ends on gate 2, within a second, a session gate 2
/// issued before.
async fn ended_everywhere_within_a_second(g: &[Linkd], args: &[&str], token: &str) {
    let cookie = open_when_known(&g[1], token).await;
    assert_eq!(play(&g[1], &cookie).await, 200);
    ctl_ok(&g[0], args).await;
    let took = until_play(&g[1], &cookie, 403, Duration::from_secs(5)).await;
    assert!(
        took < IN_FORCE_WITHIN,
        "{args:?} took {took:?} to reach gate 2"
    );
}

/// A link made, kicked, rotated and switched off on one gate is in force on the others
/// within a second; a session cookie of one gate plays on another; the stream going live,
/// seen by three gates, is one event in the shared log; `status` names PostgreSQL and the
/// three gates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gates_on_postgres_behave_as_one() {
    let pg = postgres().await;
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let (_dirs, g) = gates(3, &pg.url(), &origin).await;
    let (id, _) = made_anywhere_plays_everywhere(&g).await;
    let n = id.to_string();
    ended_everywhere_within_a_second(&g, &["kick", &n], &token_of(&g[0], id).await).await;
    ended_everywhere_within_a_second(&g, &["rotate", &n], &token_of(&g[0], id).await).await;
    ended_everywhere_within_a_second(&g, &["off", &n], &token_of(&g[0], id).await).await;
    for l in &g {
        wait_for("every gate says live", Duration::from_secs(10), || async {
            status(l).await["live"] == true
        })
        .await;
    }
    let live = "SELECT count(*) AS n FROM link_events WHERE kind = 'stream_live'";
    assert_eq!(count_pg(&pg.url(), live), 1, "one event for three gates");
    wait_for(
        "status names three gates",
        Duration::from_secs(10),
        || async {
            let s = status(&g[1]).await;
            s["state_store"]["gates"] == 3
        },
    )
    .await;
    let s = status(&g[1]).await;
    assert_eq!(s["state_store"]["backend"], "postgres", "{s}");
    assert_eq!(s["state_store"]["gate"], "gate-2", "{s}");
    let text = g[1].linkctl(&["status"]).await.stdout;
    assert!(
        text.contains("state store:   PostgreSQL (gate gate-2, 3 gates)"),
        "{text}"
    );
    for l in g {
        l.stop().await.unwrap();
    }
}

/// Runs `sql` on the SQLite database at `db`.
fn sqlite(db: &Path, sql: &str) {
    let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    // linkd may be writing: wait for its lock rather than fail.
    c.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
    c.batch_execute(sql).unwrap();
}

/// The kinds of link `id`'s audit events, as `linkctl log` shows them.
async fn audit_kinds(l: &Linkd, id: i64) -> Vec<String> {
    let log = l.linkctl(&["--json", "log", &id.to_string()]).await.json();
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Rows of the audit trail that the database refused are kept and written once it takes
/// them again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_refused_by_the_database_are_written_when_it_is_back() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let db = l.config.db_path.clone();
    sqlite(
        &db,
        "CREATE TRIGGER refuse BEFORE INSERT ON link_audit BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
    );
    let (id, _, _) = l.new_link(&["1h"]).await;
    // `log` waits for the writer's attempt: refused, so not there yet.
    assert_eq!(audit_kinds(&l, id).await, Vec::<String>::new());
    sqlite(&db, "DROP TRIGGER refuse;");
    wait_for(
        "the refused row is written",
        Duration::from_secs(10),
        || async { audit_kinds(&l, id).await == ["created"] },
    )
    .await;
    l.stop().await.unwrap();
}

/// botd, reading the shared log through gate 1, hears at once of a link opened on a new
/// device on gate 2: its wait for events ends when gate 2 appends one.
async fn botd_hears_of_an_opening_on_another_gate(g: &[Linkd]) {
    let client = proto::connect(&g[0].socket).await.unwrap();
    let ctx = || {
        let mut c = tarpc::context::current();
        c.deadline = Instant::now() + Duration::from_secs(60);
        c
    };
    let pending = client
        .next_events(ctx(), "bot".into(), 0)
        .await
        .unwrap()
        .unwrap();
    if let Some(last) = pending.last() {
        client
            .ack_events(ctx(), "bot".into(), last.id)
            .await
            .unwrap()
            .unwrap();
    }
    let (id, token, _) = g[0].new_link(&["1h"]).await;
    let waiting = tokio::spawn({
        let client = client.clone();
        async move {
            let start = Instant::now();
            let events = client.next_events(ctx(), "bot".into(), 30_000).await;
            (events.unwrap().unwrap(), start.elapsed())
        }
    });
    let cookie = open_when_known(&g[1], &token).await;
    assert_eq!(play(&g[1], &cookie).await, 200);
    let (events, took) = waiting.await.unwrap();
    assert!(took < Duration::from_secs(10), "heard after {took:?}");
    assert!(
        events.iter().any(
            |e| matches!(e.kind, proto::EventKind::LinkOpened { link_id, .. } if link_id == id)
        ),
        "{events:?}"
    );
}

/// Viewer counts are summed across gates: a session on each of two gates is 2 viewers on
/// either; a viewer cap of 1 refuses a second device on the other gate; the link's first
/// opening on a device is one `link_opened` event in the shared log, however many gates
/// that device plays on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_are_counted_over_every_gate() {
    let pg = postgres().await;
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let (_dirs, g) = gates(2, &pg.url(), &origin).await;
    let (id, token, _) = g[0].new_link(&["1h"]).await;
    let (a, device) = g[0].open_as(&token, None, FIREFOX).await;
    assert_eq!(play(&g[0], &a).await, 200);
    let b = open_when_known(&g[1], &token).await;
    assert_eq!(play(&g[1], &b).await, 200);
    for l in &g {
        wait_for(
            "two viewers on each gate",
            Duration::from_secs(10),
            || async { listed_viewers(l, id).await == 2 && status(l).await["viewers"] == 2 },
        )
        .await;
    }
    let text = g[0].linkctl(&["viewers"]).await.stdout;
    assert!(
        text.ends_with("and 1 through other gates (`linkctl viewers` there)\n"),
        "{text}"
    );
    // The first device plays on the other gate too: still one announcement.
    let (again, _) = g[1].open_as(&token, Some(&device), FIREFOX).await;
    assert_eq!(play(&g[1], &again).await, 200);
    for l in &g {
        ctl_ok(l, &["log", &id.to_string()]).await; // the trail is written
    }
    let opened = format!(
        "SELECT count(*) AS n FROM link_events WHERE kind = 'link_opened' AND link_id = {id}"
    );
    assert_eq!(
        count_pg(&pg.url(), &opened),
        2,
        "two devices, three sessions"
    );

    let (capped, token, _) = g[0].new_link(&["1h", "--max-viewers", "1"]).await;
    let one = g[0].open(&token).await;
    assert_eq!(play(&g[0], &one).await, 200);
    wait_for(
        "gate 2 counts gate 1's viewer",
        Duration::from_secs(10),
        || async { listed_viewers(&g[1], capped).await == 1 },
    )
    .await;
    let second = get(&g[1].url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    assert_eq!(second.status, 403, "{}", second.body_text());
    assert!(
        second.body_text().contains("1 device"),
        "{}",
        second.body_text()
    );
    botd_hears_of_an_opening_on_another_gate(&g).await;
    for l in g {
        l.stop().await.unwrap();
    }
}

/// Whether `status` of `l` says the state store answers.
async fn reachable(l: &Linkd) -> bool {
    status(l).await["state_store"]["reachable"] == true
}

/// PostgreSQL stopped: both gates keep serving the link they know, a write fails with the
/// storage error, and `status` says the state store is unreachable. A change made on one
/// gate after PostgreSQL is back, before the other gate listens again, reaches that gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_ride_out_postgres_going_away() {
    let mut pg = postgres().await;
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let (_dirs, g) = gates(2, &pg.url(), &origin).await;
    let (id, token, _) = g[0].new_link(&["1h"]).await;
    let cookies = [
        g[0].open(&token).await,
        open_when_known(&g[1], &token).await,
    ];
    pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    for l in &g {
        wait_for(
            "status says unreachable",
            Duration::from_secs(10),
            || async { !reachable(l).await },
        )
        .await;
    }
    let text = g[1].linkctl(&["status"]).await.stdout;
    assert!(
        text.contains("state store:   PostgreSQL, unreachable since"),
        "{text}"
    );
    for (l, cookie) in g.iter().zip(&cookies) {
        assert_eq!(play(l, cookie).await, 200, "known links play on");
    }
    let refused = g[0].linkctl(&["new", "1h"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("unreachable"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains(pg.password()),
        "{}",
        refused.stderr
    );

    pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    // Written at once on gate 1; gate 2 may not listen yet: it reloads when it does.
    ctl_ok(&g[0], &["off", &id.to_string()]).await;
    until_play(&g[1], &cookies[1], 403, Duration::from_secs(10)).await;
    for l in &g {
        wait_for("status says reachable", Duration::from_secs(10), || {
            reachable(l)
        })
        .await;
    }
    drop(pg);
    for l in g {
        l.stop().await.unwrap();
    }
}
