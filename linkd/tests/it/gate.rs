//! The viewer's path without a browser: the watch page, the playback cookie and the `/play`
//! gate in front of a fake origin that behaves like MediaMTX (classic and LL-HLS, 1.17 and
//! 1.18+ sessions, reader auth, offline), over real HTTP on loopback.

use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{get, raw_status, request, wait_for, Linkd};
use std::time::{Duration, Instant};

async fn setup(b: Behaviour) -> (tempfile::TempDir, Linkd, FakeOrigin) {
    let origin = FakeOrigin::start(b).await;
    let base = origin.base_url();
    let (dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.probe_interval = Duration::from_millis(200);
    })
    .await;
    (dir, l, origin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_page_sets_a_session_cookie_that_is_not_the_token() {
    let (_d, l, _o) = setup(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m", "--note", "for <b>you</b>"]).await;
    let r = get(&l.url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // The note is the operator's private label; viewers see the stream's title.
    let page = r.body_text();
    assert!(
        !page.contains("you</b>") && !page.contains("you&lt;"),
        "{page}"
    );
    assert!(
        page.contains("<h1 class=\"title\">Live stream</h1>"),
        "{page}"
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("watch_session="), "{cookie}");
    assert!(
        !cookie.contains(&token),
        "the cookie must not carry the token"
    );
    for attr in ["Path=/play/", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "COOKIE_SECURE=false in this test"
    );
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (59..=60).contains(&max_age),
        "a short-lived session, renewed while the page is open: {max_age}"
    );
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(r.header("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(r.header("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(r.header("cache-control").unwrap(), "no-store");
    let html = r.body_text();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(html.contains("/play/index.m3u8"));
    // Its assets are served with a long cache.
    let js = html
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2F;", "/");
    let a = get(&l.url(&js), None).await.unwrap();
    assert_eq!(a.status, 200);
    assert!(a.header("cache-control").unwrap().contains("immutable"));
    assert!(get(&l.url("/assets/player.js"), None).await.unwrap().status == 404);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_that_do_not_play_get_a_page_that_says_why_and_no_cookie() {
    let (_d, l, _o) = setup(Behaviour::default()).await;
    let (id, off_token, _) = l.new_link(&["10m"]).await;
    l.linkctl(&["off", &id.to_string()]).await;
    // (path, status, words)
    let cases = [
        (format!("/live/stream/{off_token}"), 410, "switched off"),
        (
            "/live/stream/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
            404,
            "not valid",
        ),
        ("/live/stream/short".to_string(), 404, "not valid"),
        ("/live/stream/".to_string(), 404, "not valid"),
        ("/nothing-here".to_string(), 404, "Page not found"),
    ];
    for (path, status, words) in cases {
        let r = get(&l.url(&path), None).await.unwrap();
        assert_eq!(r.status, status, "{path}");
        assert!(r.header("set-cookie").is_none(), "{path}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.body_text().contains(words), "{path}: {}", r.body_text());
    }
    let post = request(
        "POST",
        &l.url(&format!("/live/stream/{off_token}")),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(post.status, 405);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_is_refused_without_a_valid_cookie_and_never_reaches_the_origin() {
    let (_d, l, o) = setup(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let good = l.open(&token).await;
    let value = good.strip_prefix("watch_session=").unwrap();
    let mut tampered = value.as_bytes().to_vec();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = format!("watch_session={}", String::from_utf8(tampered).unwrap());
    let before = o.state.count("index.m3u8");
    let bad_cookies = [
        None,
        Some(format!("watch_session={token}")),
        Some(tampered),
        Some(format!("watch_session={}", &value[..value.len() - 2])),
        Some(
            "watch_session=v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"
                .into(),
        ),
    ];
    for c in &bad_cookies {
        let r = get(&l.url("/play/index.m3u8"), c.as_deref()).await.unwrap();
        assert_eq!(r.status, 403, "{c:?}");
        let clear = r.header("set-cookie").unwrap();
        assert!(
            clear.contains("Max-Age=0") && clear.contains("Path=/play/"),
            "{clear}"
        );
    }
    assert_eq!(
        o.state.count("index.m3u8"),
        before,
        "refused requests reached the origin"
    );
    let ok = get(&l.url("/play/index.m3u8"), Some(&good)).await.unwrap();
    assert_eq!(ok.status, 200);
    assert!(ok.body_text().starts_with("#EXTM3U"));
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_requests_carry_only_allowed_headers_and_answers_are_cleaned() {
    let (_d, l, o) = setup(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = format!("{}; other=1", l.open(&token).await);
    let r = request(
        "GET",
        &l.url("/play/seg3.mp4?_HLS_msn=3&_HLS_part=1&x=%41&session=bogus"),
        Some(&cookie),
        &[
            ("authorization", "Bearer viewer-secret"),
            ("range", "bytes=0-3"),
            ("user-agent", "iPhone"),
        ],
    )
    .await
    .unwrap();
    // The range is answered by linkd from the whole file.
    assert_eq!(r.status, 206);
    assert_eq!(r.body_text(), "MEDI");
    for gone in [
        "set-cookie",
        "server",
        "access-control-allow-origin",
        "x-powered-by",
    ] {
        assert!(r.header(gone).is_none(), "{gone} passed through");
    }
    assert_eq!(r.header("x-ready-us").unwrap(), "4321");
    assert_eq!(r.header("cache-control").unwrap(), "private, max-age=3600");
    assert_eq!(r.header("content-type").unwrap(), "video/mp4");
    let seen = o
        .state
        .requests()
        .into_iter()
        .find(|s| s.path.ends_with("seg3.mp4"))
        .unwrap();
    assert_eq!(seen.path, "/live/stream/seg3.mp4");
    assert_eq!(
        seen.query, None,
        "a media file is asked without the viewer's query"
    );
    assert!(
        seen.headers.get("cookie").is_none(),
        "viewer cookies forwarded"
    );
    assert!(
        seen.headers.get("authorization").is_none(),
        "viewer authorization forwarded"
    );
    assert!(seen.headers.get("user-agent").is_none());
    assert!(
        seen.headers.get("range").is_none(),
        "shared fetches are whole"
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_attacks_are_refused_before_the_origin() {
    let (_d, l, o) = setup(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let before = o.state.requests().len();
    let long = format!("/play/{}", "a".repeat(700));
    let attacks = [
        "/play/../../etc/passwd",
        "/play/%2e%2e/%2e%2e/etc/passwd",
        "/play/%2E%2E%2Fetc%2Fpasswd",
        "/play/%252e%252e/etc/passwd",
        "/play/..%5c..%5cwindows",
        "/play/a//b",
        "/play/./index.m3u8",
        "/play/.hidden",
        "/play/index.m3u8%00",
        "/play/a%20b",
        "/play/",
        &long,
        "/play/index.m3u8?x=<script>",
    ];
    for a in attacks {
        let req =
            format!("GET {a} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
        let status = raw_status(l.addr, req.as_bytes()).await;
        assert!(
            matches!(status, Some(400) | Some(404) | Some(414) | Some(431)),
            "{a}: {status:?}"
        );
    }
    let abs = format!("GET http://evil.example/play/index.m3u8 HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    let status = raw_status(l.addr, abs.as_bytes()).await;
    assert_ne!(status, Some(200));
    let seen: Vec<_> = o.state.requests()[before..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert!(
        seen.iter().all(|p| p == "/live/stream/index.m3u8"),
        "refused paths reached the origin: {seen:?}"
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_link_refuses_its_next_request() {
    let (_d, l, _o) = setup(Behaviour::default()).await;
    let (id, token, _) = l.new_link(&["10m"]).await;
    let a = l.open(&token).await;
    let b = l.open(&token).await;
    assert_ne!(a, b, "each opening is its own session");
    for c in [&a, &b] {
        assert_eq!(
            get(&l.url("/play/index.m3u8"), Some(c))
                .await
                .unwrap()
                .status,
            200
        );
    }
    let list = l.linkctl(&["--json", "list"]).await.json();
    assert_eq!(list[0]["viewers"], 2);
    assert_eq!(l.linkctl(&["off", &id.to_string()]).await.code, 0);
    for c in [&a, &b] {
        let r = get(&l.url("/play/index.m3u8"), Some(c)).await.unwrap();
        assert_eq!(r.status, 403);
        assert_eq!(r.header("x-link-state").unwrap(), "disabled");
        let set: Vec<_> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            set.iter()
                .any(|v| v.starts_with("watch_session=;") && v.contains("Max-Age=0")),
            "{set:?}"
        );
        assert!(
            set.iter().any(|v| v.starts_with("watch_state=disabled")),
            "{set:?}"
        );
        // After the credential is cleared the page can still say why.
        let s = get(&l.url("/play/_session"), Some("watch_state=disabled"))
            .await
            .unwrap();
        assert_eq!(s.status, 403);
        let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["state"], "disabled");
        assert_eq!(
            get(&l.url("/play/index.m3u8"), Some("watch_state=disabled"))
                .await
                .unwrap()
                .status,
            403
        );
        let s = get(&l.url("/play/_session"), Some(c)).await.unwrap();
        assert_eq!(s.status, 403);
        let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["state"], "disabled");
    }
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_of_linkd() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let base = origin.base_url();
    let b2 = base.clone();
    let l = Linkd::start_in(dir.path(), move |c| c.mediamtx_hls_base_url = b2).await;
    let (_, token, _) = l.new_link(&["1h"]).await;
    let cookie = l.open(&token).await;
    l.stop().await.unwrap();
    let l = Linkd::start_in(dir.path(), move |c| c.mediamtx_hls_base_url = base).await;
    let r = get(&l.url("/play/index.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let s = get(&l.url("/play/_session"), Some(&cookie)).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(v["state"], "active");
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_down_is_a_quick_502_and_offline_is_a_404() {
    let (_d, l, o) = setup(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    o.set_live(false);
    let r = get(&l.url("/play/index.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    drop(o);
    // Nothing listens on the origin's port any more.
    let start = Instant::now();
    wait_for(
        "the origin's port is closed",
        Duration::from_secs(5),
        || async {
            get(&l.url("/play/index.m3u8"), Some(&cookie))
                .await
                .map(|r| r.status == 502)
                .unwrap_or(false)
        },
    )
    .await;
    assert!(start.elapsed() < Duration::from_secs(5));
    let r = get(&l.url("/play/index.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert!(r.body_text().len() < 200);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_like_get_without_a_body() {
    let (_d, l, o) = setup(Behaviour::default()).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let r = request("HEAD", &l.url("/play/seg1.mp4"), Some(&cookie), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let seen = o
        .state
        .requests()
        .into_iter()
        .rev()
        .find(|s| s.path.ends_with("seg1.mp4"))
        .unwrap();
    assert_eq!(
        seen.method, "GET",
        "origins like MediaMTX answer HEAD with 404"
    );
    l.stop().await.unwrap();
}

/// linkd in front of a fake LL-HLS origin, and one viewer's playback cookie.
async fn ll_viewer() -> (tempfile::TempDir, Linkd, FakeOrigin, String) {
    let (d, l, o) = setup(Behaviour {
        low_latency: true,
        ..Default::default()
    })
    .await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    (d, l, o, cookie)
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
    let (_d, l, o) = setup(Behaviour {
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
    assert_eq!(
        get(&l.url("/play/index.m3u8"), Some(&cookie))
            .await
            .unwrap()
            .status,
        200
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_status_follows_the_origin() {
    let (_d, l, o) = setup(Behaviour::default()).await;
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
    let (_d, l, _o) = setup(Behaviour::default()).await;
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
    let m = get(&format!("http://{}/metrics", l.metrics.unwrap()), None)
        .await
        .unwrap();
    assert_eq!(m.status, 200);
    let text = m.body_text();
    let value = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        value("tempstream_coalesced_waiters_total") + value("tempstream_cache_hits_total") >= 198
    );
    assert!(value("tempstream_upstream_fetches_total") < 20);
    assert!(text.contains("tempstream_http_requests_total{route=\"play\",status=\"200\"}"));
    assert!(text.contains("tempstream_viewers{link_id="));
    assert!(
        get(&l.url("/metrics"), None).await.unwrap().status == 404,
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
