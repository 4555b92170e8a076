//! linkd when its files and socket misbehave: storage that stops accepting writes,
//! unusable database files, and abuse of the RPC socket. Real processes and files.

use super::faults::{integrity_check, play_status};
use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{wait_for, Linkd, LinkdProcess};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
