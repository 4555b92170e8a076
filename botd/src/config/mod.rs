//! botd's configuration: environment variables, optionally under a TOML file, read once.
//!
//! Every problem is collected and reported together, each naming the variable, the bad
//! value and what would be valid; `main` exits 64 (EX_USAGE) on any of them.

use std::{path::Path, path::PathBuf, time::Duration};

mod values;
pub mod vars;

pub use kit::config::{ConfigError, Effective, Problem};
pub use kit::logging::LogFormat;
pub use values::{BotToken, Notify, Ttl};
pub use vars::TABLE;

use figment::Figment;

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
    /// `KEY_MESSAGE_TTL`: how long the message with the stream key stays in the chat.
    pub key_message_ttl: Duration,
    /// `LOG_LEVEL`: a level or a `RUST_LOG`-style filter.
    pub log_level: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl Config {
    /// Reads the TOML file (if any; keys are the variable names in lower case,
    /// `allowed_chat_ids = [1, 2]`) under the environment, with the effective values
    /// `--check-config` prints.
    pub fn load(file: Option<&Path>) -> kit::config::Load<Config> {
        Self::read(&kit::config::figment(file, TABLE)?)
    }

    /// Reads and checks everything, reporting all problems at once.
    pub fn from_figment(fig: &Figment) -> Result<Config, ConfigError> {
        Self::read(fig).map(|(c, _)| c)
    }

    /// Reads and checks everything, keeping the effective values.
    pub fn read(fig: &Figment) -> kit::config::Load<Config> {
        use vars::*;
        let mut l = kit::config::Loader::new(fig)?;
        let telegram_bot_token = l.get(&TELEGRAM_BOT_TOKEN);
        let allowed_chat_ids = l.get(&ALLOWED_CHAT_IDS);
        let rpc_socket = l.get(&RPC_SOCKET);
        let time_zone = l.get(&TIME_ZONE);
        let link_ttl_options = l.get(&LINK_TTL_OPTIONS);
        let default_link_ttl = l.get(&DEFAULT_LINK_TTL);
        let telegram_api_url = l.get(&TELEGRAM_API_URL);
        let notify = l.get(&NOTIFY);
        let notify_debounce = l.get(&NOTIFY_DEBOUNCE);
        let key_message_ttl = l.get(&KEY_MESSAGE_TTL);
        let log_level = l.get(&LOG_LEVEL);
        let log_format = l.get(&LOG_FORMAT);
        l.finish((|| {
            Some(Config {
                telegram_bot_token: telegram_bot_token?,
                allowed_chat_ids: allowed_chat_ids?,
                rpc_socket: rpc_socket?,
                time_zone: time_zone?,
                link_ttl_options: link_ttl_options?,
                default_link_ttl: default_link_ttl?,
                telegram_api_url: telegram_api_url?,
                notify: notify?,
                notify_debounce: notify_debounce?,
                key_message_ttl: key_message_ttl?,
                log_level: log_level?,
                log_format: log_format?,
            })
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use figment::providers::{Format, Toml};

    fn load(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(&Figment::from(Toml::string(toml)))
    }

    fn describe(toml: &str) -> String {
        let (_, effective) = Config::read(&Figment::from(Toml::string(toml))).unwrap();
        effective.to_string()
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
            "LOG_FORMAT=xml",
            "Europe/Berlin",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert!(!text.contains("secretwithoutcolon"), "{text}");
    }

    #[test]
    fn a_go_service_env_reads_as_it_meant() {
        let go_env = "telegram_bot_token = \"\\\"123:abc\\\"\"\nallowed_chat_ids = \"\\\"1,2\\\"\"\nlink_ttl_options = \"30m,1.5h,90s,1h30m\"\ndefault_link_ttl = \"0\"\ntime_zone = \"'Europe/Berlin'\"";
        let c = load(go_env).unwrap();
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
        assert!(describe(go_env).contains("DEFAULT_LINK_TTL=0\n"));
    }

    #[test]
    fn required_variables_are_named() {
        let err = load("").unwrap_err();
        let vars: Vec<&str> = err.problems.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["TELEGRAM_BOT_TOKEN", "ALLOWED_CHAT_IDS"]);
        assert!(err.to_string().contains("TELEGRAM_BOT_TOKEN: required"));
    }

    #[test]
    fn describe_masks_the_token() {
        let c = load(OK).unwrap();
        let d = describe(OK);
        assert!(d.contains("TELEGRAM_BOT_TOKEN=123456:********"), "{d}");
        assert!(!d.contains("AAbb"), "{d}");
        assert!(!format!("{c:?}").contains("AAbb"));
        assert!(d.contains("ALLOWED_CHAT_IDS=1,-1002"));
    }
}

#[cfg(test)]
mod docs {
    #[test]
    fn readme_and_env_example_follow_the_table() {
        kit::docs::assert_documented("botd", super::TABLE, env!("CARGO_MANIFEST_DIR"));
    }
}
