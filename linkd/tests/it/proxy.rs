//! The `/play` proxy towards the origin, over real HTTP on loopback against the fake MediaMTX:
//! shared fetches under linkd's own upstream session (never a viewer's), only the stream's
//! files, only harmless headers, and conditional and range requests answered from memory.

use crate::common::origin::{Behaviour, FakeOrigin, MEDIA_MODIFIED, SESSION_PAUSE};
use crate::common::scene::with_viewer;
use crate::common::{get, request, wait_for, Answer, Linkd};
use std::time::{Duration, Instant};

fn sessions() -> Behaviour {
    Behaviour {
        low_latency: true,
        sessions: true,
        ..Default::default()
    }
}

/// A viewer whose first media playlist made linkd open its upstream session at an origin
/// with sessions; and how many sessions the origin has opened by then.
async fn session_opened() -> (tempfile::TempDir, Linkd, FakeOrigin, String, u64) {
    let (d, l, o, cookie) = with_viewer(sessions()).await;
    assert_eq!(
        l.status("/play/video1_stream.m3u8", Some(&cookie)).await,
        200
    );
    let opened = o.state.sessions_opened();
    (d, l, o, cookie, opened)
}

/// The `session` query parameter of an upstream request.
fn session_of(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("session="))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_with_a_bogus_session_does_not_hold_up_the_others() {
    let (_d, l, o, mallory) = with_viewer(sessions()).await;
    let alice = {
        let (_, token, _) = l.new_link(&["10m"]).await;
        l.open(&token).await
    };
    // Mallory asks first for the next part with a session MediaMTX does not know.
    let (target, msn, part) = o.part_ahead(2);
    let file = format!("part{target}.mp4");
    let bogus = tokio::spawn({
        let url = l.url(&format!("/play/{file}?session=bogus&_HLS_msn=x"));
        let mallory = mallory.clone();
        async move { get(&url, Some(&mallory)).await.unwrap().status }
    });
    wait_for(
        "the origin is asked for the part",
        Duration::from_secs(5),
        || async { o.state.count(&file) > 0 },
    )
    .await;
    // Alice gets the same part, and the next blocking playlist, within normal time.
    let start = Instant::now();
    let r = get(&l.url(&format!("/play/{file}")), Some(&alice))
        .await
        .unwrap();
    assert_eq!((r.status, r.body_text()), (200, format!("MEDIA:{file}")));
    let p = get(
        &l.url(&format!(
            "/play/video1_stream.m3u8?_HLS_msn={msn}&_HLS_part={part}&session=bogus"
        )),
        Some(&alice),
    )
    .await
    .unwrap();
    assert_eq!(p.status, 200);
    assert!(
        start.elapsed() < SESSION_PAUSE,
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(bogus.await.unwrap(), 200);
    // Odd values are refused before the origin.
    for q in [
        "_HLS_msn=abc",
        "_HLS_part=1",
        "_HLS_msn=1&_HLS_msn=2",
        "_HLS_skip=no",
    ] {
        let r = get(
            &l.url(&format!("/play/video1_stream.m3u8?{q}")),
            Some(&mallory),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 400, "{q}");
    }
    // One upstream identity, linkd's, that no viewer ever sees.
    assert!(!p.body_text().contains("session="), "{}", p.body_text());
    let ids: std::collections::HashSet<_> = o
        .state
        .requests()
        .iter()
        .filter(|s| !s.path.ends_with("index.m3u8"))
        .map(|s| session_of(s.query.as_deref()).expect("every fetch carries linkd's session"))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(!ids.contains("bogus"));
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkd_renews_its_upstream_session_when_the_origin_forgets_it() {
    let (_d, l, o, cookie, opened) = session_opened().await;
    o.state.forget_sessions();
    // Answered after the origin's pause, with a new session, not an error.
    let r = get(&l.url("/play/seg1.mp4"), Some(&cookie)).await.unwrap();
    assert_eq!((r.status, r.body_text().as_str()), (200, "MEDIA:seg1.mp4"));
    assert_eq!(o.state.sessions_opened(), opened + 1, "one renewal");
    let r = get(&l.url("/play/seg2.mp4"), Some(&cookie)).await.unwrap();
    assert_eq!(r.status, 200);
    let last = o.state.requests().last().cloned().unwrap();
    assert!(last.path.ends_with("seg2.mp4"));
    assert!(session_of(last.query.as_deref()).is_some());
    assert_eq!(o.state.sessions_opened(), opened + 1, "the new one is kept");
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_opening_the_stream_do_not_open_a_mediamtx_session_each() {
    let (_d, l, o, cookie, opened) = session_opened().await;
    for _ in 0..5 {
        let r = get(&l.url("/play/index.m3u8"), Some(&cookie))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(!r.body_text().contains("session="), "{}", r.body_text());
        // Past the playlist's shared lifetime, so each is a new answer for the cache.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(o.state.sessions_opened(), opened, "a session per viewer");
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_streams_files_reach_the_origin() {
    let (_d, l, o, cookie) = with_viewer(Behaviour::default()).await;
    let before = o.state.requests().len();
    for path in [
        "/play/a/b/index.m3u8",
        "/play/live/other/index.m3u8",
        "/play/index.html",
        "/play/hls.min.js",
        "/play/favicon.ico",
        "/play/index",
        "/play/index.m3u8.bak",
    ] {
        let r = get(&l.url(path), Some(&cookie)).await.unwrap();
        assert_eq!(r.status, 400, "{path}");
        assert_policies(path, &r);
    }
    o.assert_only_the_playlist_since(before);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_origins_session_redirect_is_followed() {
    let (_d, l, o, cookie) = with_viewer(Behaviour::default()).await;
    let refused = [
        "/live/stream/../../etc/passwd.mp4?cookieCheck=1",
        "/live/stream/%2e%2e/x.mp4?cookieCheck=1",
        "/live/stream/.%2e/x.mp4?cookieCheck=1",
        "/live/stream/%5c..%5cx.mp4?cookieCheck=1",
        "/live/stream/a/b.mp4?cookieCheck=1",
        "/live/other/x.mp4?cookieCheck=1",
        "//elsewhere.invalid/live/stream/x.mp4?cookieCheck=1",
        "/live/stream/x.mp4",
    ];
    for (n, location) in refused.iter().enumerate() {
        *o.state.redirect.lock().unwrap() = Some(location.to_string());
        let file = format!("seg{}.mp4", 100 + n);
        let r = get(&l.url(&format!("/play/{file}")), Some(&cookie))
            .await
            .unwrap();
        assert_eq!(r.status, 502, "{location}");
        assert_policies(location, &r);
        // Nothing but the file itself (and the probe's playlists) was asked.
        let last = o
            .state
            .requests()
            .into_iter()
            .rfind(|s| !s.path.ends_with(".m3u8"))
            .map(|s| s.path);
        assert_eq!(
            last,
            Some(format!("/live/stream/{file}")),
            "{location}: followed"
        );
    }
    // MediaMTX's own: followed.
    *o.state.redirect.lock().unwrap() = Some("/live/stream/seg7.mp4?cookieCheck=1".into());
    let r = get(&l.url("/play/seg200.mp4"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!((r.status, r.body_text().as_str()), (200, "MEDIA:seg7.mp4"));
    l.stop().await.unwrap();
}

/// The headers every `/play` answer carries.
fn assert_policies(what: &str, r: &Answer) {
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some("sandbox; default-src 'none'"),
        "{what}"
    );
    let cc = r.header("cache-control").unwrap_or_default();
    assert!(cc.contains("private"), "{what}: cache-control {cc:?}");
    let ctype = r.header("content-type").unwrap_or_default();
    assert!(!ctype.contains("html"), "{what}: {ctype}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_answers_have_linkds_type_and_policies_whatever_the_origin_says() {
    let (_d, l, o, cookie) = with_viewer(Behaviour::default()).await;
    // (path, status, content type)
    let cases = [
        ("/play/index.m3u8", 200, "application/vnd.apple.mpegurl"),
        ("/play/seg4.mp4", 200, "video/mp4"),
        // The origin calls it text/html and sends a script.
        ("/play/subs.vtt", 200, "text/vtt; charset=utf-8"),
        ("/play/nothing.m4s", 404, "text/plain; charset=utf-8"),
    ];
    for (path, status, ctype) in cases {
        let r = get(&l.url(path), Some(&cookie)).await.unwrap();
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("content-type").as_deref(), Some(ctype), "{path}");
        assert_policies(path, &r);
        for gone in [
            "set-cookie",
            "server",
            "x-powered-by",
            "access-control-allow-origin",
        ] {
            assert!(r.header(gone).is_none(), "{path}: {gone}");
        }
    }
    let refused = get(&l.url("/play/seg4.mp4"), None).await.unwrap();
    assert_eq!(refused.status, 403);
    assert_policies("403", &refused);
    let state = get(&l.url("/play/_session"), Some(&cookie)).await.unwrap();
    assert_policies("/play/_session", &state);
    // The watch page and error pages keep their own headers.
    for path in ["/live/stream/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/nothing"] {
        let r = get(&l.url(path), None).await.unwrap();
        for h in [
            "x-frame-options",
            "permissions-policy",
            "cross-origin-opener-policy",
            "cross-origin-resource-policy",
        ] {
            assert!(r.header(h).is_some(), "{path}: {h}");
        }
    }
    drop(o);
    wait_for("the origin is gone", Duration::from_secs(5), || async {
        get(&l.url("/play/seg9.mp4"), Some(&cookie))
            .await
            .is_ok_and(|r| r.status == 502)
    })
    .await;
    let r = get(&l.url("/play/seg9.mp4"), Some(&cookie)).await.unwrap();
    assert_policies("502", &r);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_and_range_requests_are_answered_from_the_cache() {
    let (_d, l, o, cookie) = with_viewer(Behaviour::default()).await;
    let url = l.url("/play/seg5.mp4");
    let whole = get(&url, Some(&cookie)).await.unwrap();
    assert_eq!(
        (whole.status, whole.body_text().as_str()),
        (200, "MEDIA:seg5.mp4")
    );
    assert_eq!(whole.header("accept-ranges").as_deref(), Some("bytes"));
    let etag = whole.header("etag").expect("the origin's validator");
    assert_eq!(
        whole.header("last-modified").as_deref(),
        Some(MEDIA_MODIFIED)
    );
    let at = |h: &'static str, v: &str| (h, v.to_string());
    // (headers, status, body, Content-Range)
    let cases = [
        (vec![at("if-none-match", &etag)], 304, "", None),
        (
            vec![at("if-none-match", "\"other\"")],
            200,
            "MEDIA:seg5.mp4",
            None,
        ),
        (vec![at("if-modified-since", MEDIA_MODIFIED)], 304, "", None),
        (
            vec![at("range", "bytes=0-3")],
            206,
            "MEDI",
            Some("bytes 0-3/14"),
        ),
        (
            vec![at("range", "bytes=-4")],
            206,
            ".mp4",
            Some("bytes 10-13/14"),
        ),
        (vec![at("range", "bytes=20-")], 416, "", Some("bytes */14")),
        (
            vec![at("range", "bytes=0-3"), at("if-range", &etag)],
            206,
            "MEDI",
            Some("bytes 0-3/14"),
        ),
        (
            vec![at("range", "bytes=0-3"), at("if-range", "\"old\"")],
            200,
            "MEDIA:seg5.mp4",
            None,
        ),
    ];
    for (headers, status, body, range) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = request("GET", &url, Some(&cookie), &h).await.unwrap();
        assert_eq!(r.status, status, "{h:?}");
        assert_eq!(r.body_text(), body, "{h:?}");
        assert_eq!(r.header("content-range").as_deref(), range, "{h:?}");
        assert_policies("conditional", &r);
    }
    let head = request("HEAD", &url, Some(&cookie), &[("range", "bytes=0-3")])
        .await
        .unwrap();
    assert_eq!((head.status, head.body.len()), (206, 0));
    assert_eq!(head.header("content-length").as_deref(), Some("4"));
    assert_eq!(o.state.count("seg5.mp4"), 1, "all from one fetch");
    l.stop().await.unwrap();
}
