//! linkd when things around it fail: the origin down or killed and restarted, linkd itself
//! stopped with SIGTERM or SIGKILL (sessions and links survive, the database stays intact),
//! shutdown with requests in flight, storage that stops accepting writes, unusable database
//! files, and abuse of the RPC socket. Real processes, sockets and files throughout.

use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{free_port, get, wait_for, Linkd, LinkdProcess};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `/play/index.m3u8` with `cookie`, as a status (0 when the request itself failed).
async fn play_status(url: &str, cookie: &str) -> u16 {
    get(url, Some(cookie)).await.map(|r| r.status).unwrap_or(0)
}

async fn live(socket: &Path) -> bool {
    let s = common::linkctl(socket, &["--json", "status"]).await;
    s.code == 0 && s.json()["live"] == true
}

/// Waits until `/play` answers 200 with `cookie` and linkd reports the stream live.
async fn wait_recovered(l: &Linkd, index: &str, cookie: &str) {
    wait_for(
        "/play answers 200 again",
        Duration::from_secs(10),
        || async { play_status(index, cookie).await == 200 },
    )
    .await;
    wait_for("status says live", Duration::from_secs(10), || {
        live(&l.socket)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_down_at_start_and_killed_mid_stream_recover_by_themselves() {
    let at = free_port();
    let base = format!("http://{at}/live/stream");
    let (_d, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.probe_interval = Duration::from_millis(200);
    })
    .await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let index = l.url("/play/index.m3u8");

    // Nothing listens: a quick 502, and the stream is offline.
    let t = Instant::now();
    assert_eq!(play_status(&index, &cookie).await, 502);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(!live(&l.socket).await);

    // The origin comes up on that port: playback and status recover without touching linkd.
    let behaviour = Behaviour {
        low_latency: true,
        ..Behaviour::default()
    };
    let origin = FakeOrigin::start_at(at, behaviour.clone()).await;
    wait_recovered(&l, &index, &cookie).await;

    // Killed with a blocking reload in flight: the viewer gets a 502, not a hang.
    origin.freeze(true);
    let blocking = l.url(&format!(
        "/play/video1_stream.m3u8?{}",
        origin.next_part_query()
    ));
    let c2 = cookie.clone();
    let in_flight = tokio::spawn(async move { play_status(&blocking, &c2).await });
    let state = origin.state.clone();
    wait_for(
        "the origin holds the reload",
        Duration::from_secs(5),
        || {
            let n = state
                .requests()
                .iter()
                .filter(|s| s.query.as_deref().is_some_and(|q| q.contains("_HLS_msn")))
                .count();
            async move { n > 0 }
        },
    )
    .await;
    drop(origin);
    let t = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the viewer is answered when the origin dies")
        .unwrap();
    assert_eq!(status, 502, "after {:?}", t.elapsed());
    wait_for("/play answers 502", Duration::from_secs(5), || {
        let (i, c) = (index.clone(), cookie.clone());
        async move { play_status(&i, &c).await == 502 }
    })
    .await;
    wait_for("status says offline", Duration::from_secs(10), || async {
        !live(&l.socket).await
    })
    .await;

    // Back on the same port: recovers again.
    let origin = FakeOrigin::start_at(at, behaviour).await;
    wait_recovered(&l, &index, &cookie).await;
    drop(origin);
    l.stop().await.unwrap();
}

/// `(id, url, state, expires_at)` of every active link, as `linkctl --json list` prints them.
async fn listing(p: &LinkdProcess) -> Vec<(i64, String, String, Option<i64>)> {
    let out = p.linkctl(&["--json", "list"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["id"].as_i64().unwrap(),
                l["url"].as_str().unwrap().to_string(),
                l["state"].as_str().unwrap().to_string(),
                l["expires_at"].as_i64(),
            )
        })
        .collect()
}

fn integrity_check(db: &Path) -> (String, i64) {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut c)
        .unwrap();
    let count: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM watch_links")
        .load(&mut c)
        .unwrap();
    let text = check
        .into_iter()
        .map(|c| c.integrity_check)
        .collect::<Vec<_>>()
        .join("; ");
    (text, count[0].n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_links_survive_sigterm_and_sigkill_and_the_database_stays_intact() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = LinkdProcess::spawn(dir.path(), &origin.base_url(), &[]).await;
    let (mut cookie, mut created) = (String::new(), 0);
    for n in 0..3 {
        let out = p
            .linkctl(&["--json", "new", "2h", "--note", &format!("n{n}")])
            .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        created += 1;
        if n == 0 {
            let url = out.json()["url"].as_str().unwrap().to_string();
            let token = url.rsplit('/').next().unwrap().to_string();
            let r = get(&p.url(&format!("/live/stream/{token}")), None)
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            cookie = r
                .header("set-cookie")
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
        }
    }
    assert_eq!(play_status(&p.url("/play/index.m3u8"), &cookie).await, 200);
    let mut p = p;
    for sig in ["TERM", "KILL"] {
        // A link created right before the signal must be there afterwards too.
        let out = p.linkctl(&["--json", "new", "1h"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        created += 1;
        let before = listing(&p).await;
        assert_eq!(before.len(), created);
        p.signal(sig);
        let status = p
            .wait_exit(Duration::from_secs(15))
            .await
            .unwrap_or_else(|| panic!("linkd still runs after SIG{sig}"));
        if sig == "TERM" {
            assert_eq!(status.code(), Some(0), "clean stop");
            assert!(!p.socket.exists(), "socket removed on SIGTERM");
        } else {
            assert_eq!(status.code(), None, "killed");
            assert!(p.socket.exists(), "SIGKILL leaves a stale socket behind");
        }
        drop(p);
        p = LinkdProcess::spawn(dir.path(), &origin.base_url(), &[]).await;
        assert_eq!(
            listing(&p).await,
            before,
            "links after SIG{sig} and a restart"
        );
        assert_eq!(
            play_status(&p.url("/play/index.m3u8"), &cookie).await,
            200,
            "the same cookie plays after SIG{sig} and a restart"
        );
    }
    assert_eq!(p.stop().await, Some(0));
    let (check, rows) = integrity_check(&dir.path().join("db.sqlite"));
    assert_eq!(check, "ok");
    assert_eq!(rows as usize, created, "no link lost or duplicated");
}

/// Waits until the fake origin holds a blocking reload.
async fn until_held(origin: &FakeOrigin) {
    let state = origin.state.clone();
    wait_for("the origin holds a reload", Duration::from_secs(5), || {
        let n = state
            .requests()
            .iter()
            .filter(|s| s.query.as_deref().is_some_and(|q| q.contains("_HLS_msn")))
            .count();
        async move { n > 0 }
    })
    .await;
}

async fn open_cookie(p: &LinkdProcess) -> String {
    let out = p.linkctl(&["--json", "new", "1h"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let url = out.json()["url"].as_str().unwrap().to_string();
    let token = url.rsplit('/').next().unwrap();
    let r = get(&p.url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A linkd binary with `SHUTDOWN_GRACE=grace` in front of a frozen LL origin, and a viewer's
/// blocking playlist reload that the origin holds.
async fn linkd_holding_a_reload(
    grace: &str,
) -> (
    FakeOrigin,
    tempfile::TempDir,
    LinkdProcess,
    tokio::task::JoinHandle<Result<common::Answer, String>>,
) {
    let origin = FakeOrigin::start(Behaviour {
        low_latency: true,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let p = LinkdProcess::spawn(dir.path(), &origin.base_url(), &[("SHUTDOWN_GRACE", grace)]).await;
    let cookie = open_cookie(&p).await;
    origin.freeze(true);
    let url = p.url(&format!(
        "/play/video1_stream.m3u8?{}",
        origin.next_part_query()
    ));
    let in_flight = tokio::spawn(async move { get(&url, Some(&cookie)).await });
    until_held(&origin).await;
    (origin, dir, p, in_flight)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_blocking_reload_finish_within_the_grace_period() {
    let (origin, _dir, mut p, in_flight) = linkd_holding_a_reload("10s").await;

    p.signal("TERM");
    let socket = p.socket.clone();
    wait_for("linkd begins to stop", Duration::from_secs(5), || {
        let gone = !socket.exists();
        async move { gone }
    })
    .await;
    assert!(!in_flight.is_finished(), "the reload was cut at SIGTERM");
    assert!(p.child.try_wait().unwrap().is_none(), "linkd waits for it");
    // The part appears: the viewer gets its playlist, then linkd exits cleanly.
    let t = Instant::now();
    origin.freeze(false);
    let r = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the reload completes")
        .unwrap()
        .expect("an answer");
    assert_eq!(r.status, 200);
    assert!(r.body_text().starts_with("#EXTM3U"), "{}", r.body_text());
    let status = p
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("linkd exits once the reload is done");
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!p.socket.exists());
}

/// An origin that accepts connections and never answers (a hung MediaMTX) does not hold up
/// shutdown: the liveness probe watches the shutdown token too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_origin_does_not_delay_shutdown() {
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/live/stream", hung.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = hung.accept().await {
            conns.push(c);
        }
    });
    let (_dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.probe_interval = Duration::from_millis(100);
        c.shutdown_grace = Duration::from_secs(1);
    })
    .await;
    // Let the probe get stuck on the silent origin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    l.stop().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_grace_period_does_not_keep_linkd_running() {
    let (_origin, _dir, mut p, in_flight) = linkd_holding_a_reload("1s").await;
    let t = Instant::now();
    p.signal("TERM");
    let status = p
        .wait_exit(Duration::from_secs(4))
        .await
        .unwrap_or_else(|| {
            panic!(
                "linkd still runs {:?} after SIGTERM with a 1 s grace",
                t.elapsed()
            )
        });
    assert_eq!(status.code(), Some(0));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the request got its grace period: {:?}",
        t.elapsed()
    );
    assert!(!p.socket.exists());
    let r = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the client learns that the connection is gone")
        .unwrap();
    assert!(r.is_err(), "{r:?}");
}

/// Makes a path refuse writes, even to root: `chattr +i` (ext4 and friends), else read-only
/// modes (enough when the tests do not run as root). Undone on drop.
struct Frozen(Vec<PathBuf>, bool);

impl Frozen {
    fn new(paths: Vec<PathBuf>) -> Frozen {
        let chattr = paths.iter().all(|p| {
            Command::new("chattr")
                .arg("+i")
                .arg(p)
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if !chattr {
            use std::os::unix::fs::PermissionsExt;
            for p in &paths {
                let mode = if p.is_dir() { 0o555 } else { 0o444 };
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
            }
        }
        Frozen(paths, chattr)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        for p in &self.0 {
            if self.1 {
                let _ = Command::new("chattr").arg("-i").arg(p).output();
            }
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_that_refuses_writes_fails_calls_clearly_and_heals_without_a_restart() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let base = origin.base_url();
    let (dir, l) = Linkd::start(move |c| c.mediamtx_hls_base_url = base).await;
    let (id, token, _) = l.new_link(&["1h"]).await;
    let cookie = l.open(&token).await;
    let db = l.config.db_path.clone();
    let mut paths: Vec<PathBuf> = ["", "-wal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .filter(|p| p.exists())
        .collect();
    paths.push(dir.path().to_path_buf());
    let frozen = Frozen::new(paths);

    // A new link is refused, not reported and then lost: the insert's commit error counts.
    let out = l.linkctl(&["new", "1h"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("storage failure"), "{}", out.stderr);
    let t = Instant::now();
    let out = l.linkctl(&["extend", &id.to_string(), "2h"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("storage failure"), "{}", out.stderr);
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    let out = l.linkctl(&["off", &id.to_string()]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("storage failure"), "{}", out.stderr);
    // Reads and playback do not need the disk; a failed write changed nothing in memory.
    let list = l.linkctl(&["--json", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let ids: Vec<i64> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![id], "the refused off left the link active");
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 200);

    let before = list.json()[0]["expires_at"].as_i64();
    drop(frozen);
    let out = l.linkctl(&["--json", "new", "1h"]).await;
    assert_eq!(out.code, 0, "writes work again: {}", out.stderr);
    let out = l
        .linkctl(&["--json", "extend", &id.to_string(), "2h"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.json()["expires_at"].as_i64() > before, "extended now");
    let out = l.linkctl(&["off", &id.to_string()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(play_status(&l.url("/play/index.m3u8"), &cookie).await, 403);
    l.stop().await.unwrap();
    let (check, rows) = integrity_check(&db);
    assert_eq!(check, "ok");
    assert_eq!(rows, 2);
}

/// Runs the linkd binary until it exits (at most 10 s): (exit code, stderr, time taken).
fn start_with_db(dir: &Path, db: &Path) -> (Option<i32>, String, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_linkd"))
        .env_clear()
        .env("BASE_URL", "http://127.0.0.1")
        .env("MEDIAMTX_HLS_BASE_URL", "http://127.0.0.1:9/live/stream")
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("DB_PATH", db)
        .env("RPC_SOCKET", dir.join("linkd.sock"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

/// Complements `cli.rs` (missing directory, junk file, foreign database): a damaged linkd
/// database, a directory where the file should be, a file linkd may not write, and rows it
/// cannot read. Each is refused at start with the path and the fix, and no socket is left.
/// A copy of `good` that linkd may not write, in a directory where no `-wal` file can be made
/// either (immutable even for root when chattr works, else read-only): (file, directory,
/// whether chattr made them immutable).
fn locked_database(dir: &Path, good: &Path) -> (std::path::PathBuf, std::path::PathBuf, bool) {
    let locked_dir = dir.join("locked");
    std::fs::create_dir(&locked_dir).unwrap();
    let locked = locked_dir.join("locked.sqlite");
    std::fs::copy(good, &locked).unwrap();
    let immutable = [&locked, &locked_dir].iter().all(|p| {
        Command::new("chattr")
            .arg("+i")
            .arg(p)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    if !immutable {
        for (p, mode) in [(&locked, 0o444), (&locked_dir, 0o555)] {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap();
        }
    }
    (locked, locked_dir, immutable)
}

/// A copy of `good` whose links table holds a row linkd cannot read (a token that is NULL).
fn unreadable_database(dir: &Path, good: &Path) -> std::path::PathBuf {
    let unreadable = dir.join("unreadable.sqlite");
    std::fs::copy(good, &unreadable).unwrap();
    {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let mut c =
            diesel::sqlite::SqliteConnection::establish(unreadable.to_str().unwrap()).unwrap();
        c.batch_execute(
            "PRAGMA journal_mode = DELETE; PRAGMA writable_schema = ON;
             UPDATE sqlite_master SET sql = replace(sql, 'token TEXT NOT NULL UNIQUE', 'token TEXT UNIQUE') WHERE name = 'watch_links';",
        )
        .unwrap();
    }
    {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let mut c =
            diesel::sqlite::SqliteConnection::establish(unreadable.to_str().unwrap()).unwrap();
        c.batch_execute(
            "INSERT INTO watch_links (token, enabled, created_at, note) VALUES (NULL, 1, 0, '')",
        )
        .unwrap();
    }
    unreadable
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_databases_are_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A real linkd database, then damaged in the middle.
    let good = dir.path().join("good.sqlite");
    let (d, g) = (dir.path().to_path_buf(), good.clone());
    let l = Linkd::start_in(dir.path(), move |c| {
        c.db_path = g;
        c.rpc_socket = d.join("first.sock");
    })
    .await;
    for _ in 0..50 {
        l.new_link(&["1h", "--note", &"x".repeat(150)]).await;
    }
    l.stop().await.unwrap();
    let damaged = dir.path().join("damaged.sqlite");
    let mut bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() >= 4 * 4096, "{}", bytes.len());
    for b in &mut bytes[4096..3 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    let as_dir = dir.path().join("a-directory.sqlite");
    std::fs::create_dir(&as_dir).unwrap();

    let (locked, locked_dir, immutable) = locked_database(dir.path(), &good);
    let unreadable = unreadable_database(dir.path(), &good);

    // (database, words the message must contain)
    let cases: [(&Path, &[&str]); 4] = [
        (
            &damaged,
            &["damaged.sqlite", "malformed", "restore a backup"],
        ),
        (&locked, &["locked.sqlite", "write"]),
        (&unreadable, &["unreadable.sqlite", "restore a backup"]),
        (
            &as_dir,
            &["a-directory.sqlite", "must be able to read and write"],
        ),
    ];
    let mut wrong = Vec::new();
    for (db, words) in cases {
        let before = std::fs::read(db).ok();
        let (code, err, took) = tokio::task::block_in_place(|| start_with_db(dir.path(), db));
        let missing: Vec<_> = words.iter().filter(|w| !err.contains(**w)).collect();
        if code != Some(1) || !missing.is_empty() || took > Duration::from_secs(6) {
            wrong.push(format!(
                "{}: exit {code:?} after {took:?}, missing {missing:?} in {err}",
                db.display()
            ));
        }
        // linkd's own database may be switched to WAL on open; any other file is left as it was.
        if db != unreadable.as_path() {
            assert!(std::fs::read(db).ok() == before, "{} changed", db.display());
        }
        if dir.path().join("linkd.sock").exists() {
            wrong.push(format!("{}: socket file left behind", db.display()));
            let _ = std::fs::remove_file(dir.path().join("linkd.sock"));
        }
    }
    for p in [&locked, &locked_dir] {
        if immutable {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
        let _ = std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A request frame of the socket's wire format (see `proto`).
fn frame(id: u64, message: &str) -> Vec<u8> {
    let json = format!(
        r#"{{"Request":{{"context":{{"deadline":{{"secs":10,"nanos":0}},"trace_context":{{"trace_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"span_id":1,"sampling_decision":"Unsampled"}}}},"id":{id},"message":{message}}}}}"#
    );
    let mut f = (json.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f
}

/// The wire format is what these tests think it is: one honest call over a raw socket.
async fn one_honest_raw_call(socket: &Path) {
    let mut s = tokio::net::UnixStream::connect(socket).await.unwrap();
    s.write_all(&frame(1, r#"{"Ping":{}}"#)).await.unwrap();
    let mut len = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("version"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_socket_abuse_leaves_linkd_answering_and_its_descriptors_return() {
    let dir = tempfile::tempdir().unwrap();
    let p = LinkdProcess::spawn(dir.path(), "http://127.0.0.1:9/live/stream", &[]).await;
    one_honest_raw_call(&p.socket).await;
    let status_ok = |what: &'static str| {
        let socket = p.socket.clone();
        async move {
            let t = Instant::now();
            let out = common::linkctl(&socket, &["--json", "status"]).await;
            assert_eq!(out.code, 0, "after {what}: {}", out.stderr);
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "status took {:?} after {what}",
                t.elapsed()
            );
        }
    };
    status_ok("start").await;
    let baseline = p.fds();

    // Garbage: random bytes, then a frame that claims 2 GiB. linkd hangs up on both.
    for junk in [
        (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
        vec![0x7f, 0xff, 0xff, 0xff, b'{'],
        frame(9, r#"{"NoSuchMethod":{"x":1}}"#),
    ] {
        let mut s = tokio::net::UnixStream::connect(&p.socket).await.unwrap();
        let _ = s.write_all(&junk).await;
        let mut buf = [0u8; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "linkd kept a garbage connection open");
    }
    status_ok("garbage").await;

    // Half a frame, then silence; and a client that sends many calls and never reads.
    let mut half = tokio::net::UnixStream::connect(&p.socket).await.unwrap();
    half.write_all(&[0, 0, 0, 100, b'{', b'"']).await.unwrap();
    let mut deaf = tokio::net::UnixStream::connect(&p.socket).await.unwrap();
    let mut many = Vec::new();
    for id in 0..5000 {
        many.extend(frame(id, r#"{"ListActive":{}}"#));
    }
    // linkd may stop reading once its answers back up; that is fine, but it must not stall.
    let _ = tokio::time::timeout(Duration::from_secs(3), deaf.write_all(&many)).await;
    status_ok("a half frame and a client that never reads").await;

    // 1,000 connect/disconnect cycles, some with a partial frame.
    for i in 0..1000u32 {
        let mut s = tokio::net::UnixStream::connect(&p.socket).await.unwrap();
        if i % 3 == 0 {
            let _ = s.write_all(&[0, 0, 1]).await;
        }
    }
    status_ok("1,000 connect/disconnect cycles").await;

    drop(half);
    drop(deaf);
    let pid = p.pid();
    wait_for(
        "linkd's open descriptors return to the baseline",
        Duration::from_secs(10),
        || async move { common::fd_count(pid) <= baseline + 2 },
    )
    .await;
    status_ok("the end").await;
    assert_eq!(p.stop().await, Some(0));
}
