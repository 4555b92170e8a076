//! linkd's configuration: environment variables over an optional TOML file (figment).
//!
//! Every value is checked once at start and every problem is reported together, each naming
//! the variable, the bad value and what would be valid; `main` then exits with 64 (EX_USAGE).

use crate::clock::Clock;
use crate::http::peers::TrustedProxies;
#[cfg(test)]
use crate::http::peers::DEFAULT_TRUSTED_PROXIES;
use limits::HttpLimits;

mod limits;
use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use figment::Figment;
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variables linkd reads, in the order they are documented.
pub const VARIABLES: &[&str] = &[
    "HTTP_ADDR",
    "BASE_URL",
    "DB_PATH",
    "RPC_SOCKET",
    "MEDIAMTX_HLS_BASE_URL",
    "MEDIAMTX_READ_USER",
    "MEDIAMTX_READ_PASSWORD",
    "COOKIE_SECURE",
    "DEFAULT_LINK_TTL",
    "LINK_RETENTION",
    "SHUTDOWN_GRACE",
    "PROBE_INTERVAL",
    "HTTP_TRUSTED_PROXY_COUNT",
    "HTTP_TRUSTED_PROXIES",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_MAX_CONNECTIONS_PER_CLIENT",
    "HTTP_SEND_TIMEOUT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "CACHE_BYTES",
    "METRICS_ADDR",
    "STREAM_TITLE",
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A value that must not be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// linkd's effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the watch page and `/play` are served (`HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// Public base of watch URLs, without a trailing slash (`BASE_URL`).
    pub base_url: String,
    /// The SQLite file (`DB_PATH`); its directory must exist.
    pub db_path: PathBuf,
    /// The RPC socket (`RPC_SOCKET`).
    pub rpc_socket: PathBuf,
    /// MediaMTX's HLS URL of the stream, without a trailing slash (`MEDIAMTX_HLS_BASE_URL`).
    pub mediamtx_hls_base_url: String,
    /// Reader user that linkd presents to MediaMTX (`MEDIAMTX_READ_USER`).
    pub mediamtx_read_user: Option<String>,
    /// Its password (`MEDIAMTX_READ_PASSWORD`).
    pub mediamtx_read_password: Option<Secret>,
    /// Whether the playback cookie is `Secure` (`COOKIE_SECURE`).
    pub cookie_secure: bool,
    /// TTL of a link created without one; zero makes such a link permanent (`DEFAULT_LINK_TTL`).
    pub default_link_ttl: Duration,
    /// How long ended links are kept before cleanup; zero, the default, keeps them
    /// (`LINK_RETENTION`).
    pub link_retention: Duration,
    /// How long in-flight requests may take to finish on shutdown (`SHUTDOWN_GRACE`).
    pub shutdown_grace: Duration,
    /// How often the origin is asked whether the stream is live (`PROBE_INTERVAL`).
    pub probe_interval: Duration,
    /// Reverse proxies in front that append to `X-Forwarded-For` (`HTTP_TRUSTED_PROXY_COUNT`).
    pub http_trusted_proxy_count: u32,
    /// Peers whose `X-Forwarded-For` is believed (`HTTP_TRUSTED_PROXIES`).
    pub http_trusted_proxies: TrustedProxies,
    /// Open connections at most, over all clients (`HTTP_MAX_CONNECTIONS`).
    pub http_max_connections: usize,
    /// Open connections at most per client not a trusted proxy (`HTTP_MAX_CONNECTIONS_PER_CLIENT`).
    pub http_max_connections_per_client: u32,
    /// How long a client may leave linkd's answer unread before it is cut (`HTTP_SEND_TIMEOUT`).
    pub http_send_timeout: Duration,
    /// tracing filter (`LOG_LEVEL`).
    pub log_level: String,
    /// Log line format (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Byte budget of the in-memory cache of origin answers (`CACHE_BYTES`).
    pub cache_bytes: usize,
    /// Where `/metrics` is served, if anywhere (`METRICS_ADDR`).
    pub metrics_addr: Option<SocketAddr>,
    /// The heading of the watch page, what viewers see (`STREAM_TITLE`).
    pub stream_title: String,
    /// Where "now" comes from; tests replace it.
    pub clock: Clock,
}

/// Everything wrong with a configuration, in the order the variables are documented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One line per problem, e.g. `DEFAULT_LINK_TTL=bogus: not a duration, e.g. 90m or 1h30m`.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problems):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The raw values as figment merged them, before any checking.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    http_addr: Option<Value>,
    base_url: Option<Value>,
    db_path: Option<Value>,
    rpc_socket: Option<Value>,
    mediamtx_hls_base_url: Option<Value>,
    mediamtx_read_user: Option<Value>,
    mediamtx_read_password: Option<Value>,
    cookie_secure: Option<Value>,
    default_link_ttl: Option<Value>,
    link_retention: Option<Value>,
    shutdown_grace: Option<Value>,
    probe_interval: Option<Value>,
    http_trusted_proxy_count: Option<Value>,
    http_trusted_proxies: Option<Value>,
    http_max_connections: Option<Value>,
    http_max_connections_per_client: Option<Value>,
    http_send_timeout: Option<Value>,
    log_level: Option<Value>,
    log_format: Option<Value>,
    cache_bytes: Option<Value>,
    metrics_addr: Option<Value>,
    stream_title: Option<Value>,
}

impl Config {
    /// Loads the configuration from an optional TOML file and the process environment
    /// (environment wins).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError {
                    problems: vec![format!("--config {}: no such file", path.display())],
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::raw().only(VARIABLES));
        Self::from_figment(figment)
    }

    /// Checks the values of `figment`; see [`Config::load`].
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let raw: Raw = figment.extract().map_err(|e| ConfigError {
            problems: e.into_iter().map(|e| e.to_string()).collect(),
        })?;
        let mut p = Problems::default();
        let http_addr = p.parse("HTTP_ADDR", &raw.http_addr, ":8080", parse_listen_addr);
        let base_url = match text(&raw.base_url) {
            None => {
                p.push("BASE_URL: required, e.g. https://watch.example.org".into());
                String::new()
            }
            Some(v) => p.check("BASE_URL", &v, parse_base_url(&v)),
        };
        let db_path = PathBuf::from(text(&raw.db_path).unwrap_or_else(|| "./db.sqlite".into()));
        let rpc_socket =
            PathBuf::from(text(&raw.rpc_socket).unwrap_or_else(|| "./linkd.sock".into()));
        let mediamtx_hls_base_url = match text(&raw.mediamtx_hls_base_url) {
            None => {
                p.push(
                    "MEDIAMTX_HLS_BASE_URL: required, e.g. http://127.0.0.1:8888/live/stream"
                        .into(),
                );
                String::new()
            }
            Some(v) => p.check("MEDIAMTX_HLS_BASE_URL", &v, parse_origin_url(&v)),
        };
        let mediamtx_read_user = text(&raw.mediamtx_read_user).filter(|s| !s.is_empty());
        let mediamtx_read_password = text(&raw.mediamtx_read_password)
            .filter(|s| !s.is_empty())
            .map(Secret);
        if mediamtx_read_user.is_some() != mediamtx_read_password.is_some() {
            p.push(
                "MEDIAMTX_READ_USER and MEDIAMTX_READ_PASSWORD: set both or neither".to_string(),
            );
        }
        let cookie_secure = p.parse("COOKIE_SECURE", &raw.cookie_secure, "true", parse_bool);
        let default_link_ttl = p.parse(
            "DEFAULT_LINK_TTL",
            &raw.default_link_ttl,
            "1h",
            parse_link_ttl,
        );
        // The Go service never deleted a link: keeping them is the default, deleting opt-in.
        let link_retention = p.parse("LINK_RETENTION", &raw.link_retention, "0", |v| {
            parse_duration(v, true)
        });
        let shutdown_grace = p.parse("SHUTDOWN_GRACE", &raw.shutdown_grace, "10s", |v| {
            parse_duration(v, true)
        });
        let probe_interval = p.parse("PROBE_INTERVAL", &raw.probe_interval, "2s", |v| {
            let d = parse_duration(v, false)?;
            if d < Duration::from_millis(100) || d > Duration::from_secs(60) {
                return Err("out of range: use 100ms to 60s, e.g. 2s".into());
            }
            Ok(d)
        });
        let http_trusted_proxy_count = p.parse(
            "HTTP_TRUSTED_PROXY_COUNT",
            &raw.http_trusted_proxy_count,
            "1",
            |v| match v.parse::<u32>() {
                Ok(n) if n <= 10 => Ok(n),
                _ => Err("not a number from 0 to 10 (0 = nothing in front of linkd)".into()),
            },
        );
        let limits = HttpLimits::check(&raw, &mut p);
        let log_level = p.parse("LOG_LEVEL", &raw.log_level, "info", parse_log_level);
        let log_format = p.parse("LOG_FORMAT", &raw.log_format, "text", |v| {
            match v.to_ascii_lowercase().as_str() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("use text or json".into()),
            }
        });
        let cache_bytes = p.parse("CACHE_BYTES", &raw.cache_bytes, "67108864", |v| match v
            .parse::<usize>()
        {
            Ok(n) if (1 << 20..=1 << 34).contains(&n) => Ok(n),
            _ => Err("not a byte count from 1048576 (1 MiB) to 17179869184 (16 GiB)".into()),
        });
        let metrics_addr = match text(&raw.metrics_addr).filter(|s| !s.is_empty()) {
            None => None,
            Some(_) => p
                .parse("METRICS_ADDR", &raw.metrics_addr, "", parse_listen_addr)
                .map(Some),
        };
        let stream_title = p.parse("STREAM_TITLE", &raw.stream_title, "Live stream", |v| {
            if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
                return Err("use one line of 1 to 100 characters, e.g. Sunday service".into());
            }
            Ok(v.to_string())
        });
        if !p.0.is_empty() {
            return Err(ConfigError { problems: p.0 });
        }
        Ok(Config {
            http_addr: http_addr.expect("checked"),
            base_url,
            db_path,
            rpc_socket,
            mediamtx_hls_base_url,
            mediamtx_read_user,
            mediamtx_read_password,
            cookie_secure: cookie_secure.expect("checked"),
            default_link_ttl: default_link_ttl.expect("checked"),
            link_retention: link_retention.expect("checked"),
            shutdown_grace: shutdown_grace.expect("checked"),
            probe_interval: probe_interval.expect("checked"),
            http_trusted_proxy_count: http_trusted_proxy_count.expect("checked"),
            http_trusted_proxies: limits.trusted_proxies.expect("checked"),
            http_max_connections: limits.max_connections.expect("checked"),
            http_max_connections_per_client: limits.max_per_client.expect("checked"),
            http_send_timeout: limits.send_timeout.expect("checked"),
            log_level: log_level.expect("checked"),
            log_format: log_format.expect("checked"),
            cache_bytes: cache_bytes.expect("checked"),
            metrics_addr: metrics_addr.flatten(),
            stream_title: stream_title.expect("checked"),
            clock: Clock::system(),
        })
    }

    /// A configuration for local use and tests: database and socket in `dir`, HTTP on an
    /// ephemeral loopback port, plain-HTTP cookies, an origin that is not there.
    pub fn local(dir: &Path) -> Config {
        Config {
            http_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            base_url: "http://127.0.0.1".into(),
            db_path: dir.join("db.sqlite"),
            rpc_socket: dir.join("linkd.sock"),
            mediamtx_hls_base_url: "http://127.0.0.1:9/live/stream".into(),
            mediamtx_read_user: None,
            mediamtx_read_password: None,
            cookie_secure: false,
            default_link_ttl: Duration::from_secs(3600),
            link_retention: Duration::ZERO,
            shutdown_grace: Duration::from_secs(10),
            probe_interval: Duration::from_secs(2),
            http_trusted_proxy_count: 0,
            http_trusted_proxies: TrustedProxies::default_ranges(),
            http_max_connections: 16384,
            http_max_connections_per_client: 64,
            http_send_timeout: Duration::from_secs(60),
            log_level: "info".into(),
            log_format: LogFormat::Text,
            cache_bytes: 64 << 20,
            metrics_addr: None,
            stream_title: "Live stream".into(),
            clock: Clock::system(),
        }
    }

    /// The effective configuration as `VARIABLE=value` lines, secrets masked.
    pub fn describe(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let lines = [
            ("HTTP_ADDR", self.http_addr.to_string()),
            ("BASE_URL", self.base_url.clone()),
            ("DB_PATH", self.db_path.display().to_string()),
            ("RPC_SOCKET", self.rpc_socket.display().to_string()),
            ("MEDIAMTX_HLS_BASE_URL", self.mediamtx_hls_base_url.clone()),
            (
                "MEDIAMTX_READ_USER",
                self.mediamtx_read_user.clone().unwrap_or_default(),
            ),
            (
                "MEDIAMTX_READ_PASSWORD",
                self.mediamtx_read_password
                    .as_ref()
                    .map(|_| "***".to_string())
                    .unwrap_or_default(),
            ),
            ("COOKIE_SECURE", self.cookie_secure.to_string()),
            ("DEFAULT_LINK_TTL", d(self.default_link_ttl)),
            ("LINK_RETENTION", d(self.link_retention)),
            ("SHUTDOWN_GRACE", d(self.shutdown_grace)),
            ("PROBE_INTERVAL", d(self.probe_interval)),
            (
                "HTTP_TRUSTED_PROXY_COUNT",
                self.http_trusted_proxy_count.to_string(),
            ),
            (
                "HTTP_TRUSTED_PROXIES",
                self.http_trusted_proxies.to_string(),
            ),
            (
                "HTTP_MAX_CONNECTIONS",
                self.http_max_connections.to_string(),
            ),
            (
                "HTTP_MAX_CONNECTIONS_PER_CLIENT",
                self.http_max_connections_per_client.to_string(),
            ),
            ("HTTP_SEND_TIMEOUT", d(self.http_send_timeout)),
            ("LOG_LEVEL", self.log_level.clone()),
            (
                "LOG_FORMAT",
                match self.log_format {
                    LogFormat::Text => "text".into(),
                    LogFormat::Json => "json".into(),
                },
            ),
            ("CACHE_BYTES", self.cache_bytes.to_string()),
            (
                "METRICS_ADDR",
                self.metrics_addr.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("STREAM_TITLE", self.stream_title.clone()),
        ];
        lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }
}

/// Collects problems while each variable is checked.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    fn check<T>(&mut self, var: &str, value: &str, result: Result<T, String>) -> T
    where
        T: Default,
    {
        match result {
            Ok(v) => v,
            Err(why) => {
                self.push(format!("{var}={value}: {why}"));
                T::default()
            }
        }
    }

    fn parse<T>(
        &mut self,
        var: &str,
        raw: &Option<Value>,
        default: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = text(raw).unwrap_or_else(|| default.to_string());
        match f(value.trim()) {
            Ok(v) => Some(v),
            Err(why) => {
                self.push(format!("{var}={value}: {why}"));
                None
            }
        }
    }
}

/// A figment value as the text a person wrote (numbers and booleans included).
fn text(value: &Option<Value>) -> Option<String> {
    match value.as_ref()? {
        Value::String(_, s) => Some(proto::env::unquote(s).to_string()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(_, n) => Some(
            n.to_u128()
                .map(|u| u.to_string())
                .or_else(|| n.to_i128().map(|i| i.to_string()))
                .or_else(|| n.to_f64().map(|f| f.to_string()))
                .unwrap_or_default(),
        ),
        Value::Empty(..) => Some(String::new()),
        other => Some(format!("{other:?}")),
    }
}

/// `:8080`, `0.0.0.0:8080`, `[::1]:8080` or `localhost:8080`.
pub fn parse_listen_addr(v: &str) -> Result<SocketAddr, String> {
    const HINT: &str = "not a listen address, e.g. :8080, 127.0.0.1:8080 or [::]:8080";
    if let Some(port) = v.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| HINT.to_string())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Some(port) = v.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| HINT.to_string())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    v.parse().map_err(|_| HINT.to_string())
}

/// An absolute http(s) URL with a host, no query or fragment; returned without trailing slash.
fn parse_http_url(v: &str, example: &str) -> Result<String, String> {
    let hint = || format!("not an http(s) URL, e.g. {example}");
    let uri: http::Uri = v.parse().map_err(|_| hint())?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(hint()),
    }
    let authority = uri.authority().ok_or_else(hint)?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(hint());
    }
    if uri.query().is_some() || v.contains('#') {
        return Err(format!("must not have a query or fragment, e.g. {example}"));
    }
    Ok(v.trim_end_matches('/').to_string())
}

fn parse_base_url(v: &str) -> Result<String, String> {
    parse_http_url(v, "https://watch.example.org")
}

fn parse_origin_url(v: &str) -> Result<String, String> {
    parse_http_url(v, "http://127.0.0.1:8888/live/stream")
}

fn parse_bool(v: &str) -> Result<bool, String> {
    proto::env::parse_bool(v)
}

/// A duration in Go's syntax (`1.5h`, `90s`, `1h30m`) or humantime's (`2d`); zero (`0`,
/// `0s`) is allowed only when `zero_ok`.
pub fn parse_duration(v: &str, zero_ok: bool) -> Result<Duration, String> {
    let d = proto::env::parse_duration(v)?;
    if d.is_zero() && !zero_ok {
        return Err("must be longer than zero, e.g. 90m or 1h30m".into());
    }
    Ok(d)
}

/// A link lifetime; `0` (as the Go service allowed) makes links created without one permanent.
fn parse_link_ttl(v: &str) -> Result<Duration, String> {
    let d = parse_duration(v, true)?;
    if d.is_zero() {
        return Ok(d);
    }
    if d.as_secs() < proto::MIN_TTL_SECS || d.as_secs() > proto::MAX_TTL_SECS {
        return Err(format!(
            "out of range: use 0 (permanent) or {}s to {}s (30 days), e.g. 1h",
            proto::MIN_TTL_SECS,
            proto::MAX_TTL_SECS
        ));
    }
    Ok(d)
}

/// A level name, or a tracing filter with directives (`linkd=debug,hyper=warn`).
pub fn parse_log_level(v: &str) -> Result<String, String> {
    const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];
    let hint = "use trace, debug, info, warn, error or off, or a filter like linkd=debug,info";
    if v.is_empty() {
        return Err(hint.into());
    }
    if !v.contains('=') && !v.contains(',') && !v.contains('[') {
        if LEVELS.contains(&v.to_ascii_lowercase().as_str()) {
            return Ok(v.to_ascii_lowercase());
        }
        return Err(hint.into());
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(v)
        .map(|_| v.to_string())
        .map_err(|_| hint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn figment(pairs: &[(&str, &str)]) -> Figment {
        let mut f = Figment::new();
        for (k, v) in pairs {
            f = f.merge(Serialized::default(&k.to_ascii_lowercase(), v));
        }
        f
    }

    const OK: &[(&str, &str)] = &[
        ("BASE_URL", "https://watch.example.org/"),
        ("MEDIAMTX_HLS_BASE_URL", "http://mediamtx:8888/live/stream"),
    ];

    #[test]
    fn defaults_follow_the_documented_table() {
        let c = Config::from_figment(figment(OK)).unwrap();
        assert_eq!(c.http_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.base_url, "https://watch.example.org");
        assert_eq!(c.db_path, PathBuf::from("./db.sqlite"));
        assert_eq!(c.rpc_socket, PathBuf::from("./linkd.sock"));
        assert!(c.cookie_secure);
        assert_eq!(c.default_link_ttl, Duration::from_secs(3600));
        assert_eq!(c.link_retention, Duration::ZERO, "ended links are kept");
        assert_eq!(c.http_trusted_proxy_count, 1);
        assert_eq!(c.http_trusted_proxies.to_string(), DEFAULT_TRUSTED_PROXIES);
        assert_eq!(c.http_max_connections, 16384);
        assert_eq!(c.http_max_connections_per_client, 64);
        assert_eq!(c.http_send_timeout, Duration::from_secs(60));
        assert_eq!(c.log_level, "info");
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn every_problem_is_listed_with_variable_value_and_hint() {
        let bad = [
            ("HTTP_ADDR", "nowhere"),
            ("DEFAULT_LINK_TTL", "bogus"),
            ("COOKIE_SECURE", "maybe"),
            ("LOG_LEVEL", "loud"),
            ("LOG_FORMAT", "xml"),
            ("HTTP_TRUSTED_PROXY_COUNT", "-1"),
            ("HTTP_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "many"),
            ("HTTP_SEND_TIMEOUT", "5m"),
            ("LINK_RETENTION", "forever"),
            ("MEDIAMTX_HLS_BASE_URL", "ftp://x"),
        ];
        let err = Config::from_figment(figment(&bad)).unwrap_err();
        let all = err.problems.join("\n");
        assert_eq!(err.problems.len(), bad.len() + 1, "{all}");
        assert!(
            all.contains("BASE_URL: required, e.g. https://watch.example.org"),
            "{all}"
        );
        assert!(
            all.contains(
                "DEFAULT_LINK_TTL=bogus: not a duration, e.g. 90s, 30m, 1h30m, 1.5h or 2d"
            ),
            "{all}"
        );
        for (var, value) in bad {
            assert!(
                all.contains(&format!("{var}={value}: ")),
                "{var} missing in {all}"
            );
        }
    }

    #[test]
    fn value_table() {
        // (variable, value, accepted)
        let cases = [
            ("HTTP_TRUSTED_PROXY_COUNT", "0", true),
            ("HTTP_TRUSTED_PROXY_COUNT", "11", false),
            ("HTTP_TRUSTED_PROXIES", "", true),
            ("HTTP_TRUSTED_PROXIES", "203.0.113.4, 2001:db8::/32", true),
            ("HTTP_TRUSTED_PROXIES", "caddy", false),
            ("HTTP_MAX_CONNECTIONS", "20000", true),
            ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "0", false),
            ("HTTP_SEND_TIMEOUT", "10s", true),
            ("HTTP_SEND_TIMEOUT", "500ms", false),
            ("HTTP_ADDR", ":9000", true),
            ("HTTP_ADDR", "127.0.0.1:9000", true),
            ("HTTP_ADDR", "[::1]:9000", true),
            ("HTTP_ADDR", ":99999", false),
            ("DEFAULT_LINK_TTL", "2s", true),
            ("DEFAULT_LINK_TTL", "0", true),
            ("DEFAULT_LINK_TTL", "1.5h", true),
            ("DEFAULT_LINK_TTL", "0.5s", false),
            ("DEFAULT_LINK_TTL", "-1h", false),
            ("SHUTDOWN_GRACE", "1h30m", true),
            ("PROBE_INTERVAL", "1.5s", true),
            ("PROBE_INTERVAL", "300ms", true),
            ("LINK_RETENTION", "7d", true),
            ("COOKIE_SECURE", "t", true),
            ("COOKIE_SECURE", "F", true),
            ("COOKIE_SECURE", "TRUE", true),
            ("BASE_URL", "\"https://watch.example.org\"", true),
            ("DEFAULT_LINK_TTL", "100000d", false),
            ("LINK_RETENTION", "0", true),
            ("LOG_LEVEL", "debug", true),
            ("LOG_LEVEL", "linkd=debug,hyper=warn", true),
            ("LOG_LEVEL", "verbose", false),
            ("LOG_FORMAT", "json", true),
            ("BASE_URL", "watch.example.org", false),
            ("BASE_URL", "https://user@watch.example.org", false),
            ("BASE_URL", "https://watch.example.org/tv", true),
            ("COOKIE_SECURE", "false", true),
            ("PROBE_INTERVAL", "10ms", false),
            ("STREAM_TITLE", "\"Sunday service\"", true),
            ("STREAM_TITLE", "two\nlines", false),
        ];
        for (var, value, accepted) in cases {
            let mut pairs: Vec<(&str, &str)> = OK.to_vec();
            pairs.retain(|(k, _)| *k != var);
            pairs.push((var, value));
            let r = Config::from_figment(figment(&pairs));
            assert_eq!(r.is_ok(), accepted, "{var}={value}: {r:?}");
        }
    }

    #[test]
    fn a_go_service_env_reads_as_it_meant() {
        let c = Config::from_figment(figment(&[
            ("BASE_URL", "\"https://watch.example.org\""),
            (
                "MEDIAMTX_HLS_BASE_URL",
                "\"http://mediamtx:8888/live/stream\"",
            ),
            ("DB_PATH", "\"/data/db.sqlite\""),
            ("COOKIE_SECURE", "f"),
            ("DEFAULT_LINK_TTL", "0"),
            ("SHUTDOWN_GRACE", "1.5s"),
        ]))
        .unwrap();
        assert_eq!(c.base_url, "https://watch.example.org");
        assert_eq!(c.mediamtx_hls_base_url, "http://mediamtx:8888/live/stream");
        assert_eq!(c.db_path, PathBuf::from("/data/db.sqlite"));
        assert!(!c.cookie_secure);
        assert_eq!(c.default_link_ttl, Duration::ZERO, "0 means permanent");
        assert_eq!(c.shutdown_grace, Duration::from_millis(1500));
    }

    #[test]
    fn numbers_and_booleans_from_toml_are_read_as_written() {
        let f = figment(OK)
            .merge(Serialized::default("http_trusted_proxy_count", 2))
            .merge(Serialized::default("cookie_secure", false));
        let c = Config::from_figment(f).unwrap();
        assert_eq!(c.http_trusted_proxy_count, 2);
        assert!(!c.cookie_secure);
    }

    #[test]
    fn describe_masks_the_read_password() {
        let mut pairs = OK.to_vec();
        pairs.push(("MEDIAMTX_READ_USER", "reader"));
        pairs.push(("MEDIAMTX_READ_PASSWORD", "hunter2"));
        let c = Config::from_figment(figment(&pairs)).unwrap();
        let d = c.describe();
        assert!(d.contains("MEDIAMTX_READ_PASSWORD=***"), "{d}");
        assert!(!d.contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
