//! Test support: the fake Bot API, the real linkd in-process on a temp socket, a tiny HLS
//! origin whose liveness a test flips, botd itself, and a capture of every log line.

#![allow(dead_code)]

pub mod fake_telegram;

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use fake_telegram::{Call, FakeTelegram};
use http_body_util::Full;
use hyper::{server::conn::http1, service::service_fn, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kit::sync::lock;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::oneshot,
    task::JoinHandle,
};

/// The token every test bot uses; it must never show up in a log line.
pub const TOKEN: &str = "123456:AAHsecretTOKENvalue-for_tests";
/// The operator's chat.
pub const OPERATOR: i64 = 1001;
/// A second allowed chat (a group).
pub const GROUP: i64 = -1002;
/// A chat that is not allowed.
pub const STRANGER: i64 = 666;

/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(15);

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Captured> = OnceLock::new();

/// Installs (once per test binary) a subscriber that keeps every log line at debug level,
/// including those of the `log` crate (teloxide).
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,linkd=off,hyper=info,h2=info,rustls=info",
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("install the log capture");
        captured
    });
}

/// Everything logged so far in this test binary.
pub fn logs() -> String {
    let captured = LOGS.get().expect("capture_logs was called");
    String::from_utf8_lossy(&lock(&captured.0)).into_owned()
}

/// Asserts that no log line holds the bot token or the secret part of a watch URL the bot sent;
/// returns how many link tokens were checked.
pub fn assert_no_secrets(tg: &FakeTelegram) -> usize {
    let logs = logs();
    assert!(!logs.is_empty(), "nothing was logged at all");
    assert!(!logs.contains(TOKEN), "the bot token was logged");
    assert!(
        !logs.contains("AAHsecretTOKENvalue"),
        "the secret part of the bot token was logged"
    );
    let mut tokens = 0;
    for call in tg.calls() {
        for url_token in link_tokens(call.text()) {
            tokens += 1;
            assert!(
                !logs.contains(&url_token),
                "a link token was logged: {url_token}"
            );
        }
    }
    tokens
}

/// The secret parts of the watch URLs in a text.
pub fn link_tokens(text: &str) -> Vec<String> {
    text.match_indices("/live/stream/")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|t| t.len() >= 8)
        .collect()
}

/// The first watch URL in a text.
pub fn first_url(text: &str) -> Option<String> {
    let start = text.find("http://127.0.0.1/live/stream/")?;
    let tail = &text[start..];
    let end = tail.find('<').unwrap_or(tail.len());
    Some(tail[..end].to_string())
}

/// A loopback HLS origin: `GET /live/stream/index.m3u8` is 200 while live, 404 otherwise.
pub struct Origin {
    pub addr: SocketAddr,
    live: Arc<AtomicBool>,
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("addr");
        let live = Arc::new(AtomicBool::new(false));
        let flag = live.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let flag = flag.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        let live = flag.load(Ordering::SeqCst);
                        async move {
                            let (status, body) = if live {
                                (StatusCode::OK, "#EXTM3U\n#EXT-X-VERSION:3\n")
                            } else {
                                (StatusCode::NOT_FOUND, "not found")
                            };
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/vnd.apple.mpegurl")
                                .body(Full::new(Bytes::from(body)))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Origin { addr, live }
    }

    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::SeqCst);
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/live/stream", self.addr)
    }
}

/// The real linkd, running in this process.
pub struct Linkd {
    pub http_addr: SocketAddr,
    pub socket: PathBuf,
    running: linkd::testing::Running,
}

impl Linkd {
    /// Starts linkd with its database and socket in `dir`.
    pub async fn start(dir: &Path, origin: &Origin) -> Linkd {
        let mut cfg = linkd::Config::local(dir);
        cfg.mediamtx_hls_base_url = origin.base_url();
        cfg.probe_interval = Duration::from_millis(200);
        cfg.shutdown_grace = Duration::from_secs(1);
        let running = linkd::testing::Running::start(cfg).await;
        Linkd {
            http_addr: running.http_addr,
            socket: running.socket.clone(),
            running,
        }
    }

    /// Stops linkd and waits until it has returned.
    pub async fn stop(mut self) {
        self.running.stop().await.expect("linkd ran cleanly");
    }

    /// A client of its API, for checking what the bot did.
    pub async fn client(&self) -> proto::LinkApiClient {
        proto::connect(&self.socket)
            .await
            .expect("connect to linkd")
    }

    /// Opens a watch URL like a browser would (the page, then the stream with the page's
    /// session, which is when the link counts as opened); returns the page's status line.
    pub async fn open(&self, url: &str) -> String {
        let path = url
            .strip_prefix("http://127.0.0.1")
            .expect("a local watch url");
        let page = self.http_get(path, "").await;
        let cookie = page
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: watch_session="))
            .and_then(|v| v.split(';').next())
            .map(|v| format!("Cookie: watch_session={v}\r\n"))
            .unwrap_or_default();
        if !cookie.is_empty() {
            self.http_get("/play/index.m3u8", &cookie).await;
        }
        page.lines().next().unwrap_or("").to_string()
    }

    /// The whole answer to a GET of `path` with extra header lines.
    async fn http_get(&self, path: &str, headers: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(self.http_addr)
            .await
            .expect("connect http");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// botd, running in this process.
pub struct Bot {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), botd::Error>>>,
}

/// A configuration pointing at the fake Bot API and `socket`.
pub fn config(tg: &FakeTelegram, socket: &Path, extra_toml: &str) -> botd::Config {
    use figment::providers::{Format, Toml};
    // Stream changes are announced after 300 ms here, not the 15 s of the default.
    let debounce = if extra_toml.contains("notify_debounce") {
        ""
    } else {
        "notify_debounce = \"300ms\"\n"
    };
    let toml = format!(
        "telegram_bot_token = {TOKEN:?}\nallowed_chat_ids = [{OPERATOR}, {GROUP}]\nrpc_socket = {:?}\ntelegram_api_url = {:?}\n{debounce}{extra_toml}",
        socket.display().to_string(),
        tg.url(),
    );
    botd::Config::from_figment(&figment::Figment::from(Toml::string(&toml)))
        .expect("valid test config")
}

impl Bot {
    /// Starts botd and waits until it polls for updates.
    pub async fn start(tg: &FakeTelegram, config: botd::Config) -> Bot {
        let (stop, stopped) = oneshot::channel::<()>();
        let since = tg.mark();
        let task = tokio::spawn(botd::run(config, async move {
            let _ = stopped.await;
        }));
        // getMe comes right before the first getUpdates: the dispatcher is then running.
        tg.wait_method(since, "getMe").await;
        Bot {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks botd to stop and asserts it returns Ok within the deadline.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let r = tokio::time::timeout(WAIT, task)
                .await
                .expect("botd stops in time");
            r.expect("botd task").expect("botd ran cleanly");
        }
    }
}

/// Sends `text` from `chat` and returns the bot's first message to `chat` after it.
pub async fn ask(tg: &FakeTelegram, chat: i64, text: &str) -> Call {
    let since = tg.mark();
    tg.send_text(chat, text);
    let answer = tg
        .wait_for(since, WAIT, |c| {
            c.method == "sendMessage" && c.chat() == Some(chat) && !is_keyboard_refresh(c)
        })
        .await
        .unwrap_or_else(|e| panic!("no answer to {text:?}: {e}"));
    assert_operator_language(answer.text());
    answer
}

/// A reply speaks of the streaming service, not of the programs behind it.
pub fn assert_operator_language(text: &str) {
    let mut rest = text.to_string();
    for token in link_tokens(text) {
        rest = rest.replace(&token, "");
    }
    let lower = rest.to_lowercase();
    for word in ["linkd", "botd", "rpc"] {
        assert!(!lower.contains(word), "{word:?} in a reply: {text}");
    }
}

/// The message that puts the current reply keyboard in place, sent once per chat after the
/// first answer when that answer has buttons of its own: not an answer to anything.
pub fn is_keyboard_refresh(c: &Call) -> bool {
    c.text().starts_with("⌨️")
}

/// Like [`ask`], but waits for `expected` messages to `chat` and returns them all.
pub async fn ask_many(tg: &FakeTelegram, chat: i64, text: &str, expected: usize) -> Vec<Call> {
    let since = tg.mark();
    tg.send_text(chat, text);
    let deadline = Instant::now() + WAIT;
    loop {
        let mark = tg.mark();
        let got: Vec<Call> = tg
            .calls()
            .into_iter()
            .skip(since)
            .filter(|c| {
                c.method == "sendMessage" && c.chat() == Some(chat) && !is_keyboard_refresh(c)
            })
            .collect();
        if got.len() >= expected {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} answers to {text:?}",
            got.len()
        );
        let _ = tg.wait_for(mark, Duration::from_secs(1), |_| true).await;
    }
}
