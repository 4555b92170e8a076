//! linkd's configuration: environment variables over an optional TOML file (figment).
//!
//! The variables are a table (`vars`, read by `kit`'s loader): every value is checked once at
//! start and every problem is reported together, each naming the variable, the bad value and
//! what would be valid; `main` then exits with 64 (EX_USAGE).

use crate::clock::Clock;
use crate::http::peers::TrustedProxies;
#[cfg(test)]
use crate::http::peers::DEFAULT_TRUSTED_PROXIES;
use figment::Figment;
pub use kit::config::ConfigError;
pub use kit::logging::LogFormat;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod media;
pub mod vars;
pub use media::stream_path;
use media::{check_media_auth, rtmp_url, with_warnings};
pub use vars::TABLE;

/// The names of the variables linkd reads, in the order they are documented.
#[cfg(any(test, feature = "testing"))]
pub fn names() -> Vec<&'static str> {
    TABLE.iter().map(|v| v.name()).collect()
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
    /// PostgreSQL shared by several gates, instead of `db_path` (`DATABASE_URL`).
    pub database_url: Option<Secret>,
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
    /// How long the audit trail is kept (`AUDIT_RETENTION`).
    pub audit_retention: Duration,
    /// What the audit trail keeps of a viewer's address (`AUDIT_ADDRESS_PREFIX`).
    pub audit_address_prefix: crate::audit::Prefixes,
    /// Where the media server's authentication calls and hooks are answered
    /// (`MEDIA_AUTH_ADDR`); off when `None`.
    pub media_auth_addr: Option<SocketAddr>,
    /// The RTMP server OBS publishes to, e.g. `rtmp://stream.example.org:1935/live`
    /// (`RTMP_PUBLIC_URL`, else BASE_URL's host on port 1935 and the stream path's app).
    pub rtmp_public_url: String,
    /// The media server's control API (MediaMTX's API or nginx-rtmp's `rtmp_control`), to
    /// stop a publisher whose key was rotated (`MEDIA_CONTROL_URL`).
    pub media_control_url: Option<String>,
    /// An earlier setup's static publish user (`MEDIAMTX_PUBLISH_USER`).
    pub mediamtx_publish_user: Option<String>,
    /// Its password (`MEDIAMTX_PUBLISH_PASSWORD`), accepted until the first key rotation.
    pub mediamtx_publish_password: Option<Secret>,
    /// This gate's name in the shared state (`GATE_NAME`); empty = `<hostname>:<HTTP port>`.
    pub gate_name: String,
    /// Where "now" comes from; tests replace it.
    pub clock: Clock,
}

/// MediaMTX's reader user and password: both or neither.
fn check_read_pair(
    l: &mut kit::config::Loader,
    user: &Option<Option<String>>,
    password: &Option<Option<Secret>>,
) {
    if let (Some(user), Some(password)) = (user, password) {
        if user.is_some() != password.is_some() {
            l.problem(
                "MEDIAMTX_READ_USER and MEDIAMTX_READ_PASSWORD",
                "set both or neither",
            );
        }
    }
}

impl Config {
    /// Loads the configuration from an optional TOML file and the process environment
    /// (environment wins), with the effective values `--check-config` prints.
    pub fn load(file: Option<&Path>) -> kit::config::Load<Config> {
        Self::read(&kit::config::figment(file, TABLE)?)
    }

    /// Checks the values of `figment`; see [`Config::load`].
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        Self::read(&figment).map(|(c, _)| c)
    }

    /// Checks the values of `figment`, keeping the effective values.
    pub fn read(figment: &Figment) -> kit::config::Load<Config> {
        use vars::*;
        let mut l = kit::config::Loader::new(figment)?;
        let http_addr = l.get(&HTTP_ADDR);
        let base_url = l.get(&BASE_URL);
        let db_path = l.get(&DB_PATH);
        let database_url = l.get(&DATABASE_URL);
        let rpc_socket = l.get(&RPC_SOCKET);
        let mediamtx_hls_base_url = l.get(&MEDIAMTX_HLS_BASE_URL);
        let mediamtx_read_user = l.get(&MEDIAMTX_READ_USER);
        let mediamtx_read_password = l.get(&MEDIAMTX_READ_PASSWORD);
        check_read_pair(&mut l, &mediamtx_read_user, &mediamtx_read_password);
        let cookie_secure = l.get(&COOKIE_SECURE);
        let default_link_ttl = l.get(&DEFAULT_LINK_TTL);
        let link_retention = l.get(&LINK_RETENTION);
        let shutdown_grace = l.get(&SHUTDOWN_GRACE);
        let probe_interval = l.get(&PROBE_INTERVAL);
        let http_trusted_proxy_count = l.get(&HTTP_TRUSTED_PROXY_COUNT);
        let http_trusted_proxies = l.get(&HTTP_TRUSTED_PROXIES);
        let http_max_connections = l.get(&HTTP_MAX_CONNECTIONS);
        let http_max_connections_per_client = l.get(&HTTP_MAX_CONNECTIONS_PER_CLIENT);
        let http_send_timeout = l.get(&HTTP_SEND_TIMEOUT);
        let log_level = l.get(&LOG_LEVEL);
        let log_format = l.get(&LOG_FORMAT);
        let cache_bytes = l.get(&CACHE_BYTES);
        let metrics_addr = l.get(&METRICS_ADDR);
        let stream_title = l.get(&STREAM_TITLE);
        let audit_retention = l.get(&AUDIT_RETENTION);
        let audit_address_prefix = l.get(&AUDIT_ADDRESS_PREFIX);
        let media_auth_addr = l.get(&MEDIA_AUTH_ADDR);
        let rtmp_public_url = l.get(&RTMP_PUBLIC_URL);
        let media_control_url = l.get(&MEDIA_CONTROL_URL);
        let mediamtx_publish_user = l.get(&MEDIAMTX_PUBLISH_USER);
        let mediamtx_publish_password = l.get(&MEDIAMTX_PUBLISH_PASSWORD);
        let gate_name = l.get(&GATE_NAME);
        check_media_auth(&mut l, &media_auth_addr, &mediamtx_read_password);
        let rtmp_public_url = rtmp_url(rtmp_public_url, &base_url, &mediamtx_hls_base_url);
        with_warnings(l.finish((|| {
            Some(Config {
                http_addr: http_addr?,
                base_url: base_url?,
                db_path: db_path?,
                database_url: database_url?,
                rpc_socket: rpc_socket?,
                mediamtx_hls_base_url: mediamtx_hls_base_url?,
                mediamtx_read_user: mediamtx_read_user?,
                mediamtx_read_password: mediamtx_read_password?,
                cookie_secure: cookie_secure?,
                default_link_ttl: default_link_ttl?,
                link_retention: link_retention?,
                shutdown_grace: shutdown_grace?,
                probe_interval: probe_interval?,
                http_trusted_proxy_count: http_trusted_proxy_count?,
                http_trusted_proxies: http_trusted_proxies?,
                http_max_connections: http_max_connections?,
                http_max_connections_per_client: http_max_connections_per_client?,
                http_send_timeout: http_send_timeout?,
                log_level: log_level?,
                log_format: log_format?,
                cache_bytes: cache_bytes?,
                metrics_addr: metrics_addr?,
                stream_title: stream_title?,
                audit_retention: audit_retention?,
                audit_address_prefix: audit_address_prefix?,
                media_auth_addr: media_auth_addr?,
                rtmp_public_url: rtmp_public_url?,
                media_control_url: media_control_url?,
                mediamtx_publish_user: mediamtx_publish_user?,
                mediamtx_publish_password: mediamtx_publish_password?,
                gate_name: gate_name?,
                clock: Clock::system(),
            })
        })()))
    }

    /// Where the state lives: PostgreSQL when `DATABASE_URL` is set, else the SQLite file.
    pub fn db(&self) -> crate::store::Db {
        match &self.database_url {
            Some(url) => crate::store::Db::Postgres(url.clone()),
            None => crate::store::Db::Sqlite(self.db_path.clone()),
        }
    }

    /// A configuration for local use and tests: database and socket in `dir`, HTTP on an
    /// ephemeral loopback port, plain-HTTP cookies, an origin that is not there.
    pub fn local(dir: &Path) -> Config {
        Config {
            http_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            base_url: "http://127.0.0.1".into(),
            db_path: dir.join("db.sqlite"),
            database_url: None,
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
            audit_retention: Duration::from_secs(30 * 86400),
            audit_address_prefix: crate::audit::Prefixes::default(),
            media_auth_addr: None,
            rtmp_public_url: "rtmp://127.0.0.1:1935/live".into(),
            media_control_url: None,
            mediamtx_publish_user: None,
            mediamtx_publish_password: None,
            gate_name: String::new(),
            clock: Clock::system(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    pub(super) fn figment(pairs: &[(&str, &str)]) -> Figment {
        let mut f = Figment::new();
        for (k, v) in pairs {
            f = f.merge(Serialized::default(&k.to_ascii_lowercase(), v));
        }
        f
    }

    pub(super) const OK: &[(&str, &str)] = &[
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
            ("GATE_NAME", "gate 2"),
        ];
        let err = Config::from_figment(figment(&bad)).unwrap_err();
        let all = err.lines().join("\n");
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
            ("MEDIA_AUTH_ADDR", "", true),
            ("MEDIA_AUTH_ADDR", "mediamtx", false),
            (
                "RTMP_PUBLIC_URL",
                "rtmp://stream.example.org:1935/live",
                true,
            ),
            ("RTMP_PUBLIC_URL", "rtmps://stream.example.org/live/", true),
            ("RTMP_PUBLIC_URL", "https://stream.example.org/live", false),
            ("RTMP_PUBLIC_URL", "rtmp://stream.example.org", false),
            ("RTMP_PUBLIC_URL", "rtmp://h/live?key=1", false),
            ("MEDIA_CONTROL_URL", "http://127.0.0.1:8081/control", true),
            ("MEDIA_CONTROL_URL", "127.0.0.1:8081", false),
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
        pairs.push(("MEDIAMTX_PUBLISH_PASSWORD", "hunter3"));
        let (c, effective) = Config::read(&figment(&pairs)).unwrap();
        let d = effective.to_string();
        assert!(d.contains("MEDIAMTX_READ_PASSWORD=***"), "{d}");
        assert!(d.contains("MEDIAMTX_PUBLISH_PASSWORD=***"), "{d}");
        assert!(!d.contains("hunter2") && !d.contains("hunter3"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn database_url_is_postgres_and_its_password_is_masked() {
        let mut pairs = OK.to_vec();
        pairs.push(("DATABASE_URL", "postgres://ts:hunter4@127.0.0.1:5432/ts"));
        let (c, effective) = Config::read(&figment(&pairs)).unwrap();
        let d = effective.to_string();
        assert!(
            d.contains("DATABASE_URL=postgres://ts:***@127.0.0.1:5432/ts"),
            "{d}"
        );
        assert!(!d.contains("hunter4") && !format!("{c:?}").contains("hunter4"));
        assert!(matches!(c.db(), crate::store::Db::Postgres(_)));
        let mut pairs = OK.to_vec();
        pairs.push(("DATABASE_URL", "mysql://ts:hunter5@db/ts"));
        let e = Config::read(&figment(&pairs)).unwrap_err().to_string();
        assert!(e.contains("DATABASE_URL") && !e.contains("hunter5"), "{e}");
    }
}

#[cfg(test)]
mod docs {
    #[test]
    fn readme_and_env_example_follow_the_table() {
        kit::docs::assert_documented("linkd", super::TABLE, env!("CARGO_MANIFEST_DIR"));
    }
}
