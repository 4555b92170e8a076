//! Test support: linkd's `run()` in-process on port 0 with a temp dir and socket, the real
//! `linkctl` binary, a small HTTP client, and a fake origin that behaves like MediaMTX.

#![allow(dead_code)]

pub mod origin;
pub mod scene;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A linkd running in this process.
pub struct Linkd {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub media: Option<SocketAddr>,
    pub socket: PathBuf,
    pub config: linkd::Config,
    running: linkd::testing::Running,
}

impl Linkd {
    /// Starts linkd with [`linkd::Config::local`] in `dir`, changed by `tweak`.
    pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut linkd::Config)) -> Linkd {
        let mut config = linkd::Config::local(dir);
        tweak(&mut config);
        let running = linkd::testing::Running::start(config.clone()).await;
        let addr = running.http_addr;
        let l = Linkd {
            dir: dir.to_path_buf(),
            addr,
            metrics: running.metrics_addr,
            media: running.media_addr,
            socket: config.rpc_socket.clone(),
            config,
            running,
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

    /// linkd's metrics page (started with a `metrics_addr`).
    pub async fn metrics_page(&self) -> String {
        let addr = self.metrics.expect("linkd started with metrics_addr");
        let r = get(&format!("http://{addr}/metrics"), None).await.unwrap();
        assert_eq!(r.status, 200);
        r.body_text()
    }

    /// Stops linkd and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), linkd::Error> {
        self.running.stop().await
    }

    /// Runs the real linkctl binary against this linkd.
    pub async fn linkctl(&self, args: &[&str]) -> Ctl {
        linkctl(&self.socket, args).await
    }

    /// The ids `linkctl list` shows, in its order (newest first).
    pub async fn listed_ids(&self) -> Vec<i64> {
        let list = self.linkctl(&["--json", "list"]).await;
        assert_eq!(list.code, 0, "{}", list.stderr);
        let list = list.json();
        let rows = list.as_array().unwrap().iter();
        rows.map(|v| v["id"].as_i64().unwrap()).collect()
    }

    /// Creates a link with linkctl and returns (id, token, url).
    pub async fn new_link(&self, args: &[&str]) -> (i64, String, String) {
        let mut all = vec!["--json", "new"];
        all.extend_from_slice(args);
        let out = self.linkctl(&all).await;
        assert_eq!(out.code, 0, "linkctl new failed: {}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let token = token_of(&v);
        let url = v["url"].as_str().unwrap().to_string();
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

impl Linkd {
    /// Opens a link's watch page as a browser with User-Agent `ua` that already has the
    /// device cookie pair `device` (`watch_device=...`), if any; returns the session cookie
    /// pair and the device cookie pair it is given.
    pub async fn open_as(&self, token: &str, device: Option<&str>, ua: &str) -> (String, String) {
        let url = self.url(&format!("/live/stream/{token}"));
        let r = request("GET", &url, device, &[("user-agent", ua)])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "watch page: {}", r.body_text());
        let pair = |name: &str| {
            r.headers
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
                .find(|p| p.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} cookie"))
        };
        (pair("watch_session="), pair("watch_device="))
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

/// The token at the end of a link's watch URL (`linkctl --json` output of one link).
pub fn token_of(link: &serde_json::Value) -> String {
    let url = link["url"].as_str().expect("a link has a URL");
    url.rsplit('/').next().unwrap().to_string()
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

/// The value of the sample `name` (with its labels, if it has any) in a metrics page.
pub fn sample(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in {page}"))
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

/// The real `linkd` binary running as a child process (for tests that kill it or signal it).
/// Logs are JSON on stderr, kept in `log`; the HTTP address comes from the `linkd ready` line.
pub struct LinkdProcess {
    pub child: std::process::Child,
    pub dir: PathBuf,
    pub db: PathBuf,
    pub socket: PathBuf,
    pub addr: SocketAddr,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LinkdProcess {
    /// Starts linkd with its database and socket in `dir`, HTTP on an ephemeral loopback port,
    /// `origin` as `MEDIAMTX_HLS_BASE_URL`, and `env` on top; waits until it is ready.
    pub async fn spawn(dir: &Path, origin: &str, env: &[(&str, &str)]) -> LinkdProcess {
        Self::spawn_on(dir, origin, env, None).await
    }

    /// [`LinkdProcess::spawn`], allowed to run only on the CPUs `cpus` (a `taskset -c` list)
    /// when given.
    pub async fn spawn_on(
        dir: &Path,
        origin: &str,
        env: &[(&str, &str)],
        cpus: Option<&str>,
    ) -> LinkdProcess {
        use std::io::BufRead;
        let db = dir.join("db.sqlite");
        let socket = dir.join("linkd.sock");
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut c = std::process::Command::new("taskset");
                c.args(["-c", cpus, env!("CARGO_BIN_EXE_linkd")]);
                c
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_linkd")),
        };
        cmd.env_clear()
            .env("BASE_URL", "http://127.0.0.1")
            .env("MEDIAMTX_HLS_BASE_URL", origin)
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("DB_PATH", &db)
            .env("RPC_SOCKET", &socket)
            .env("COOKIE_SECURE", "false")
            .env("HTTP_TRUSTED_PROXY_COUNT", "0")
            .env("PROBE_INTERVAL", "200ms")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("start linkd");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "linkd ready" {
                        if let Some(a) = v["http"].as_str().and_then(|a| a.parse().ok()) {
                            let _ = tx.send(a);
                        }
                    }
                }
                l2.lock().unwrap().push(line);
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let addr = loop {
            if let Ok(a) = rx.try_recv() {
                break a;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "linkd exited with {status} before it was ready: {:?}",
                    log.lock().unwrap()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "linkd was not ready within 15 s: {:?}",
                log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        LinkdProcess {
            child,
            dir: dir.to_path_buf(),
            db,
            socket,
            addr,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL of `path` on this linkd.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Runs the real linkctl binary against this linkd.
    pub async fn linkctl(&self, args: &[&str]) -> Ctl {
        linkctl(&self.socket, args).await
    }

    /// Sends `sig` (`TERM`, `KILL`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{sig} {}", self.pid());
    }

    /// Waits up to `limit` for linkd to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops linkd with SIGTERM and returns its exit code.
    pub async fn stop(mut self) -> Option<i32> {
        self.signal("TERM");
        let status = self
            .wait_exit(Duration::from_secs(20))
            .await
            .expect("linkd stops within 20 s of SIGTERM");
        status.code()
    }

    /// Open file descriptors of the process now.
    pub fn fds(&self) -> usize {
        fd_count(self.pid())
    }

    /// Whether a log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

impl Drop for LinkdProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Open file descriptors of process `pid` (from `/proc/<pid>/fd`).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident set size of process `pid` in KiB (from `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A loopback port that nothing listens on right now (for an origin that is not there yet).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
