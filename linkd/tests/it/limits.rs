//! Limits at every stage, over real TCP on loopback: a client that stops reading is cut,
//! connections over the caps get a 503 and are closed, and `X-Forwarded-For` is believed
//! only from trusted proxies.

use crate::common::{get, request, sample, wait_for, Linkd};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection that has been answered once (so linkd holds it), kept open; `None` when
/// linkd refused it.
async fn try_held(l: &Linkd) -> Option<TcpStream> {
    let mut s = TcpStream::connect(l.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("an answer")
        .ok()?;
    buf[..n].starts_with(b"HTTP/1.1 200").then_some(s)
}

/// `n` held connections, retrying while places held by earlier (closing) connections free up.
async fn hold(l: &Linkd, n: usize) -> Vec<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut kept = Vec::new();
    while kept.len() < n {
        match try_held(l).await {
            Some(s) => kept.push(s),
            None => {
                assert!(
                    Instant::now() < deadline,
                    "only {} connections admitted",
                    kept.len()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    kept
}

/// The whole answer on a new connection to one request, until linkd closes it.
async fn answer_of_new_connection(l: &Linkd) -> String {
    let mut s = TcpStream::connect(l.addr).await.unwrap();
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_after_the_send_timeout() {
    let timeout = Duration::from_secs(1);
    let (_d, l) = Linkd::start(|c| c.http_send_timeout = timeout).await;
    let js = linkd::testing::Assets::new().urls().hls_js;
    let one = get(&l.url(&js), None).await.unwrap().body.len();
    // Pipelined requests for far more than the socket buffers hold, never read.
    let n = 100;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(l.addr).await.unwrap();
    let req = format!("GET {js} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(req.repeat(n).as_bytes()).await.unwrap();
    // The stall itself is what is tested: let the send timeout pass without reading.
    tokio::time::sleep(timeout + Duration::from_secs(2)).await;
    let started = Instant::now();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => got += k,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "linkd kept the connection of a client that stopped reading (read {got} bytes in {:?})",
        started.elapsed()
    );
    assert!(got < n * one, "every answer was sent: {got}");
    // Everyone else is served.
    assert_eq!(get(&l.url("/healthz"), None).await.unwrap().status, 200);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_caps_get_a_503_and_are_closed() {
    // Loopback is not a trusted proxy here, so the per-client cap applies to this test.
    let (_d, l) = Linkd::start(|c| {
        c.http_trusted_proxies = linkd::testing::TrustedProxies::parse("10.0.0.0/8").unwrap();
        c.http_max_connections_per_client = 2;
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut kept = hold(&l, 2).await;
    let before = l.metrics_page().await;
    let refused = answer_of_new_connection(&l).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("too many connections from your address"),
        "{refused}"
    );
    assert!(refused.contains("connection: close"), "{refused}");
    let after = l.metrics_page().await;
    let refusals = |m: &str| {
        sample(
            m,
            "tempstream_http_connections_refused_total{cap=\"client\"}",
        )
    };
    assert_eq!(refusals(&after), refusals(&before) + 1, "{after}");
    assert_eq!(sample(&after, "tempstream_http_connections"), 2, "{after}");
    // A place that frees up is taken again.
    kept.pop();
    wait_for(
        "a freed place is admitted",
        Duration::from_secs(5),
        || async {
            answer_of_new_connection(&l)
                .await
                .starts_with("HTTP/1.1 200")
        },
    )
    .await;
    drop(kept);
    l.stop().await.unwrap();

    // The total cap holds for trusted proxies too.
    let (_d, l) = Linkd::start(|c| c.http_max_connections = 3).await;
    let kept = hold(&l, 3).await;
    let refused = answer_of_new_connection(&l).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("as many connections open as it may"),
        "{refused}"
    );
    drop(kept);
    wait_for("places free up", Duration::from_secs(5), || async {
        answer_of_new_connection(&l)
            .await
            .starts_with("HTTP/1.1 200")
    })
    .await;
    l.stop().await.unwrap();
}

/// 25 bad tokens, each with another forged `X-Forwarded-For`; the statuses.
async fn guesses_with_forged_addresses(l: &Linkd) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..25 {
        let xff = format!("203.0.113.{i}");
        let r = request(
            "GET",
            &l.url(&format!("/live/stream/{i:032}")),
            None,
            &[("x-forwarded-for", &xff)],
        )
        .await
        .unwrap();
        statuses.push(r.status);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    // linkd reached directly: the peer (loopback here) is not a trusted proxy, so forged
    // addresses do not escape the bad-token limiter.
    let (_d, l) = Linkd::start(|c| {
        c.http_trusted_proxy_count = 1;
        c.http_trusted_proxies = linkd::testing::TrustedProxies::parse("10.0.0.0/8").unwrap();
    })
    .await;
    let s = guesses_with_forged_addresses(&l).await;
    assert!(s[..20].iter().all(|s| *s == 404), "{s:?}");
    assert!(s[20..].iter().all(|s| *s == 429), "{s:?}");
    l.stop().await.unwrap();
    // Behind a proxy on loopback (the default ranges, as with Caddy): each address is a client.
    let (_d, l) = Linkd::start(|c| c.http_trusted_proxy_count = 1).await;
    let s = guesses_with_forged_addresses(&l).await;
    assert!(s.iter().all(|s| *s == 404), "{s:?}");
    l.stop().await.unwrap();
}
