//! Many idle keep-alive connections at once: linkd holds 2,000 of them (fewer if the file
//! descriptor limit cannot make room) while a viewer keeps getting its playlist quickly, the
//! held connections still answer, and linkd's descriptors return when they close.
//! And the linkd binary's memory follows waves of such connections back down, and its runtime
//! follows the CPUs it may use.

#[path = "it/common/mod.rs"]
mod common;

use common::origin::{Behaviour, FakeOrigin};
use common::{fd_count, get, rss_kib, wait_for, Linkd, LinkdProcess};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WANTED: usize = 2000;

/// `(soft, hard)` limits on open files of this process, from `/proc/self/limits`.
fn nofile() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums.get(1).copied().unwrap_or(nums[0]))
}

/// Connections this test can hold: every one costs two descriptors here (client and linkd's
/// side, both in this process). Raises the soft limit to the hard one with prlimit(1) when it
/// is too low and the tool is there.
fn connections_we_can_hold() -> usize {
    let (soft, hard) = nofile();
    if soft < (WANTED as u64) * 2 + 500 && hard > soft {
        let _ = std::process::Command::new("prlimit")
            .arg("--pid")
            .arg(std::process::id().to_string())
            .arg(format!("--nofile={hard}:{hard}"))
            .output();
    }
    let (soft, _) = nofile();
    WANTED.min((soft.saturating_sub(500) / 2) as usize)
}

/// One keep-alive request on `s`; true on a 200 whose body was read.
async fn healthz(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !buf.ends_with(b"\r\n\r\nok") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    })
    .await;
    read.unwrap_or(false) && buf.starts_with(b"HTTP/1.1 200")
}

/// Opens `n` keep-alive connections to `addr`, each served one request, 200 at a time.
async fn hold(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    while held.len() < n {
        let batch = (n - held.len()).min(200);
        let opened = futures::future::join_all((0..batch).map(|_| async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            assert!(healthz(&mut s).await, "a new connection was not served");
            s
        }))
        .await;
        held.extend(opened);
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_slow_a_viewer() {
    let n = connections_we_can_hold();
    assert!(
        n >= 500,
        "the descriptor limit leaves room for only {n} connections"
    );
    let start = Instant::now();
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let base = origin.base_url();
    let (_d, l) = Linkd::start(move |c| c.mediamtx_hls_base_url = base).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let me = std::process::id();
    let baseline = fd_count(me);

    let mut held = hold(l.addr, n).await;
    let opened_in = start.elapsed();

    // The viewer, with all of them idle.
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        let r = get(&l.url("/play/index.m3u8"), Some(&cookie))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        slowest = slowest.max(t.elapsed());
    }
    assert!(slowest < Duration::from_secs(1), "slowest play {slowest:?}");
    // Held connections are still served (spread over the whole set).
    for s in held.iter_mut().step_by((n / 100).max(1)) {
        assert!(healthz(s).await, "a held keep-alive connection was dropped");
    }

    drop(held);
    wait_for(
        "descriptors return near the baseline",
        Duration::from_secs(10),
        || async move { fd_count(me) <= baseline + 20 },
    )
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{n} connections took {:?} (opened in {opened_in:?})",
        start.elapsed()
    );
    l.stop().await.unwrap();
}

/// Threads of process `pid` by name.
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Waves of connections with links created while they are open: small allocations that live
/// on between the freed connection buffers, the pattern that kept pages resident. The real
/// linkd binary's resident memory must come back near where it started, and the allocator's
/// background thread that hands pages back must be running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_comes_back_down_after_waves_of_connections() {
    const WAVES: usize = 6;
    const LINKS_PER_WAVE: usize = 100;
    let n = connections_we_can_hold();
    assert!(
        n >= 500,
        "the descriptor limit leaves room for only {n} connections"
    );
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = LinkdProcess::spawn(dir.path(), &origin.base_url(), &[]).await;
    let pid = p.pid();
    wait_for(
        "jemalloc's background thread runs in linkd",
        Duration::from_secs(5),
        || async move {
            thread_names(pid)
                .iter()
                .any(|n| n.starts_with("jemalloc_bg"))
        },
    )
    .await;
    let rpc = proto::connect(&p.socket).await.unwrap();
    // The baseline after one small round of everything, so lazily built state is in it.
    drop(hold(p.addr, 10).await);
    rpc.create_link(tarpc::context::current(), Some("1h".into()), None)
        .await
        .unwrap()
        .unwrap();
    let baseline = rss_kib(pid);

    let mut peak = 0;
    for wave in 0..WAVES {
        let held = hold(p.addr, n).await;
        for i in 0..LINKS_PER_WAVE {
            rpc.create_link(
                tarpc::context::current(),
                Some("1h".into()),
                Some(format!("wave {wave} link {i}")),
            )
            .await
            .unwrap()
            .unwrap();
        }
        peak = peak.max(rss_kib(pid));
        drop(held);
    }
    let grew = peak.saturating_sub(baseline);
    assert!(
        grew > 8 * 1024,
        "{n} connections should cost more than 8 MiB (baseline {baseline} KiB, peak {peak} KiB)"
    );
    // Back within a quarter of the growth (descriptors close at once; pages go back within
    // jemalloc's one-second decay).
    let allowed = baseline + grew / 4;
    wait_for(
        "resident memory comes back down",
        Duration::from_secs(15),
        || async move { rss_kib(pid) <= allowed },
    )
    .await;
    assert_eq!(p.stop().await, Some(0));
}

/// On one CPU linkd runs a current-thread runtime (one FIFO run queue, so busy connections are
/// served in turn), on more the multi-thread one; the ready line says which, and it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_follows_the_cpus_linkd_may_use() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cases = vec![("0", "CurrentThread", 1)];
    if cpus >= 2 {
        cases.push(("0,1", "MultiThread", 2));
    }
    for (set, flavour, workers) in cases {
        let dir = tempfile::tempdir().unwrap();
        let p = LinkdProcess::spawn_on(dir.path(), &origin.base_url(), &[], Some(set)).await;
        let ready = p
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("linkd ready"))
            .cloned()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
        assert_eq!(v["runtime"], flavour, "on CPUs {set}: {ready}");
        assert_eq!(v["workers"], workers, "on CPUs {set}: {ready}");
        let r = get(&p.url("/healthz"), None).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(p.stop().await, Some(0));
    }
}
