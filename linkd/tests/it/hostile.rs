//! Hostile input: generated attacks on the parsers a stranger can reach (the `/play` path
//! sanitiser, the session cookie, TTLs and notes, the configuration), malformed and
//! smuggling-shaped HTTP over raw TCP, a slowloris client, and token guessing next to a
//! viewer who must keep playing.

use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{get, raw_status, request, Linkd};
use linkd::testing::Sessions;

fn token() -> linkd::testing::Token {
    linkd::testing::Token::parse("3q2-7wEHQWq9Yyb4Cq1c0Zp7cTbfS5rV").unwrap()
}
use proptest::prelude::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Strings made mostly of the characters attacks are made of.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9./%\\\\_:@?#;= -]{0,40}",
        "(%[0-9a-fA-F]{2}|%25|%2e|%2f|%5c|\\.\\.|/|\\\\|[a-z]{1,4}|\\.)*",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sanitized_paths_are_plain_relative_file_names(raw in hostile_text()) {
        if let Ok(p) = linkd::testing::sanitize(&raw) {
            prop_assert!(!p.contains(".."), "{raw:?} -> {p:?}");
            prop_assert!(!p.contains("//"), "{raw:?} -> {p:?}");
            prop_assert!(!p.starts_with('/'), "{raw:?} -> {p:?}");
            prop_assert!(!p.contains('%') && !p.contains('\\'), "{raw:?} -> {p:?}");
            prop_assert!(
                p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b)),
                "{raw:?} -> {p:?}"
            );
            prop_assert!(p.split('/').all(|s| !s.is_empty() && !s.starts_with('.')));
        }
    }

    #[test]
    fn random_cookie_values_never_verify(value in prop_oneof![
        any::<String>(),
        "v2\\.[A-Za-z0-9_-]{38}\\.[A-Za-z0-9_-]{22}",
        "v2\\.[A-Za-z0-9_=+/.-]{0,80}",
    ]) {
        let s = Sessions::single(&[7u8; 32]);
        prop_assert_eq!(s.verify(&value, 0, &token(), None), None);
    }

    /// Well-formed cookies naming a real key and a plausible expiry, with any MAC: only the
    /// MAC can refuse them, and it does.
    #[test]
    fn plausible_cookies_with_a_made_up_mac_never_verify(
        link_id in any::<i64>(),
        id in any::<u64>(),
        expires_in in 1i64..1_000_000,
        tag in proptest::collection::vec(any::<u8>(), 16),
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload = Vec::new();
        payload.extend_from_slice(&link_id.to_le_bytes());
        payload.extend_from_slice(&id.to_le_bytes());
        payload.extend_from_slice(&(1_000_000_000 + expires_in).to_le_bytes());
        payload.extend_from_slice(&1u32.to_le_bytes());
        let value = format!("v2.{}.{}", b64.encode(&payload), b64.encode(&tag));
        let s = Sessions::single(&[7u8; 32]);
        prop_assert!(linkd::testing::Claim::parse(&value).is_some());
        prop_assert_eq!(s.verify(&value, 1_000_000_000, &token(), None), None);
    }

    #[test]
    fn a_session_with_any_byte_changed_never_verifies(
        link_id in any::<i64>(),
        expires_at in 1i64..i64::MAX,
        at in 0usize..64,
        with in 0x20u8..0x7f,
    ) {
        let s = Sessions::single(&[9u8; 32]);
        let (_, value) = s.issue(link_id, &token(), expires_at);
        prop_assert_eq!(value.len(), 64);
        let now = expires_at - 1;
        prop_assert!(s.verify(&value, now, &token(), None).is_some());
        let mut bytes = value.clone().into_bytes();
        prop_assume!(bytes[at] != with);
        bytes[at] = with;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(s.verify(&changed, now, &token(), None), None, "{} -> {}", value, changed);
    }

    #[test]
    fn ttls_never_panic_and_accepted_ones_are_1s_to_30d(ttl in prop_oneof![
        any::<String>(),
        "[0-9]{1,12} ?(s|m|h|d|w|ms|us|ns|y|M|min|sec|days)?",
        "([0-9]{1,6}(h|m|s|d) ?){1,4}",
    ]) {
        if let Ok(d) = linkd::testing::parse_ttl(&ttl) {
            prop_assert!(d >= Duration::from_secs(1), "{ttl:?} -> {d:?}");
            prop_assert!(d <= Duration::from_secs(30 * 86400), "{ttl:?} -> {d:?}");
        }
    }

    #[test]
    fn notes_never_panic_and_accepted_ones_are_short_and_printable(note in any::<String>()) {
        if linkd::testing::check_note(&note).is_ok() {
            prop_assert!(note.chars().count() <= proto::MAX_NOTE_CHARS);
            prop_assert!(!note.chars().any(char::is_control));
        }
    }

    #[test]
    fn config_values_never_panic_and_errors_name_the_variable(
        var in proptest::sample::select(linkd::testing::config_names()),
        value in prop_oneof![any::<String>(), "[0-9a-z:./ -]{0,20}"],
    ) {
        let base = [
            ("base_url", "https://watch.example.org"),
            ("mediamtx_hls_base_url", "http://127.0.0.1:8888/live/stream"),
        ];
        let mut f = figment::Figment::new();
        for (k, v) in base {
            f = f.merge((k, v));
        }
        f = f.merge((var.to_lowercase(), value.clone()));
        if let Err(e) = linkd::Config::from_figment(f) {
            let text = e.to_string();
            prop_assert!(
                e.problems.iter().any(|p| p.to_string().contains(var)),
                "{var}={value:?}: {text}"
            );
        }
    }
}

async fn setup(tweak: impl FnOnce(&mut linkd::Config)) -> (tempfile::TempDir, Linkd, FakeOrigin) {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let base = origin.base_url();
    let (dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        tweak(c);
    })
    .await;
    (dir, l, origin)
}

/// A request with both Transfer-Encoding and Content-Length: linkd may answer it (as chunked,
/// RFC 9112 6.1) but must then close, so the request hidden behind it is never served.
async fn te_and_cl_close_the_connection(l: &Linkd, origin: &FakeOrigin, smuggle: &str) {
    let mut s = tokio::net::TcpStream::connect(l.addr).await.unwrap();
    s.write_all(smuggle.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(closed.is_ok(), "connection kept open after TE+CL: {text}");
    assert!(text.matches("HTTP/1.1 ").count() <= 1, "{text}");
    assert_eq!(
        origin.state.count("seg9.mp4"),
        0,
        "the hidden request was served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_smuggling_requests_are_refused_before_the_origin() {
    // The probe asks once at start, then not again during the test.
    let (_d, l, origin) = setup(|c| c.probe_interval = Duration::from_secs(60)).await;
    let state = origin.state.clone();
    common::wait_for("the first probe", Duration::from_secs(5), || {
        let n = state.requests().len();
        async move { n > 0 }
    })
    .await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let head = |extra: &str| {
        format!("GET /play/index.m3u8 HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n{extra}\r\n")
    };
    let big = format!("X-Big: {}\r\n", "a".repeat(20 * 1024));
    let many: String = (0..400)
        .map(|i| format!("X-H{i}: {}\r\n", "b".repeat(50)))
        .collect();
    let long_url = format!(
        "GET /play/{} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n",
        "a".repeat(10 * 1024)
    );
    let smuggle = format!(
        "GET /play/index.m3u8 HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /play/seg9.mp4 HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    // (what, request, acceptable answers; None = connection closed without an answer)
    let cases: Vec<(&str, String, &[Option<u16>])> = vec![
        (
            "two different Content-Lengths",
            head("Content-Length: 1\r\nContent-Length: 2\r\n"),
            &[Some(400), None],
        ),
        ("one header over 16 KiB", head(&big), &[Some(431), None]),
        ("a head over 16 KiB", head(&many), &[Some(431), None]),
        (
            "a 10 KB URL",
            long_url,
            &[Some(414), Some(400), Some(431), None],
        ),
        (
            "an obs-folded header",
            head("X-Folded: a\r\n b\r\n"),
            &[Some(400), None],
        ),
        ("a NUL in a header", head("X-Nul: a\0b\r\n"), &[Some(400), None]),
        (
            "an absolute URL as the target",
            format!("GET http://evil.example/play/index.m3u8 HTTP/1.1\r\nHost: evil.example\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
            &[Some(400)],
        ),
    ];
    let mut wrong = Vec::new();
    for (what, req, ok) in &cases {
        let before = origin.state.requests().len();
        let t = Instant::now();
        let got = raw_status(l.addr, req.as_bytes()).await;
        if !ok.contains(&got) || t.elapsed() > Duration::from_secs(5) {
            wrong.push(format!("{what}: {got:?} after {:?}", t.elapsed()));
        }
        if origin.state.requests().len() != before {
            wrong.push(format!("{what}: reached the origin"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    te_and_cl_close_the_connection(&l, &origin, &smuggle).await;
    // linkd is still there and a normal request plays.
    let r = get(&l.url("/play/index.m3u8"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_while_viewers_keep_playing() {
    let (_d, l, _origin) = setup(|_| {}).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let limit = linkd::testing::HEADER_READ_TIMEOUT + Duration::from_secs(5);
    let start = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let addr = l.addr;
        slow.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 1024];
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return Some(start.elapsed()),
                        Ok(_) => {}
                    },
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {
                        if s.write_all(b"X").await.is_err() {
                            return Some(start.elapsed());
                        }
                    }
                }
                if start.elapsed() > limit {
                    return None;
                }
            }
        }));
    }
    // Meanwhile a viewer plays every 250 ms.
    let mut plays = 0;
    while slow.iter().any(|t| !t.is_finished()) && start.elapsed() < limit {
        let r = request("GET", &l.url("/play/index.m3u8"), Some(&cookie), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "a viewer was refused while slowloris ran");
        plays += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for t in slow {
        let closed = t.await.unwrap();
        let at =
            closed.unwrap_or_else(|| panic!("a slow client was still connected after {limit:?}"));
        assert!(
            at >= linkd::testing::HEADER_READ_TIMEOUT - Duration::from_secs(2),
            "closed at {at:?}, before the header timeout: not a slowloris test"
        );
    }
    assert!(plays >= 50, "only {plays} plays");
    l.stop().await.unwrap();
}

/// `GET /live/stream/{token}` from the client `ip` (behind the one trusted proxy).
async fn open_from(l: &Linkd, token: &str, ip: &str) -> common::Answer {
    let path = format!("/live/stream/{token}");
    request("GET", &l.url(&path), None, &[("x-forwarded-for", ip)])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guessing_is_cheap_for_linkd_and_never_stops_a_viewer() {
    let (_d, l, _origin) = setup(|c| c.http_trusted_proxy_count = 1).await;
    let (_, token, _) = l.new_link(&["10m"]).await;
    let viewer = [("x-forwarded-for", "198.51.100.7")];
    let r = open_from(&l, &token, viewer[0].1).await;
    assert_eq!(r.status, 200);
    let cookie = r.header("set-cookie").unwrap();
    let cookie = cookie.split(';').next().unwrap();

    // Malformed tokens get the same answer as unknown ones, quickly, one client each.
    let malformed = [
        "x".repeat(5000),
        "%2e%2e%2f".repeat(10),
        "a".repeat(31),
        "a".repeat(33),
        "!".repeat(32),
        String::new(),
        format!("{token}/extra"),
    ];
    let unknown = open_from(&l, &"A".repeat(32), "192.0.2.1").await;
    assert_eq!(unknown.status, 404);
    for (i, m) in malformed.iter().enumerate() {
        let ip = format!("192.0.2.{}", i + 10);
        let t = Instant::now();
        let r = open_from(&l, m, &ip).await;
        assert_eq!(r.status, 404, "{m:.40}");
        assert_eq!(r.body, unknown.body, "no oracle in the page for {m:.40}");
        assert!(r.header("set-cookie").is_none());
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }

    // A guesser is slowed down while the viewer keeps playing and can reopen the page.
    let guesser = [("x-forwarded-for", "203.0.113.9")];
    let mut statuses = Vec::new();
    for i in 0..30 {
        let guess = format!("{:0>32}", i);
        let r = open_from(&l, &guess, guesser[0].1).await;
        statuses.push(r.status);
        let p = request("GET", &l.url("/play/index.m3u8"), Some(cookie), &viewer)
            .await
            .unwrap();
        assert_eq!(p.status, 200, "the viewer was hurt after {i} guesses");
    }
    assert!(
        statuses.iter().rev().take(5).all(|s| *s == 429),
        "{statuses:?}"
    );
    // Even the right token is refused to the guesser for now, not to the viewer.
    let r = open_from(&l, &token, guesser[0].1).await;
    assert_eq!(r.status, 429);
    let r = open_from(&l, &token, viewer[0].1).await;
    assert_eq!(r.status, 200);
    l.stop().await.unwrap();
}
