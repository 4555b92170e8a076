//! What a viewer gets during a link's life, without a browser: the playback session renewed
//! by the page's poll (short-lived, never past the link's current expiry), and answers under
//! way (a held blocking reload, a media body being sent) ended within a second of `off` or of
//! the link's expiry, alone or sharing one upstream fetch with viewers of other links.

use crate::common;
use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::wait_for;
use crate::common::{get, Linkd};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Size of the media file the big origin serves.
const BIG: usize = 8 * 1024 * 1024;
/// How soon after `off` or expiry an answer under way must end.
const CUT_WITHIN: Duration = Duration::from_secs(1);

/// An origin whose `.ts` files are [`BIG`] bytes, so a viewer can be caught in mid-body.
async fn big_origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(vec![b'x'; BIG]);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<_>| {
                    let body = body.clone();
                    async move {
                        let mut r = http::Response::new(Full::new(body));
                        if !req.uri().path().ends_with(".ts") {
                            *r.body_mut() = Full::new(Bytes::new());
                            *r.status_mut() = http::StatusCode::NOT_FOUND;
                        }
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A GET whose body the test reads at its own pace. Its socket's receive buffer is small and
/// fixed, so what the kernels hold between linkd and the test stays far below [`BIG`].
async fn start_get(url: &str, cookie: &str) -> http::Response<hyper::body::Incoming> {
    let mut connector = HttpConnector::new();
    connector.set_recv_buffer_size(Some(64 * 1024));
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let req = http::Request::get(url)
        .header("cookie", cookie)
        .body(Empty::new())
        .unwrap();
    client.request(req).await.unwrap()
}

/// Reads at least `n` bytes of `body`.
async fn read_some(body: &mut hyper::body::Incoming, n: usize) -> usize {
    let mut got = 0;
    while got < n {
        let f = body.frame().await.expect("more body").expect("a frame");
        got += f.into_data().map(|d| d.len()).unwrap_or(0);
    }
    got
}

/// Reads the rest of `body` as fast as possible until it ends or breaks; (bytes, whether it
/// ended cleanly, when).
async fn read_rest(body: &mut hyper::body::Incoming, limit: Duration) -> (usize, bool, Instant) {
    let mut got = 0;
    let read = async {
        loop {
            match body.frame().await {
                Some(Ok(f)) => got += f.into_data().map(|d| d.len()).unwrap_or(0),
                Some(Err(_)) => return false,
                None => return true,
            }
        }
    };
    let clean = tokio::time::timeout(limit, read)
        .await
        .expect("the body neither ended nor broke");
    (got, clean, Instant::now())
}

fn json(a: &common::Answer) -> serde_json::Value {
    serde_json::from_slice(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body_text()))
}

/// The `watch_session=...` pair and its Max-Age in an answer's `Set-Cookie` headers.
fn session_cookie(a: &common::Answer) -> Option<(String, i64)> {
    a.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("watch_session=") && !v.starts_with("watch_session=;"))
        .map(|v| {
            let pair = v.split(';').next().unwrap().to_string();
            let age = v.split("Max-Age=").nth(1).unwrap().split(';').next();
            (pair, age.unwrap().parse().unwrap())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_poll_renews_a_short_cookie_that_follows_extend_and_ends_with_the_page() {
    let (_d, l, _origin, clock) = crate::common::scene::on_manual_clock().await;
    let session = l.url("/play/_session");

    // A 30 s link: the cookie never lives past it, the poll renews it up to it.
    let (id, token, _) = l.new_link(&["30s"]).await;
    let first = l.open(&token).await;
    clock.advance(20);
    let r = get(&session, Some(&first)).await.unwrap();
    assert_eq!(json(&r)["state"], "active");
    let (_, age) = session_cookie(&r).expect("the poll renews the session");
    assert_eq!(age, 10, "never past the link's expiry");

    // Extended while watched: the next poll's cookie reaches past the old expiry, and plays
    // there; the cookie of before the extension does not.
    let out = l
        .linkctl(&["--json", "extend", &id.to_string(), "1h"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = get(&session, Some(&first)).await.unwrap();
    assert_eq!(json(&r)["expires_at"], out.json()["expires_at"]);
    let (renewed, age) = session_cookie(&r).unwrap();
    assert_eq!(age, 60, "a minute ahead, the link ends later");
    clock.advance(15);
    let r = get(&session, Some(&renewed)).await.unwrap();
    assert_eq!(json(&r)["state"], "active", "plays past the old expiry");
    let (renewed, _) = session_cookie(&r).unwrap();
    assert_eq!(l.status("/play/index.m3u8", Some(&renewed)).await, 200);
    assert_eq!(
        get(&session, Some(&first)).await.unwrap().status,
        403,
        "the first cookie ended with the old expiry"
    );

    // A permanent link: a minute at a time, and a page that stops polling loses its session.
    let (_, token, _) = l.new_link(&["--permanent"]).await;
    let open = get(&l.url(&format!("/live/stream/{token}")), None)
        .await
        .unwrap();
    let (cookie, age) = session_cookie(&open).unwrap();
    assert_eq!(age, 60);
    clock.advance(59);
    assert_eq!(get(&session, Some(&cookie)).await.unwrap().status, 200);
    clock.advance(1);
    let r = get(&session, Some(&cookie)).await.unwrap();
    assert_eq!(
        (r.status, json(&r)["state"].clone()),
        (403, "invalid".into())
    );
    l.stop().await.unwrap();
}

/// Starts a viewer's download of the big file and reads a little of it.
async fn mid_body(l: &Linkd, cookie: &str) -> (hyper::body::Incoming, u64) {
    let r = start_get(&l.url("/play/big.ts"), cookie).await;
    assert_eq!(r.status(), 200);
    let len: u64 = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut body = r.into_body();
    read_some(&mut body, 64 * 1024).await;
    (body, len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_being_sent_stops_within_a_second_of_off_and_only_for_that_link() {
    let origin = big_origin().await;
    let (_d, l) = Linkd::start_before(format!("http://{origin}/live/stream")).await;
    let (a_id, a_token, _) = l.new_link(&["10m"]).await;
    let (_, b_token, _) = l.new_link(&["10m"]).await;
    let (a, b) = (l.open(&a_token).await, l.open(&b_token).await);
    // Both read the same file (one upstream fetch) and are caught in mid-body.
    let (mut a_body, len) = mid_body(&l, &a).await;
    let (mut b_body, _) = mid_body(&l, &b).await;
    assert_eq!(len as usize, BIG);

    assert_eq!(l.linkctl(&["off", &a_id.to_string()]).await.code, 0);
    let off = Instant::now();
    let (got, clean, at) = read_rest(&mut a_body, Duration::from_secs(10)).await;
    assert!(
        at - off < CUT_WITHIN,
        "ended {:?} after off",
        at.duration_since(off)
    );
    assert!(!clean, "a cut answer must not look complete");
    // What the kernels held for the viewer may still arrive before the reset (a viewer that
    // stopped reading gets none of it: the next test); the rest of the file does not.
    assert!(
        (got as u64) < len * 3 / 4,
        "{got} more bytes after off, of {len}"
    );
    // The other link's viewer gets the whole file.
    let (rest, clean, _) = read_rest(&mut b_body, Duration::from_secs(10)).await;
    assert!(clean);
    assert!(rest as u64 > len / 2);
    l.stop().await.unwrap();
}

/// A viewer that stopped reading, its socket buffers full: when its link is switched off the
/// connection is reset within a second, and the megabytes linkd's kernel held for it are
/// dropped rather than delivered when it reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stopped_reading_gets_nothing_held_for_it_after_off() {
    let origin = big_origin().await;
    let (_d, l) = Linkd::start_before(format!("http://{origin}/live/stream")).await;
    let (id, token, _) = l.new_link(&["10m"]).await;
    let cookie = l.open(&token).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut c = socket.connect(l.addr).await.unwrap();
    let get = format!("GET /play/big.ts HTTP/1.1\r\nhost: linkd\r\ncookie: {cookie}\r\n\r\n");
    c.write_all(get.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    // linkd fills the viewer's receive buffer (and its own send buffer behind it).
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.peek(&mut buf).await.unwrap() < 32 * 1024 {
        assert!(Instant::now() < deadline, "linkd sent too little");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(buf.starts_with(b"HTTP/1.1 200"));

    assert_eq!(l.linkctl(&["off", &id.to_string()]).await.code, 0);
    let off = Instant::now();
    wait_for("the connection is reset", Duration::from_secs(5), || {
        let e = c.take_error().unwrap();
        async move { e.is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset) }
    })
    .await;
    assert!(
        off.elapsed() < CUT_WITHIN,
        "reset {:?} after off",
        off.elapsed()
    );
    let mut got = 0;
    while let Ok(n) = c.read(&mut buf).await {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(got < 512 * 1024, "{got} bytes arrived after the reset");
    l.stop().await.unwrap();
}

/// linkd (with metrics) in front of a frozen LL-HLS origin, with the URL of a blocking reload
/// it will hold.
async fn frozen_ll() -> (tempfile::TempDir, Linkd, FakeOrigin, String) {
    let origin = FakeOrigin::start(Behaviour {
        low_latency: true,
        ..Default::default()
    })
    .await;
    let base = origin.base_url();
    let (d, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    origin.freeze(true);
    let url = l.url(&format!(
        "/play/video1_stream.m3u8?{}",
        origin.next_part_query()
    ));
    (d, l, origin, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_blocking_reload_ends_at_off_and_the_shared_fetch_goes_on_for_others() {
    let (_d, l, origin, url) = frozen_ll().await;
    let (a_id, a_token, _) = l.new_link(&["10m"]).await;
    let (_, b_token, _) = l.new_link(&["10m"]).await;
    let (a, b) = (l.open(&a_token).await, l.open(&b_token).await);
    let (u1, u2) = (url.clone(), url.clone());
    let a_wait = tokio::spawn(async move { get(&u1, Some(&a)).await });
    origin.until_held().await;
    let b_wait = tokio::spawn(async move { get(&u2, Some(&b)).await });
    common::wait_for("b joins the held fetch", Duration::from_secs(5), || async {
        let page = l.metrics_page().await;
        common::sample(&page, "tempstream_coalesced_waiters_total") >= 1
    })
    .await;

    assert_eq!(l.linkctl(&["off", &a_id.to_string()]).await.code, 0);
    let off = Instant::now();
    let r = tokio::time::timeout(CUT_WITHIN, a_wait)
        .await
        .expect("the held reload of the switched-off link ends within a second")
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-link-state").unwrap(), "disabled");
    assert!(off.elapsed() < CUT_WITHIN);
    assert!(!b_wait.is_finished(), "the other link's viewer still waits");

    origin.freeze(false);
    let r = b_wait.await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    let held = origin
        .state
        .requests()
        .iter()
        .filter(|s| s.query.as_deref().is_some_and(|q| q.contains("_HLS_msn")))
        .count();
    assert_eq!(held, 1, "one upstream fetch for both viewers");
    l.stop().await.unwrap();
}

/// The instant of Unix second `at`.
fn instant_of(at: i64) -> Instant {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let at = Duration::from_secs(at as u64);
    Instant::now() + at.saturating_sub(now) - now.saturating_sub(at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_under_way_end_within_a_second_of_the_link_expiring() {
    let (_d, l, origin, url) = frozen_ll().await;
    let out = l.linkctl(&["--json", "new", "3s"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    let token = crate::common::token_of(&v);
    let cookie = l.open(&token).await;
    let expiry = instant_of(v["expires_at"].as_i64().unwrap());

    // A held reload, waiting past the expiry.
    let c = cookie.clone();
    let waiting = tokio::spawn(async move { get(&url, Some(&c)).await });
    origin.until_held().await;
    let r = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the held reload ends when the link expires")
        .unwrap()
        .unwrap();
    let at = Instant::now();
    assert!(
        at < expiry + CUT_WITHIN,
        "answered {:?} after expiry",
        at - expiry
    );
    assert!(
        at + Duration::from_millis(50) >= expiry,
        "answered before expiry"
    );
    assert_eq!(r.status, 403);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_being_sent_stops_within_a_second_of_the_link_expiring() {
    let origin = big_origin().await;
    let (_d, l) = Linkd::start_before(format!("http://{origin}/live/stream")).await;
    let out = l.linkctl(&["--json", "new", "3s"]).await;
    let v = out.json();
    let token = crate::common::token_of(&v);
    let cookie = l.open(&token).await;
    let expiry = instant_of(v["expires_at"].as_i64().unwrap());
    let (mut body, len) = mid_body(&l, &cookie).await;
    tokio::time::sleep_until(expiry.into()).await;
    let (got, clean, at) = read_rest(&mut body, Duration::from_secs(10)).await;
    assert!(
        at < expiry + CUT_WITHIN,
        "ended {:?} after expiry",
        at - expiry
    );
    assert!(!clean && (got as u64) < len / 2, "{got} bytes after expiry");
    l.stop().await.unwrap();
}
