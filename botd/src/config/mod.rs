//! botd's configuration: environment variables, optionally under a TOML file, read once.
//!
//! Every problem is collected and reported together, each naming the variable, the bad
//! value and what would be valid; `main` exits 64 (EX_USAGE) on any of them.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

mod values;

use values::text_of;
pub use values::{BotToken, LogFormat, Notify, Ttl};

use figment::{
    providers::{Env, Format, Toml},
    value::Value,
    Figment,
};

/// The variables botd reads, with their defaults (`None` = required).
const VARIABLES: &[(&str, Option<&str>)] = &[
    ("TELEGRAM_BOT_TOKEN", None),
    ("ALLOWED_CHAT_IDS", None),
    ("RPC_SOCKET", Some("./linkd.sock")),
    ("TIME_ZONE", Some("UTC")),
    ("LINK_TTL_OPTIONS", Some("30m,1h,3h")),
    ("DEFAULT_LINK_TTL", Some("1h")),
    ("TELEGRAM_API_URL", Some("https://api.telegram.org")),
    ("NOTIFY", Some("live,offline,opened")),
    ("NOTIFY_DEBOUNCE", Some("15s")),
    ("LOG_LEVEL", Some("info")),
    ("LOG_FORMAT", Some("text")),
];

/// The effective, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TELEGRAM_BOT_TOKEN`.
    pub telegram_bot_token: BotToken,
    /// `ALLOWED_CHAT_IDS`: the chats that may control the bot and get notifications.
    pub allowed_chat_ids: Vec<i64>,
    /// `RPC_SOCKET`: linkd's Unix socket.
    pub rpc_socket: PathBuf,
    /// `TIME_ZONE`: how times are shown.
    pub time_zone: chrono_tz::Tz,
    /// `LINK_TTL_OPTIONS`: the lifetimes offered by `/new`; empty = only permanent.
    pub link_ttl_options: Vec<Ttl>,
    /// `DEFAULT_LINK_TTL`: the lifetime of the "new link" button of the reply keyboard;
    /// `None` (the value `0`) when links made without a lifetime are permanent.
    pub default_link_ttl: Option<Ttl>,
    /// `TELEGRAM_API_URL`: the Bot API server.
    pub telegram_api_url: url::Url,
    /// `NOTIFY`: which events are announced.
    pub notify: Notify,
    /// `NOTIFY_DEBOUNCE`: how long the stream must stay live (or offline) before it is
    /// announced.
    pub notify_debounce: Duration,
    /// `LOG_LEVEL`: a level or a `RUST_LOG`-style filter.
    pub log_level: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

/// One bad variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong and what would be valid (the bad value is quoted where it is no secret).
    pub message: String,
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order of the variables.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.variable, p.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// The sources, lowest priority first: the TOML file (if any), then the environment.
    /// TOML keys are the variable names in lower case (`allowed_chat_ids = [1, 2]`).
    pub fn figment(file: Option<&std::path::Path>) -> Figment {
        let mut fig = Figment::new();
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        let names: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
        fig.merge(Env::raw().only(&names))
    }

    /// Reads and checks everything, reporting all problems at once.
    pub fn from_figment(fig: &Figment) -> Result<Config, ConfigError> {
        let raw: BTreeMap<String, Value> = fig.extract().map_err(|e| ConfigError {
            problems: vec![ConfigProblem {
                variable: "--config",
                message: e.to_string(),
            }],
        })?;
        let get = |name: &'static str| -> Result<Option<String>, ConfigProblem> {
            match raw.get(&name.to_ascii_lowercase()) {
                None => Ok(VARIABLES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, d)| d.map(str::to_string))),
                Some(v) => text_of(v).map(Some).ok_or_else(|| ConfigProblem {
                    variable: name,
                    message: "must be a string, a number or a list".into(),
                }),
            }
        };
        let mut problems = Vec::new();
        let mut field = |name: &'static str| -> String {
            match get(name) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    problems.push(ConfigProblem {
                        variable: name,
                        message: "is required".into(),
                    });
                    String::new()
                }
                Err(p) => {
                    problems.push(p);
                    String::new()
                }
            }
        };
        let token_s = field("TELEGRAM_BOT_TOKEN");
        let chats_s = field("ALLOWED_CHAT_IDS");
        let socket_s = field("RPC_SOCKET");
        let tz_s = field("TIME_ZONE");
        let ttls_s = field("LINK_TTL_OPTIONS");
        let default_ttl_s = field("DEFAULT_LINK_TTL");
        let api_s = field("TELEGRAM_API_URL");
        let notify_s = field("NOTIFY");
        let debounce_s = field("NOTIFY_DEBOUNCE");
        let level_s = field("LOG_LEVEL");
        let format_s = field("LOG_FORMAT");
        let missing: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        let mut bad = |variable: &'static str, message: String| {
            if !missing.contains(&variable) {
                problems.push(ConfigProblem { variable, message });
            }
        };

        let token = BotToken::parse(token_s.trim());
        if token.is_none() {
            // The value is a secret: describe it, never echo it.
            bad(
                "TELEGRAM_BOT_TOKEN",
                "is not a bot token: expected digits, a colon and the secret, like 123456:ABC-DEF1234 (from @BotFather)"
                    .into(),
            );
        }

        let mut chats = Vec::new();
        for part in chats_s.split(',').map(str::trim) {
            match part.parse::<i64>() {
                Ok(id) if !chats.contains(&id) => chats.push(id),
                Ok(_) => {}
                Err(_) => bad(
                    "ALLOWED_CHAT_IDS",
                    format!("{part:?} is not a chat id: use comma-separated integers, e.g. 12345678,-100987654 (ask the bot /whoami)"),
                ),
            }
        }

        let socket = PathBuf::from(socket_s.trim());
        if socket.as_os_str().is_empty() {
            bad(
                "RPC_SOCKET",
                "is empty: give the path of linkd's socket, e.g. ./linkd.sock".into(),
            );
        }

        let tz = tz_s.trim().parse::<chrono_tz::Tz>().ok();
        if tz.is_none() {
            bad(
                "TIME_ZONE",
                format!(
                    "{:?} is not an IANA time zone: use e.g. UTC, Europe/Berlin or Asia/Omsk",
                    tz_s.trim()
                ),
            );
        }

        let mut ttls: Vec<Ttl> = Vec::new();
        for part in ttls_s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match Ttl::parse(part) {
                Ok(t) if !ttls.contains(&t) => ttls.push(t),
                Ok(_) => {}
                Err(e) => bad(
                    "LINK_TTL_OPTIONS",
                    format!("{part:?} is not a lifetime ({e}): use comma-separated durations like 30m,1h,3h, or nothing for permanent links only"),
                ),
            }
        }

        let default_ttl = match Ttl::parse(&default_ttl_s) {
            Ok(t) => Some(Some(t)),
            // `0`, as the Go service allowed: links made without a lifetime are permanent.
            Err(_) if proto::env::parse_duration(&default_ttl_s) == Ok(Duration::ZERO) => {
                Some(None)
            }
            Err(e) => {
                bad(
                    "DEFAULT_LINK_TTL",
                    format!(
                        "{:?} is not a lifetime ({e}): use a duration like 30m, 1h or 2d, or 0 for permanent links",
                        default_ttl_s.trim()
                    ),
                );
                None
            }
        };

        let api = match url::Url::parse(api_s.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => Some(u),
            _ => {
                bad(
                    "TELEGRAM_API_URL",
                    format!(
                        "{:?} is not an http(s) URL: use e.g. https://api.telegram.org",
                        api_s.trim()
                    ),
                );
                None
            }
        };

        let mut notify = Notify::default();
        for part in notify_s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "live" => notify.live = true,
                "offline" => notify.offline = true,
                "opened" => notify.opened = true,
                other => bad(
                    "NOTIFY",
                    format!("{other:?} is not an event: use a comma-separated subset of live,offline,opened, or nothing"),
                ),
            }
        }

        let debounce = proto::env::parse_duration(&debounce_s)
            .ok()
            .filter(|d| *d <= Duration::from_secs(3600));
        if debounce.is_none() {
            bad(
                "NOTIFY_DEBOUNCE",
                format!(
                    "{:?} is not a duration up to 1h: use e.g. 15s, 1m or 0 (announce at once)",
                    debounce_s.trim()
                ),
            );
        }

        let level = level_s.trim().to_string();
        if tracing_subscriber::EnvFilter::try_new(&level).is_err() || level.is_empty() {
            bad(
                "LOG_LEVEL",
                format!("{level:?} is not a log filter: use error, warn, info, debug or trace, or a filter like info,botd=debug"),
            );
        }

        let format = match format_s.trim() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                bad(
                    "LOG_FORMAT",
                    format!("{other:?} is not a log format: use text or json"),
                );
                None
            }
        };

        if !problems.is_empty() {
            let order = |v: &str| VARIABLES.iter().position(|(n, _)| *n == v).unwrap_or(0);
            problems.sort_by_key(|p| order(p.variable));
            return Err(ConfigError { problems });
        }
        // Every `None` above added a problem, so these are all present.
        match (token, tz, default_ttl, api, format, debounce) {
            (Some(token), Some(tz), Some(default_ttl), Some(api), Some(format), Some(debounce)) => {
                Ok(Config {
                    telegram_bot_token: token,
                    allowed_chat_ids: chats,
                    rpc_socket: socket,
                    time_zone: tz,
                    link_ttl_options: ttls,
                    default_link_ttl: default_ttl,
                    telegram_api_url: api,
                    notify,
                    notify_debounce: debounce,
                    log_level: level,
                    log_format: format,
                })
            }
            _ => Err(ConfigError {
                problems: Vec::new(),
            }),
        }
    }

    /// The effective configuration as `NAME=value` lines, with the token masked.
    pub fn describe(&self) -> String {
        let ttls: Vec<&str> = self
            .link_ttl_options
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        let chats: Vec<String> = self.allowed_chat_ids.iter().map(i64::to_string).collect();
        [
            ("TELEGRAM_BOT_TOKEN", self.telegram_bot_token.to_string()),
            ("ALLOWED_CHAT_IDS", chats.join(",")),
            ("RPC_SOCKET", self.rpc_socket.display().to_string()),
            ("TIME_ZONE", self.time_zone.name().to_string()),
            ("LINK_TTL_OPTIONS", ttls.join(",")),
            (
                "DEFAULT_LINK_TTL",
                self.default_link_ttl
                    .as_ref()
                    .map_or_else(|| "0".to_string(), |t| t.text.clone()),
            ),
            ("TELEGRAM_API_URL", self.telegram_api_url.to_string()),
            ("NOTIFY", self.notify.names().join(",")),
            (
                "NOTIFY_DEBOUNCE",
                humantime::format_duration(self.notify_debounce).to_string(),
            ),
            ("LOG_LEVEL", self.log_level.clone()),
            (
                "LOG_FORMAT",
                match self.log_format {
                    LogFormat::Text => "text".into(),
                    LogFormat::Json => "json".into(),
                },
            ),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(&Figment::from(Toml::string(toml)))
    }

    const OK: &str =
        "telegram_bot_token = \"123456:AAbb-cc_DD\"\nallowed_chat_ids = \"1, -1002\"\n";

    #[test]
    fn defaults_apply() {
        let c = load(OK).unwrap();
        assert_eq!(c.allowed_chat_ids, vec![1, -1002]);
        assert_eq!(c.rpc_socket, PathBuf::from("./linkd.sock"));
        assert_eq!(c.time_zone, chrono_tz::UTC);
        let ttls: Vec<&str> = c.link_ttl_options.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(ttls, ["30m", "1h", "3h"]);
        assert_eq!(
            c.default_link_ttl.map(|t| t.duration),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(c.telegram_api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(
            c.notify,
            Notify {
                live: true,
                offline: true,
                opened: true
            }
        );
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.notify_debounce, Duration::from_secs(15));
    }

    #[test]
    fn toml_lists_and_numbers_are_accepted() {
        let c = load(
            "telegram_bot_token = \"1:x\"\nallowed_chat_ids = [5, -7]\nlink_ttl_options = []\nnotify = \"\"\ntime_zone = \"Europe/Berlin\"",
        )
        .unwrap();
        assert_eq!(c.allowed_chat_ids, vec![5, -7]);
        assert!(c.link_ttl_options.is_empty());
        assert_eq!(c.notify, Notify::default());
        assert_eq!(c.time_zone, chrono_tz::Europe::Berlin);
        let c = load("telegram_bot_token = \"1:x\"\nallowed_chat_ids = 42").unwrap();
        assert_eq!(c.allowed_chat_ids, vec![42]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = load(
            "telegram_bot_token = \"secretwithoutcolon\"\nallowed_chat_ids = \"1,abc\"\ntime_zone = \"Mars/Olympus\"\nlink_ttl_options = \"30m,soon\"\ndefault_link_ttl = \"-1h\"\ntelegram_api_url = \"ftp://x\"\nnotify = \"live,party\"\nlog_level = \"info,[\"\nlog_format = \"xml\"",
        )
        .unwrap_err();
        let vars: Vec<&str> = err.problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            vars,
            [
                "TELEGRAM_BOT_TOKEN",
                "ALLOWED_CHAT_IDS",
                "TIME_ZONE",
                "LINK_TTL_OPTIONS",
                "DEFAULT_LINK_TTL",
                "TELEGRAM_API_URL",
                "NOTIFY",
                "LOG_LEVEL",
                "LOG_FORMAT"
            ]
        );
        let text = err.to_string();
        for needle in [
            "\"abc\"",
            "Mars/Olympus",
            "\"soon\"",
            "\"party\"",
            "\"xml\"",
            "Europe/Berlin",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert!(!text.contains("secretwithoutcolon"), "{text}");
    }

    #[test]
    fn a_go_service_env_reads_as_it_meant() {
        let c = load(
            "telegram_bot_token = \"\\\"123:abc\\\"\"\nallowed_chat_ids = \"\\\"1,2\\\"\"\nlink_ttl_options = \"30m,1.5h,90s,1h30m\"\ndefault_link_ttl = \"0\"\ntime_zone = \"'Europe/Berlin'\"",
        )
        .unwrap();
        assert_eq!(c.telegram_bot_token.expose(), "123:abc");
        assert_eq!(c.allowed_chat_ids, vec![1, 2]);
        let secs: Vec<u64> = c
            .link_ttl_options
            .iter()
            .map(|t| t.duration.as_secs())
            .collect();
        assert_eq!(secs, [1800, 5400, 90, 5400]);
        assert_eq!(
            c.default_link_ttl, None,
            "0: links without a lifetime are permanent"
        );
        assert_eq!(c.time_zone, chrono_tz::Europe::Berlin);
        assert!(c.describe().contains("DEFAULT_LINK_TTL=0\n"));
    }

    #[test]
    fn required_variables_are_named() {
        let err = load("").unwrap_err();
        let vars: Vec<&str> = err.problems.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["TELEGRAM_BOT_TOKEN", "ALLOWED_CHAT_IDS"]);
        assert!(err.to_string().contains("is required"));
    }

    #[test]
    fn describe_masks_the_token() {
        let c = load(OK).unwrap();
        let d = c.describe();
        assert!(d.contains("TELEGRAM_BOT_TOKEN=123456:********"), "{d}");
        assert!(!d.contains("AAbb"), "{d}");
        assert!(!format!("{c:?}").contains("AAbb"));
        assert!(d.contains("ALLOWED_CHAT_IDS=1,-1002"));
    }
}
