//! The publishing side: the stream key through linkctl, and the media server's questions on
//! `MEDIA_AUTH_ADDR` answered as MediaMTX (`authMethod: http`) and nginx-rtmp
//! (`on_publish`, `on_play`, `on_publish_done`, `on_update`) expect, with the go-live calls
//! reaching `status` at once.

use crate::common::{wait_for, Linkd};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use linkd::testing::Secret;
use std::time::Duration;

const READER: (&str, &str) = ("linkd", "reader-secret-5d1c");

/// A linkd answering the media server on a loopback port, with a reader credential and an
/// earlier setup's static publish pair.
async fn start() -> (tempfile::TempDir, Linkd) {
    Linkd::start(|c| {
        c.media_auth_addr = Some("127.0.0.1:0".parse().unwrap());
        c.mediamtx_read_user = Some(READER.0.into());
        c.mediamtx_read_password = Some(Secret::new(READER.1));
        c.mediamtx_publish_user = Some("obs".into());
        c.mediamtx_publish_password = Some(Secret::new("static-pass-77"));
        // The probe's origin is not there: only the media server's calls make it live.
        c.probe_interval = Duration::from_millis(100);
    })
    .await
}

/// POSTs `body` to the media listener's `path`; (status, body).
pub async fn post(l: &Linkd, path: &str, content_type: &str, body: String) -> (u16, String) {
    let addr = l.media.expect("MEDIA_AUTH_ADDR is set");
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let req = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let r = client
        .request(req)
        .await
        .expect("the media listener answers");
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The stream key as `linkctl --json stream-key show` prints it.
pub async fn key(l: &Linkd) -> String {
    let out = l.linkctl(&["--json", "stream-key", "show"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()["key"].as_str().unwrap().to_string()
}

/// A MediaMTX request body as its `authHTTPAddress` receives it (the fields of MediaMTX's
/// documentation, in its order).
fn mediamtx(
    user: &str,
    password: &str,
    action: &str,
    path: &str,
    protocol: &str,
    query: &str,
) -> String {
    let id = match action {
        "api" | "metrics" | "pprof" => serde_json::Value::Null,
        _ => "a8b4d3f2-3c1e-4e0b-9f7a-1d2c3b4a5e6f".into(),
    };
    serde_json::json!({
        "user": user, "password": password, "token": "", "ip": "127.0.0.1",
        "action": action, "path": path, "protocol": protocol, "id": id, "query": query,
    })
    .to_string()
}

/// An nginx-rtmp callback body: its session fields, then the call's, then the RTMP URL's
/// query as it was given.
fn nginx(call: &str, name: &str, client: &str, args: &str) -> String {
    let mut b = format!(
        "app=live&flashver=FMLE%2F3.0&swfurl=&tcurl=rtmp%3A%2F%2F127.0.0.1%3A1935%2Flive&pageurl=&addr=127.0.0.1&clientid={client}&call={call}&name={name}&type=live"
    );
    if !args.is_empty() {
        b.push('&');
        b.push_str(args);
    }
    b
}

async fn live(l: &Linkd) -> bool {
    l.linkctl(&["--json", "status"]).await.json()["live"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkctl_shows_and_rotates_the_stream_key() {
    let (_d, l) = start().await;
    let shown = l.linkctl(&["--json", "stream-key", "show"]).await.json();
    let k = shown["key"].as_str().unwrap();
    assert_eq!(k.len(), 48, "192 bits in hex");
    assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(shown["server_url"], "rtmp://127.0.0.1:1935/live");
    assert_eq!(shown["stream_key"], format!("stream?key={k}"));
    assert_eq!(
        shown["publish_url"],
        format!("rtmp://127.0.0.1:1935/live/stream?key={k}")
    );
    assert_eq!(shown["static_pair_accepted"], true);
    let text = l.linkctl(&["stream-key", "show"]).await;
    assert!(
        text.stdout
            .contains(&format!("stream key:  stream?key={k}")),
        "{}",
        text.stdout
    );
    assert_eq!(key(&l).await, k, "shown again, the same key");

    let r = l.linkctl(&["--json", "stream-key", "rotate"]).await.json();
    let new = r["key"]["key"].as_str().unwrap();
    assert_ne!(new, k);
    assert_eq!(r["key"]["static_pair_accepted"], false);
    assert_eq!(r["publisher_stopped"], false, "nobody was publishing");
    assert_eq!(key(&l).await, new);
    let text = l.linkctl(&["stream-key", "rotate"]).await;
    assert!(
        text.stdout.starts_with("new stream key\n"),
        "{}",
        text.stdout
    );
}

/// MediaMTX's documented request bodies, replayed: publish only on the stream path with the
/// current key (or, until the first rotation, the static pair), read only as linkd, nothing
/// else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediamtx_auth_requests_get_the_documented_answers() {
    let (_d, l) = start().await;
    let k = key(&l).await;
    let (r, pw) = READER;
    let kq = format!("key={k}");
    let pq = format!("user=obs&pass={k}");
    // (user, password, action, path, protocol, query, status)
    let cases: Vec<(&str, &str, &str, &str, &str, &str, u16)> = vec![
        ("", "", "publish", "live/stream", "rtmp", &kq, 200),
        ("", "", "publish", "live/stream", "rtmp", &pq, 200),
        ("obs", &k, "publish", "live/stream", "srt", "", 200),
        (
            "obs",
            "static-pass-77",
            "publish",
            "live/stream",
            "rtmp",
            "",
            200,
        ),
        (
            "",
            "",
            "publish",
            "live/stream",
            "rtmp",
            "user=obs&pass=static-pass-77",
            200,
        ),
        (
            "",
            "",
            "publish",
            "live/stream",
            "rtmp",
            "key=0123456789abcdef0123456789abcdef0123456789abcdef",
            403,
        ),
        ("obs", "wrong", "publish", "live/stream", "rtmp", "", 403),
        ("", "", "publish", "live/stream", "rtmp", "", 403),
        ("", "", "publish", "live/other", "rtmp", &kq, 403),
        (r, pw, "publish", "live/stream", "rtmp", "", 403),
        (r, pw, "read", "live/stream", "hls", "", 200),
        (r, pw, "read", "live/other", "hls", "", 403),
        (r, "wrong", "read", "live/stream", "hls", "", 403),
        ("", "", "read", "live/stream", "hls", "", 403),
        ("", "", "read", "live/stream", "rtmp", &kq, 403),
        ("viewer", "x", "read", "live/stream", "webrtc", "", 403),
        (r, pw, "playback", "live/stream", "", "", 403),
        (r, pw, "api", "", "", "", 403),
        ("", "", "api", "", "", "", 403),
        (r, pw, "metrics", "", "", "", 403),
        ("", "", "pprof", "", "", "", 403),
    ];
    for (user, password, action, path, protocol, query, want) in &cases {
        let body = mediamtx(user, password, action, path, protocol, query);
        let (status, text) = post(&l, "/mediamtx/auth", "application/json", body).await;
        assert_eq!(
            status, *want,
            "{action} {path} {protocol} as {user:?} ({query:?}): {text}"
        );
    }
}

/// After a rotation only the new key publishes (the old one and the static pair are
/// refused); a body that is not MediaMTX's, another path or another method is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediamtx_auth_after_a_rotation_and_bad_requests() {
    let (_d, l) = start().await;
    let k = key(&l).await;
    l.linkctl(&["stream-key", "rotate"]).await;
    let new = key(&l).await;
    for (query, user, password, want) in [
        (format!("key={k}"), "", "", 403),
        (String::new(), "obs", "static-pass-77", 403),
        (format!("key={new}"), "", "", 200),
    ] {
        let body = mediamtx(user, password, "publish", "live/stream", "rtmp", &query);
        let (status, _) = post(&l, "/mediamtx/auth", "application/json", body).await;
        assert_eq!(status, want, "after the rotation: {user:?} {}", query.len());
    }
    let (status, _) = post(&l, "/mediamtx/auth", "application/json", "{not json".into()).await;
    assert_eq!(status, 400);
    let (status, _) = post(&l, "/elsewhere", "application/json", "{}".into()).await;
    assert_eq!(status, 404);
    let got = crate::common::get(&format!("http://{}/mediamtx/auth", l.media.unwrap()), None)
        .await
        .unwrap();
    assert_eq!(got.status, 405);
}

/// nginx-rtmp's form posts: `on_publish` with the key admits and makes the stream live at
/// once, `on_publish_done` of that publisher makes it offline; a wrong key, a foreign
/// reader or another call is refused with a plain 403; `on_update` re-checks the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_rtmp_callbacks_admit_the_key_and_tell_go_live() {
    let (_d, l) = start().await;
    let k = key(&l).await;
    let form = "application/x-www-form-urlencoded";
    let (r, pw) = READER;
    let reader = format!("user={r}&pass={pw}");
    let cases = [
        (nginx("publish", "stream", "7", "key=bad"), 403),
        (nginx("publish", "stream", "7", ""), 403),
        (nginx("publish", "other", "7", &format!("key={k}")), 403),
        (nginx("play", "stream", "8", ""), 403),
        (nginx("play", "stream", "8", &reader), 200),
        (nginx("connect", "stream", "8", &reader), 403),
        (nginx("publish_done", "stream", "7", ""), 200),
    ];
    for (body, want) in &cases {
        let (status, text) = post(&l, "/nginx-rtmp", form, body.clone()).await;
        assert_eq!(
            status,
            *want,
            "{}: {text}",
            &body[body.find("call").unwrap()..]
        );
    }
    assert!(!live(&l).await, "nothing was admitted");

    let (status, _) = post(
        &l,
        "/nginx-rtmp",
        form,
        nginx("publish", "stream", "9", &format!("key={k}")),
    )
    .await;
    assert_eq!(status, 200);
    wait_for("status says live", Duration::from_secs(1), || live(&l)).await;
    // A refused publisher ending does not end the admitted one.
    post(
        &l,
        "/nginx-rtmp",
        form,
        nginx("publish_done", "stream", "7", "key=bad"),
    )
    .await;
    assert!(live(&l).await);
    let update = nginx("update_publish", "stream", "9", &format!("key={k}"));
    assert_eq!(post(&l, "/nginx-rtmp", form, update.clone()).await.0, 200);
    l.linkctl(&["stream-key", "rotate"]).await;
    assert_eq!(
        post(&l, "/nginx-rtmp", form, update).await.0,
        403,
        "the old key stops"
    );
    post(
        &l,
        "/nginx-rtmp",
        form,
        nginx("publish_done", "stream", "9", &format!("key={k}")),
    )
    .await;
    wait_for("status says offline", Duration::from_secs(1), || async {
        !live(&l).await
    })
    .await;
}

/// MediaMTX's `runOnReady` / `runOnNotReady` hooks reach `status` and the event log at
/// once, and the probe (whose origin is not there) does not undo them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediamtx_hooks_make_the_stream_live_and_offline_at_once() {
    let (_d, l) = start().await;
    let client = proto::connect(&l.socket).await.unwrap();
    let events = |c: proto::LinkApiClient| async move {
        let ctx = tarpc::context::current();
        c.next_events(ctx, "media-test".into(), 0)
            .await
            .unwrap()
            .unwrap()
    };
    let first = events(client.clone()).await;
    if let Some(last) = first.last() {
        client
            .ack_events(tarpc::context::current(), "media-test".into(), last.id)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        post(&l, "/mediamtx/ready", "text/plain", String::new())
            .await
            .0,
        200
    );
    wait_for("status says live", Duration::from_secs(1), || live(&l)).await;
    let e = events(client.clone()).await;
    assert!(
        e.iter().any(|e| e.kind == proto::EventKind::StreamLive),
        "{e:?}"
    );
    // Several probe rounds see no playlist; the hook's word stands.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(live(&l).await, "the probe did not undo the hook");
    assert_eq!(
        post(&l, "/mediamtx/not-ready", "text/plain", String::new())
            .await
            .0,
        200
    );
    wait_for("status says offline", Duration::from_secs(1), || async {
        !live(&l).await
    })
    .await;
}

/// A stand-in for MediaMTX's control API: it asks linkd about each call's credentials as
/// MediaMTX does (action `api`) and records the calls linkd admitted; 401 otherwise.
struct FakeMediaMtxApi {
    addr: std::net::SocketAddr,
    admitted: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeMediaMtxApi {
    async fn start(auth: std::net::SocketAddr) -> FakeMediaMtxApi {
        use base64::Engine as _;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admitted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = admitted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or("").to_string();
                let basic = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: Basic "))
                    .and_then(|b| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .ok()
                    })
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let (user, password) = basic.split_once(':').unwrap_or(("", ""));
                let ask = serde_json::json!({"user": user, "password": password, "token": "",
                    "ip": "127.0.0.1", "action": "api", "path": "", "protocol": "", "id": null, "query": ""});
                let client: Client<HttpConnector, Full<Bytes>> =
                    Client::builder(TokioExecutor::new()).build(HttpConnector::new());
                let req = http::Request::post(format!("http://{auth}/mediamtx/auth"))
                    .body(Full::new(Bytes::from(ask.to_string())))
                    .unwrap();
                let allowed = client.request(req).await.is_ok_and(|r| r.status() == 200);
                let status = if allowed {
                    seen.lock().unwrap().push(line);
                    "200 OK"
                } else {
                    "401 Unauthorized"
                };
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        FakeMediaMtxApi { addr, admitted }
    }
}

/// Rotating the key while a MediaMTX publisher is live kicks that very session through
/// MediaMTX's API, with linkd's own control credential, which MediaMTX's auth call to linkd
/// admits; nobody else's credential is admitted for the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_kicks_a_mediamtx_publisher_through_its_api() {
    // The fake asks linkd, and linkd calls the fake: linkd's auth address is chosen first.
    let media_port = crate::common::free_port();
    let api = FakeMediaMtxApi::start(media_port).await;
    let api_url = format!("http://{}", api.addr);
    let (_d, l) = Linkd::start(move |c| {
        c.media_auth_addr = Some(media_port);
        c.mediamtx_read_user = Some(READER.0.into());
        c.mediamtx_read_password = Some(Secret::new(READER.1));
        c.media_control_url = Some(api_url);
    })
    .await;
    let k = key(&l).await;
    let id = "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8";
    let mut ask: serde_json::Value = serde_json::from_str(&mediamtx(
        "",
        "",
        "publish",
        "live/stream",
        "rtmp",
        &format!("key={k}"),
    ))
    .unwrap();
    ask["id"] = id.into();
    assert_eq!(
        post(&l, "/mediamtx/auth", "application/json", ask.to_string())
            .await
            .0,
        200
    );
    let r = l.linkctl(&["--json", "stream-key", "rotate"]).await.json();
    assert_eq!(r["publisher_stopped"], true, "{r}");
    let admitted = api.admitted.lock().unwrap().clone();
    assert_eq!(admitted, [format!("POST /v3/rtmpconns/kick/{id} HTTP/1.1")]);
    // A guessed control credential, or the reader's, gets nothing from the API.
    for (user, password) in [("linkd-control", "guess"), READER] {
        let body = mediamtx(user, password, "api", "", "", "");
        assert_eq!(
            post(&l, "/mediamtx/auth", "application/json", body).await.0,
            403
        );
    }
}
