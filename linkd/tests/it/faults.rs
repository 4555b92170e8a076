//! linkd when things around it fail: the origin down or killed and restarted, linkd itself
//! stopped with SIGTERM or SIGKILL (sessions and links survive, the database stays intact),
//! and shutdown with requests in flight. Real processes, sockets and files throughout.

use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{free_port, get, wait_for, Linkd, LinkdProcess};
use std::path::Path;
use std::time::{Duration, Instant};

/// `/play/index.m3u8` with `cookie`, as a status (0 when the request itself failed).
pub(super) async fn play_status(url: &str, cookie: &str) -> u16 {
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
    let (_d, l) = Linkd::start_before(base).await;
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
    origin.until_held().await;
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

pub(super) fn integrity_check(db: &Path) -> (String, i64) {
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
    origin.until_held().await;
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
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = hung.accept().await {
            conns.push(c);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (_dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.probe_interval = Duration::from_millis(100);
        c.shutdown_grace = Duration::from_secs(1);
    })
    .await;
    wait_for(
        "the probe is stuck on the silent origin",
        Duration::from_secs(5),
        || {
            let n = accepted.load(std::sync::atomic::Ordering::SeqCst);
            async move { n >= 1 }
        },
    )
    .await;
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
