//! linkd's configuration table: every variable with its default, parser, printer and doc
//! line, in the order the README documents them. A new variable is one entry here, one
//! field of [`super::Config`] and its `get`.

use crate::http::peers::{TrustedProxies, DEFAULT_TRUSTED_PROXIES};
use kit::config::{Spec, Var};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::Secret;

/// The table: what `--check-config` prints, what the README and `env.example` document.
pub const TABLE: &[&dyn Spec] = &[
    &HTTP_ADDR,
    &BASE_URL,
    &DB_PATH,
    &DATABASE_URL,
    &RPC_SOCKET,
    &MEDIAMTX_HLS_BASE_URL,
    &MEDIAMTX_READ_USER,
    &MEDIAMTX_READ_PASSWORD,
    &COOKIE_SECURE,
    &DEFAULT_LINK_TTL,
    &LINK_RETENTION,
    &SHUTDOWN_GRACE,
    &PROBE_INTERVAL,
    &HTTP_TRUSTED_PROXY_COUNT,
    &HTTP_TRUSTED_PROXIES,
    &HTTP_MAX_CONNECTIONS,
    &HTTP_MAX_CONNECTIONS_PER_CLIENT,
    &HTTP_SEND_TIMEOUT,
    &LOG_LEVEL,
    &LOG_FORMAT,
    &CACHE_BYTES,
    &METRICS_ADDR,
    &STREAM_TITLE,
    &AUDIT_RETENTION,
    &AUDIT_ADDRESS_PREFIX,
    &MEDIA_AUTH_ADDR,
    &RTMP_PUBLIC_URL,
    &MEDIA_CONTROL_URL,
    &MEDIAMTX_PUBLISH_USER,
    &MEDIAMTX_PUBLISH_PASSWORD,
    &GATE_NAME,
];

fn dur(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}
fn shown<T: ToString>(v: &T) -> String {
    v.to_string()
}

pub const HTTP_ADDR: Var<SocketAddr> = Var::new(
    "HTTP_ADDR",
    ":8080",
    parse_listen_addr,
    shown,
    "where the watch page and `/play` are served",
);
pub const BASE_URL: Var<String> = Var::new(
    "BASE_URL",
    "",
    |v| parse_http_url(v, "https://watch.example.org"),
    String::clone,
    "public base of watch URLs",
)
.required("https://watch.example.org");
pub const DB_PATH: Var<PathBuf> = Var::new(
    "DB_PATH",
    "./db.sqlite",
    |v| Ok(v.into()),
    |p| p.display().to_string(),
    "the SQLite database",
);
pub const DATABASE_URL: Var<Option<Secret>> = Var::new(
    "DATABASE_URL",
    "",
    parse_database_url,
    |u| {
        u.as_ref()
            .map(|u| crate::store::postgres::redact(u.expose()))
            .unwrap_or_default()
    },
    "PostgreSQL shared by several gates (`postgres://...`); empty = SQLite at DB_PATH",
)
.secret();
pub const RPC_SOCKET: Var<PathBuf> = Var::new(
    "RPC_SOCKET",
    proto::client::DEFAULT_SOCKET,
    |v| Ok(v.into()),
    |p| p.display().to_string(),
    "linkd's Unix socket",
);
pub const MEDIAMTX_HLS_BASE_URL: Var<String> = Var::new(
    "MEDIAMTX_HLS_BASE_URL",
    "",
    |v| parse_http_url(v, "http://127.0.0.1:8888/live/stream"),
    String::clone,
    "MediaMTX's HLS URL of the stream",
)
.required("http://127.0.0.1:8888/live/stream");
pub const MEDIAMTX_READ_USER: Var<Option<String>> = Var::new(
    "MEDIAMTX_READ_USER",
    "",
    |v| Ok((!v.is_empty()).then(|| v.to_string())),
    |u| u.clone().unwrap_or_default(),
    "reader user linkd sends to MediaMTX",
);
pub const MEDIAMTX_READ_PASSWORD: Var<Option<Secret>> = Var::new(
    "MEDIAMTX_READ_PASSWORD",
    "",
    |v| Ok((!v.is_empty()).then(|| Secret::new(v))),
    |p| p.as_ref().map(|_| "***".to_string()).unwrap_or_default(),
    "its password",
)
.secret();
pub const COOKIE_SECURE: Var<bool> = Var::new(
    "COOKIE_SECURE",
    "true",
    kit::env::parse_bool,
    shown,
    "mark the playback cookie `Secure`",
);
pub const DEFAULT_LINK_TTL: Var<Duration> = Var::new(
    "DEFAULT_LINK_TTL",
    "1h",
    parse_link_ttl,
    dur,
    "TTL of a link created without one; `0` = permanent",
);
// The Go service never deleted a link: keeping them is the default, deleting opt-in.
pub const LINK_RETENTION: Var<Duration> = Var::new(
    "LINK_RETENTION",
    "0",
    |v| parse_duration(v, true),
    dur,
    "how long ended links are kept; `0` = for ever",
);
pub const SHUTDOWN_GRACE: Var<Duration> = Var::new(
    "SHUTDOWN_GRACE",
    "10s",
    |v| parse_duration(v, true),
    dur,
    "how long in-flight requests may finish on SIGTERM",
);
pub const PROBE_INTERVAL: Var<Duration> = Var::new(
    "PROBE_INTERVAL",
    "2s",
    |v| {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(60));
        in_range(v, min, max, "out of range: use 100ms to 60s, e.g. 2s")
    },
    dur,
    "how often the origin is asked whether the stream is live",
);
pub const HTTP_TRUSTED_PROXY_COUNT: Var<u32> = Var::new(
    "HTTP_TRUSTED_PROXY_COUNT",
    "1",
    |v| {
        number(
            v,
            0,
            10,
            "not a number from 0 to 10 (0 = nothing in front of linkd)",
        )
    },
    shown,
    "reverse proxies in front that append `X-Forwarded-For`",
);
pub const HTTP_TRUSTED_PROXIES: Var<TrustedProxies> = Var::new(
    "HTTP_TRUSTED_PROXIES",
    DEFAULT_TRUSTED_PROXIES,
    TrustedProxies::parse,
    shown,
    "peers whose `X-Forwarded-For` is believed",
);
pub const HTTP_MAX_CONNECTIONS: Var<usize> = Var::new(
    "HTTP_MAX_CONNECTIONS",
    "16384",
    |v| number(v, 16, 1_000_000, "not a number from 16 to 1000000"),
    shown,
    "open HTTP connections at most",
);
pub const HTTP_MAX_CONNECTIONS_PER_CLIENT: Var<u32> = Var::new(
    "HTTP_MAX_CONNECTIONS_PER_CLIENT",
    "64",
    |v| number(v, 1, 1_000_000, "not a number from 1 to 1000000"),
    shown,
    "open connections at most per client",
);
pub const HTTP_SEND_TIMEOUT: Var<Duration> = Var::new(
    "HTTP_SEND_TIMEOUT",
    "60s",
    |v| {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        in_range(v, min, max, "out of range: use 1s to 60s, e.g. 60s")
    },
    dur,
    "how long a client may leave answers unread",
);
pub use kit::logging::{LOG_FORMAT, LOG_LEVEL};
pub const CACHE_BYTES: Var<usize> = Var::new(
    "CACHE_BYTES",
    "67108864",
    |v| {
        let hint = "not a byte count from 1048576 (1 MiB) to 17179869184 (16 GiB)";
        number(v, 1 << 20, 1 << 34, hint)
    },
    shown,
    "byte budget of the cache of stream files",
);
pub const METRICS_ADDR: Var<Option<SocketAddr>> = Var::new(
    "METRICS_ADDR",
    "",
    |v| match v {
        "" => Ok(None),
        v => parse_listen_addr(v).map(Some),
    },
    |a| a.map(|a| a.to_string()).unwrap_or_default(),
    "where `/metrics` is served; off unless set",
);
pub const STREAM_TITLE: Var<String> = Var::new(
    "STREAM_TITLE",
    "Live stream",
    parse_title,
    String::clone,
    "the heading viewers see on the watch page",
);

pub const AUDIT_RETENTION: Var<Duration> = Var::new(
    "AUDIT_RETENTION",
    "30d",
    |v| {
        let (min, max) = (Duration::from_secs(3600), Duration::from_secs(3650 * 86400));
        in_range(v, min, max, "out of range: use 1h to 3650d, e.g. 30d")
    },
    dur,
    "how long the audit trail (who changed a link, who watched) is kept",
);
pub const AUDIT_ADDRESS_PREFIX: Var<crate::audit::Prefixes> = Var::new(
    "AUDIT_ADDRESS_PREFIX",
    "24,48",
    crate::audit::Prefixes::parse,
    shown,
    "leading bits of a viewer's IPv4,IPv6 address the audit trail keeps; `0,0` = none",
);
pub const MEDIA_AUTH_ADDR: Var<Option<SocketAddr>> = Var::new(
    "MEDIA_AUTH_ADDR",
    "",
    |v| match v {
        "" => Ok(None),
        v => parse_listen_addr(v).map(Some),
    },
    |a| a.map(|a| a.to_string()).unwrap_or_default(),
    "where the media server asks who may publish and read; off unless set",
);
pub const RTMP_PUBLIC_URL: Var<Option<String>> = Var::new(
    "RTMP_PUBLIC_URL",
    "",
    |v| match v {
        "" => Ok(None),
        v => parse_rtmp_url(v).map(Some),
    },
    |u| u.clone().unwrap_or_default(),
    "the RTMP server OBS publishes to; empty = BASE_URL's host",
);
pub const MEDIA_CONTROL_URL: Var<Option<String>> = Var::new(
    "MEDIA_CONTROL_URL",
    "",
    |v| match v {
        "" => Ok(None),
        v => parse_http_url(v, "http://127.0.0.1:8081/control").map(Some),
    },
    |u| u.clone().unwrap_or_default(),
    "the media server's control API, to stop a publisher whose key was rotated",
);
pub const MEDIAMTX_PUBLISH_USER: Var<Option<String>> = Var::new(
    "MEDIAMTX_PUBLISH_USER",
    "",
    |v| Ok((!v.is_empty()).then(|| v.to_string())),
    |u| u.clone().unwrap_or_default(),
    "an earlier setup's static publish user, accepted until the first key rotation",
);
pub const MEDIAMTX_PUBLISH_PASSWORD: Var<Option<Secret>> = Var::new(
    "MEDIAMTX_PUBLISH_PASSWORD",
    "",
    |v| Ok((!v.is_empty()).then(|| Secret::new(v))),
    |p| p.as_ref().map(|_| "***".to_string()).unwrap_or_default(),
    "its password",
)
.secret();

pub const GATE_NAME: Var<String> = Var::new(
    "GATE_NAME",
    "",
    parse_gate_name,
    String::clone,
    "this gate's name in the shared state (presence, logs, status); empty = hostname:HTTP port",
);

/// Empty, or one line of at most 64 characters without spaces.
fn parse_gate_name(v: &str) -> Result<String, String> {
    if v.chars().count() > 64 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("use at most 64 characters without spaces, e.g. gate-2".into());
    }
    Ok(v.to_string())
}

/// Empty (SQLite), or a `postgres://` / `postgresql://` URL with a host or a database.
fn parse_database_url(v: &str) -> Result<Option<Secret>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    let rest = v
        .strip_prefix("postgres://")
        .or_else(|| v.strip_prefix("postgresql://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) => Ok(Some(Secret::new(v))),
        _ => Err("not a PostgreSQL URL, e.g. postgres://tempstream:PASSWORD@127.0.0.1:5432/tempstream; leave empty for SQLite at DB_PATH".into()),
    }
}

/// `rtmp://host[:port]/app` (or `rtmps://`), without a query; returned without trailing slash.
fn parse_rtmp_url(v: &str) -> Result<String, String> {
    const HINT: &str = "not an RTMP server URL, e.g. rtmp://stream.example.org:1935/live";
    let rest = v
        .strip_prefix("rtmp://")
        .or_else(|| v.strip_prefix("rtmps://"))
        .ok_or(HINT)?;
    let (host, app) = rest.split_once('/').ok_or(HINT)?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || "?#@".contains(c);
    if host.is_empty() || app.trim_matches('/').is_empty() || v.contains(bad) {
        return Err(HINT.into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// A whole number from `min` to `max`.
fn number<T: std::str::FromStr + PartialOrd>(
    v: &str,
    min: T,
    max: T,
    hint: &str,
) -> Result<T, String> {
    match v.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(hint.into()),
    }
}

/// A duration from `min` to `max`.
fn in_range(v: &str, min: Duration, max: Duration, hint: &str) -> Result<Duration, String> {
    let d = parse_duration(v, false)?;
    if d < min || d > max {
        return Err(hint.into());
    }
    Ok(d)
}

fn parse_title(v: &str) -> Result<String, String> {
    if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err("use one line of 1 to 100 characters, e.g. Sunday service".into());
    }
    Ok(v.to_string())
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

/// A duration in Go's syntax (`1.5h`, `90s`, `1h30m`) or humantime's (`2d`); zero (`0`,
/// `0s`) is allowed only when `zero_ok`.
pub fn parse_duration(v: &str, zero_ok: bool) -> Result<Duration, String> {
    let d = kit::env::parse_duration(v)?;
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
