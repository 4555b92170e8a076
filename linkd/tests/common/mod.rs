//! Test support: linkd's `run()` in-process on port 0 with a temp dir and socket, the real
//! `linkctl` binary, a small HTTP client, and a fake origin that behaves like MediaMTX.

#![allow(dead_code)]

pub mod origin;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A linkd running in this process.
pub struct Linkd {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub socket: PathBuf,
    pub config: linkd::Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), linkd::Error>>>,
}

impl Linkd {
    /// Starts linkd with [`linkd::Config::local`] in `dir`, changed by `tweak`.
    pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut linkd::Config)) -> Linkd {
        let mut config = linkd::Config::local(dir);
        tweak(&mut config);
        let listeners = linkd::bind(&config).await.expect("bind");
        let addr = listeners.http_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(linkd::run(config.clone(), listeners, async move {
            let _ = rx.await;
        }));
        let l = Linkd {
            dir: dir.to_path_buf(),
            addr,
            socket: config.rpc_socket.clone(),
            config,
            stop: Some(tx),
            task: Some(task),
        };
        let base = format!("http://{addr}");
        wait_for("linkd answers /healthz", Duration::from_secs(10), || {
            let base = base.clone();
            async move {
                get(&format!("{base}/healthz"), None)
                    .await
                    .map(|r| r.status == 200)
                    .unwrap_or(false)
            }
        })
        .await;
        l
    }

    /// Starts linkd in a new temp dir (kept until the test ends).
    pub async fn start(tweak: impl FnOnce(&mut linkd::Config)) -> (tempfile::TempDir, Linkd) {
        let dir = tempfile::tempdir().unwrap();
        let l = Linkd::start_in(dir.path(), tweak).await;
        (dir, l)
    }

    /// The URL of `path` on this linkd.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops linkd and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), linkd::Error> {
        self.shutdown().await
    }

    async fn shutdown(&mut self) -> Result<(), linkd::Error> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("linkd stops within 20 s")
                .expect("linkd task"),
            None => Ok(()),
        }
    }

    /// Runs the real linkctl binary against this linkd.
    pub async fn linkctl(&self, args: &[&str]) -> Ctl {
        linkctl(&self.socket, args).await
    }

    /// Creates a link with linkctl and returns (id, token, url).
    pub async fn new_link(&self, args: &[&str]) -> (i64, String, String) {
        let mut all = vec!["--json", "new"];
        all.extend_from_slice(args);
        let out = self.linkctl(&all).await;
        assert_eq!(out.code, 0, "linkctl new failed: {}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let url = v["url"].as_str().unwrap().to_string();
        let token = url.rsplit('/').next().unwrap().to_string();
        (v["id"].as_i64().unwrap(), token, url)
    }

    /// Opens a link's watch page and returns the cookie pair (`watch_session=...`).
    pub async fn open(&self, token: &str) -> String {
        let r = get(&self.url(&format!("/live/stream/{token}")), None)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "watch page: {}", r.body_text());
        let set = r.header("set-cookie").expect("a playback cookie");
        set.split(';').next().unwrap().to_string()
    }
}

/// What linkctl did.
#[derive(Debug)]
pub struct Ctl {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ctl {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs `linkctl --socket SOCKET ARGS...`.
pub async fn linkctl(socket: &Path, args: &[&str]) -> Ctl {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_linkctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("RPC_SOCKET")
        .output()
        .await
        .expect("run linkctl");
    Ctl {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// GET `url` with an optional Cookie header.
pub async fn get(url: &str, cookie: Option<&str>) -> Result<Answer, String> {
    request("GET", url, cookie, &[]).await
}

/// A request with a method, optional cookie and extra headers.
pub async fn request(
    method: &str,
    url: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut b = http::Request::builder().method(method).uri(url);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(b.body(Empty::new()).unwrap()),
    )
    .await
    .map_err(|_| "timeout".to_string())?
    .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends raw bytes and returns the status code of the answer (for requests a client library
/// would refuse to build).
pub async fn raw_status(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(request).await.ok()?;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}
