//! The `/play` gate against harder origins: LL-HLS blocking reloads, MediaMTX sessions,
//! reader credentials, live status, bad-token rate limits and shared upstream fetches.

use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::scene::{in_front_of, with_viewer};
use crate::common::{get, sample, wait_for, Linkd};
use std::time::{Duration, Instant};

/// linkd in front of a fake LL-HLS origin, and one viewer's playback cookie.
async fn ll_viewer() -> (tempfile::TempDir, Linkd, FakeOrigin, String) {
    with_viewer(Behaviour {
        low_latency: true,
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_blocking_reloads_wait_for_the_origin() {
    let (_d, l, o, cookie) = ll_viewer().await;
    let mv = get(&l.url("/play/index.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert!(mv.body_text().contains("video1_stream.m3u8"));
    // Ask for a part about 0.9 s in the future: the answer must wait for it.
    let (target, msn, part) = o.part_ahead(9);
    let start = Instant::now();
    let r = get(
        &l.url(&format!(
            "/play/video1_stream.m3u8?_HLS_msn={msn}&_HLS_part={part}"
        )),
        Some(&cookie),
    )
    .await
    .unwrap();
    let waited = start.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        waited >= Duration::from_millis(700),
        "answered too early: {waited:?}"
    );
    let body = r.body_text();
    assert!(
        body.contains(&format!("part{target}.mp4")) || body.contains(&format!("seg{msn}.mp4")),
        "the awaited part is in the playlist: {body}"
    );
    assert_eq!(r.header("x-ready-us").unwrap(), "1234");
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediamtx_sessions_stay_with_linkd_and_a_gone_stream_is_offline() {
    let (_d, l, o) = in_front_of(Behaviour {
        low_latency: true,
        sessions: true,
        ..Default::default()
    })
    .await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let mv = get(&l.url("/play/index.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(
        mv.status, 200,
        "the 302 to cookieCheck=1 is followed by linkd"
    );
    assert!(
        mv.header("set-cookie").is_none(),
        "origin cookies never reach viewers"
    );
    let body = mv.body_text();
    assert!(!body.contains("session="), "{body}");
    assert!(body.lines().any(|l| l == "video1_stream.m3u8"), "{body}");
    let r = get(&l.url("/play/video1_stream.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.body_text().contains("session="), "{}", r.body_text());
    assert!(o
        .state
        .requests()
        .iter()
        .all(|s| s.headers.get("cookie").is_none()));
    // The probe keeps one session instead of opening one every interval.
    let opened = o.state.sessions_opened();
    tokio::time::sleep(Duration::from_millis(1200)).await; // six probe intervals pass
    assert!(
        o.state.sessions_opened() <= opened + 1,
        "probe opened a session per interval"
    );
    // A gone stream: MediaMTX says 401 (after its pause); a viewer sees "offline", not a
    // password prompt.
    o.set_live(false);
    let r = get(&l.url("/play/video1_stream.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert!(r.header("www-authenticate").is_none());
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_credentials_are_sent_to_the_origin() {
    let b = Behaviour {
        auth: Some("Basic cmVhZGVyOnMzY3JldA==".into()),
        ..Default::default()
    };
    let origin = FakeOrigin::start(b).await;
    let base = origin.base_url();
    let (_d, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.mediamtx_read_user = Some("reader".into());
        c.mediamtx_read_password = Some(linkd::testing::Secret::new("s3cret"));
    })
    .await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    assert_eq!(l.status("/play/index.m3u8", Some(&cookie)).await, 200);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_status_follows_the_origin() {
    let (_d, l, o) = in_front_of(Behaviour::default()).await;
    let live = |want: bool| {
        let socket = l.socket.clone();
        async move {
            let c = common::linkctl(&socket, &["--json", "status"]).await.json();
            c["live"] == want
        }
    };
    wait_for("status says live", Duration::from_secs(5), || live(true)).await;
    o.set_live(false);
    wait_for("status says offline", Duration::from_secs(5), || {
        live(false)
    })
    .await;
    let s = l.linkctl(&["--json", "status"]).await.json();
    assert!(s["live_since"].is_null(), "offline: {s}");
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_rate_limited_per_client_without_hurting_valid_viewers() {
    let (_d, l, _o) = in_front_of(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let mut statuses = Vec::new();
    for i in 0..25 {
        let r = get(&l.url(&format!("/live/stream/{:032}", i)), None)
            .await
            .unwrap();
        statuses.push(r.status);
    }
    assert!(statuses[..20].iter().all(|s| *s == 404), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = get(&l.url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    assert_eq!(
        r.status, 429,
        "the same client is slowed down for every link"
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_viewers_cost_one_upstream_fetch_per_part_and_per_blocking_playlist() {
    let origin = FakeOrigin::start(Behaviour {
        low_latency: true,
        ..Default::default()
    })
    .await;
    let base = origin.base_url();
    let (_d, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let mut cookies = Vec::new();
    for _ in 0..100 {
        cookies.push(l.open(&token).await);
    }
    for viewers in [1usize, 100] {
        let (target, msn, part) = origin.part_ahead(3);
        let playlist = format!("video1_stream.m3u8?_HLS_msn={msn}&_HLS_part={part}");
        let file = format!("part{target}.mp4");
        let mut tasks = Vec::new();
        for c in cookies.iter().take(viewers) {
            let (p, f, c, url) = (playlist.clone(), file.clone(), c.clone(), l.url(""));
            tasks.push(tokio::spawn(async move {
                // Each viewer on its own connection (a new client per request).
                let a = get(&format!("{url}/play/{p}"), Some(&c)).await.unwrap();
                let b = get(&format!("{url}/play/{f}"), Some(&c)).await.unwrap();
                (a.status, b.status, b.body)
            }));
        }
        for t in tasks {
            let (a, b, body) = t.await.unwrap();
            assert_eq!((a, b), (200, 200));
            assert_eq!(body, format!("MEDIA:{file}"));
        }
        let seen = origin.state.requests();
        let fetched = |name: &str| {
            seen.iter()
                .filter(|s| {
                    format!("{}?{}", s.path, s.query.clone().unwrap_or_default()).ends_with(name)
                        || s.path.ends_with(name)
                })
                .count()
        };
        assert_eq!(
            fetched(&playlist),
            1,
            "{viewers} viewers: blocking playlist fetched more than once"
        );
        assert_eq!(
            fetched(&file),
            1,
            "{viewers} viewers: part fetched more than once"
        );
    }
    let text = l.metrics_page().await;
    let value = |name: &str| sample(&text, name);
    assert!(
        value("tempstream_coalesced_waiters_total") + value("tempstream_cache_hits_total") >= 198
    );
    assert!(value("tempstream_upstream_fetches_total") < 20);
    assert!(text.contains("tempstream_http_requests_total{route=\"play\",status=\"200\"}"));
    assert!(text.contains("tempstream_viewers{link_id="));
    assert!(
        l.status("/metrics", None).await == 404,
        "not on the public listener"
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_goes_away_cancels_its_upstream_request() {
    let (_d, l, o, cookie) = ll_viewer().await;
    // About 1 s ahead: the origin holds the request until then.
    let (_, msn, part) = o.part_ahead(9);
    let req = format!(
        "GET /play/video1_stream.m3u8?_HLS_msn={msn}&_HLS_part={part} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"
    );
    let mut s = tokio::net::TcpStream::connect(l.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
        .await
        .unwrap();
    wait_for(
        "the origin holds the request",
        Duration::from_secs(5),
        || async {
            o.state.requests().iter().any(|r| {
                r.query
                    .as_deref()
                    .is_some_and(|q| q.contains(&format!("_HLS_msn={msn}&")))
            })
        },
    )
    .await;
    drop(s);
    wait_for(
        "the origin sees the request abandoned",
        Duration::from_millis(800),
        || async {
            o.state
                .abandoned_waits
                .load(std::sync::atomic::Ordering::SeqCst)
                == 1
        },
    )
    .await;
    l.stop().await.unwrap();
}
