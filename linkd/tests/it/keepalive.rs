//! A player's requests on one keep-alive connection. linkd remembers the cookie that verified
//! last on a connection and skips its MAC when the next request repeats it; these tests hold
//! everything the gate decides to the same answers on such a connection: a tampered value,
//! a session that ends, a kick, a key rotation that logs everyone out, a rotated link.

use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::Linkd;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// One HTTP/1.1 connection, kept open between requests.
struct Conn(SendRequest<Empty<Bytes>>);

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        Conn(send)
    }

    /// GET `path` with the cookie pair `cookie` on this connection: the status and the
    /// `x-link-state` of a refusal.
    async fn get(&mut self, path: &str, cookie: &str) -> (u16, Option<String>) {
        self.0.ready().await.expect("the connection is still open");
        let req = http::Request::get(path)
            .header("host", "linkd")
            .header("cookie", cookie)
            .body(Empty::new())
            .unwrap();
        let r = self.0.send_request(req).await.expect("an answer");
        let state = r
            .headers()
            .get("x-link-state")
            .map(|v| v.to_str().unwrap().to_string());
        let status = r.status().as_u16();
        r.into_body().collect().await.expect("a whole body");
        (status, state)
    }
}

/// `pair` with the last character of its MAC changed.
fn tampered(pair: &str) -> String {
    let mut t = pair.to_string();
    let last = t.pop().unwrap();
    t.push(if last == 'A' { 'B' } else { 'A' });
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_cookie_still_meets_tampering_kicks_key_and_link_rotation() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let base = origin.base_url();
    let (_d, l) = Linkd::start(move |c| c.mediamtx_hls_base_url = base).await;
    let (id, token, _) = l.new_link(&["2h"]).await;
    let id = id.to_string();
    let cookie = l.open(&token).await;
    let mut conn = Conn::open(l.addr).await;
    let seg = "/play/seg1.mp4";
    assert_eq!(conn.get(seg, &cookie).await.0, 200);
    assert_eq!(conn.get(seg, &cookie).await.0, 200);
    // A value one character off, after the good one on the same connection.
    assert_eq!(conn.get(seg, &tampered(&cookie)).await.0, 403);
    assert_eq!(conn.get(seg, &cookie).await.0, 200);

    assert_eq!(l.linkctl(&["kick", &id]).await.code, 0);
    assert_eq!(conn.get(seg, &cookie).await, (403, Some("kicked".into())));
    let cookie = l.open(&token).await;
    assert_eq!(conn.get(seg, &cookie).await.0, 200);

    let out = l.linkctl(&["signing-key", "rotate", "--logout-all"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(conn.get(seg, &cookie).await.0, 403);
    let cookie = l.open(&token).await;
    assert_eq!(conn.get(seg, &cookie).await.0, 200);

    assert_eq!(l.linkctl(&["rotate", &id]).await.code, 0);
    assert_eq!(conn.get(seg, &cookie).await, (403, Some("rotated".into())));
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_cookie_ends_with_its_session_and_its_link() {
    let (_d, l, _origin, clock) = crate::common::scene::on_manual_clock().await;
    let (_, token, _) = l.new_link(&["2h"]).await;
    let cookie = l.open(&token).await;
    let mut conn = Conn::open(l.addr).await;
    let seg = "/play/seg1.mp4";
    assert_eq!(conn.get(seg, &cookie).await.0, 200);
    // The session lives a minute unless the page renews it.
    clock.advance(59);
    assert_eq!(conn.get(seg, &cookie).await.0, 200);
    clock.advance(1);
    assert_eq!(conn.get(seg, &cookie).await.0, 403);

    let (id, token, _) = l.new_link(&["2m"]).await;
    let cookie = l.open(&token).await;
    assert_eq!(conn.get(seg, &cookie).await.0, 200);
    let out = l.linkctl(&["off", &id.to_string()]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(conn.get(seg, &cookie).await, (403, Some("disabled".into())));
    l.stop().await.unwrap();
}
