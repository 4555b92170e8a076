//! Many idle keep-alive connections at once: linkd holds 2,000 of them (fewer if the file
//! descriptor limit cannot make room) while a viewer keeps getting its playlist quickly, the
//! held connections still answer, and linkd's descriptors return when they close.

mod common;

use common::origin::{Behaviour, FakeOrigin};
use common::{fd_count, get, wait_for, Linkd};
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

    let mut held = Vec::with_capacity(n);
    while held.len() < n {
        let batch = (n - held.len()).min(200);
        let addr = l.addr;
        let opened = futures::future::join_all((0..batch).map(|_| async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            assert!(healthz(&mut s).await, "a new connection was not served");
            s
        }))
        .await;
        held.extend(opened);
    }
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
