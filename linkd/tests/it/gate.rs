//! The viewer's path without a browser: the watch page, the playback cookie and the `/play`
//! gate in front of a fake origin that behaves like MediaMTX (cookies, headers, path attacks,
//! disabled links, restarts, offline), over real HTTP on loopback.

use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::scene::in_front_of;
use crate::common::{get, raw_status, request, wait_for, Linkd};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_page_sets_a_session_cookie_that_is_not_the_token() {
    let (_d, l, _o) = in_front_of(Behaviour::default()).await;
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
    assert!(l.status("/assets/player.js", None).await == 404);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_that_do_not_play_get_a_page_that_says_why_and_no_cookie() {
    let (_d, l, _o) = in_front_of(Behaviour::default()).await;
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
    let (_d, l, o) = in_front_of(Behaviour::default()).await;
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
    let (_d, l, o) = in_front_of(Behaviour::default()).await;
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
    let (_d, l, o) = in_front_of(Behaviour::default()).await;
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
    o.assert_only_the_playlist_since(before);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_link_refuses_its_next_request() {
    let (_d, l, _o) = in_front_of(Behaviour::default()).await;
    let (id, token, _) = l.new_link(&["10m"]).await;
    let a = l.open(&token).await;
    let b = l.open(&token).await;
    assert_ne!(a, b, "each opening is its own session");
    for c in [&a, &b] {
        assert_eq!(l.status("/play/index.m3u8", Some(c)).await, 200);
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
            l.status("/play/index.m3u8", Some("watch_state=disabled"))
                .await,
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
    let l = Linkd::start_in_front_of(dir.path(), &origin).await;
    let (_, token, _) = l.new_link(&["1h"]).await;
    let cookie = l.open(&token).await;
    l.stop().await.unwrap();
    let l = Linkd::start_in_front_of(dir.path(), &origin).await;
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
    let (_d, l, o) = in_front_of(Behaviour::default()).await;
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
    let (_d, l, o) = in_front_of(Behaviour::default()).await;
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
