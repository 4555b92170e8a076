//! botd's configuration table: every variable with its default, parser, printer and doc
//! line, in the order of the README. A new variable is one entry here, one field of
//! [`super::Config`] and its `get`.

use super::{BotToken, Notify, Ttl};
use kit::config::{Spec, Var};
use std::path::PathBuf;
use std::time::Duration;

/// The table: what `--check-config` prints, what the README and `env.example` document.
pub const TABLE: &[&dyn Spec] = &[
    &TELEGRAM_BOT_TOKEN,
    &ALLOWED_CHAT_IDS,
    &RPC_SOCKET,
    &TIME_ZONE,
    &LINK_TTL_OPTIONS,
    &DEFAULT_LINK_TTL,
    &TELEGRAM_API_URL,
    &NOTIFY,
    &NOTIFY_DEBOUNCE,
    &KEY_MESSAGE_TTL,
    &LOG_LEVEL,
    &LOG_FORMAT,
];

pub const TELEGRAM_BOT_TOKEN: Var<BotToken> = Var::new(
    "TELEGRAM_BOT_TOKEN",
    "",
    // The value is a secret: describe it, never echo it.
    |v| {
        BotToken::parse(v).ok_or_else(|| {
            "not a bot token: expected digits, a colon and the secret, like 123456:ABC-DEF1234 (from @BotFather)".into()
        })
    },
    BotToken::to_string,
    "the bot's token from @BotFather",
)
.required("123456:ABC-DEF1234 (from @BotFather)")
.secret();
pub const ALLOWED_CHAT_IDS: Var<Vec<i64>> = Var::new(
    "ALLOWED_CHAT_IDS",
    "",
    |v| {
        let hint = "use comma-separated integers, e.g. 12345678,-100987654 (ask the bot /whoami)";
        let ids = list(v, |part| {
            part.parse::<i64>()
                .map_err(|_| format!("{part:?} is not a chat id: {hint}"))
        })?;
        match ids.is_empty() {
            true => Err(format!("no chat id: {hint}")),
            false => Ok(ids),
        }
    },
    |ids| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
    "chat ids allowed to control the bot",
)
.required("12345678,-100987654 (ask the bot /whoami)")
.list();
pub const RPC_SOCKET: Var<PathBuf> = Var::new(
    "RPC_SOCKET",
    proto::client::DEFAULT_SOCKET,
    |v| match v {
        "" => Err("empty: give the path of linkd's socket, e.g. ./linkd.sock".into()),
        v => Ok(v.into()),
    },
    |p| p.display().to_string(),
    "linkd's Unix socket",
);
pub const TIME_ZONE: Var<chrono_tz::Tz> = Var::new(
    "TIME_ZONE",
    "UTC",
    |v| {
        v.parse()
            .map_err(|_| "not an IANA time zone: use e.g. UTC, Europe/Berlin or Asia/Omsk".into())
    },
    |tz| tz.name().to_string(),
    "IANA zone for times in bot messages",
);
pub const LINK_TTL_OPTIONS: Var<Vec<Ttl>> = Var::new(
    "LINK_TTL_OPTIONS",
    "30m,1h,3h",
    |v| {
        list(v, |part| {
            Ttl::parse(part).map_err(|e| {
                format!("{e}; give comma-separated durations like 30m,1h,3h, or nothing for permanent links only")
            })
        })
    },
    |ttls| {
        ttls.iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(",")
    },
    "TTL buttons of `/new`",
)
.list();
pub const DEFAULT_LINK_TTL: Var<Option<Ttl>> = Var::new(
    "DEFAULT_LINK_TTL",
    "1h",
    |v| match Ttl::parse(v) {
        Ok(t) => Ok(Some(t)),
        // `0`, as the Go service allowed: links made without a lifetime are permanent.
        Err(_) if kit::env::parse_duration(v) == Ok(Duration::ZERO) => Ok(None),
        Err(e) => Err(format!("{e}, or 0 for permanent links")),
    },
    |t| {
        t.as_ref()
            .map_or_else(|| "0".to_string(), |t| t.text.clone())
    },
    "TTL of the reply keyboard's new link; `0` = permanent",
);
pub const TELEGRAM_API_URL: Var<url::Url> = Var::new(
    "TELEGRAM_API_URL",
    "https://api.telegram.org",
    |v| match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => Ok(u),
        _ => Err("not an http(s) URL: use e.g. https://api.telegram.org".into()),
    },
    url::Url::to_string,
    "Bot API server",
);
pub const NOTIFY: Var<Notify> = Var::new(
    "NOTIFY",
    "live,offline,opened",
    parse_notify,
    |n| n.names().join(","),
    "notifications sent to the allowed chats",
)
.list();
pub const NOTIFY_DEBOUNCE: Var<Duration> = Var::new(
    "NOTIFY_DEBOUNCE",
    "15s",
    |v| match kit::env::parse_duration(v) {
        Ok(d) if d <= Duration::from_secs(3600) => Ok(d),
        _ => Err("not a duration up to 1h: use e.g. 15s, 1m or 0 (announce at once)".into()),
    },
    |d| humantime::format_duration(*d).to_string(),
    "how long a stream change must hold before it is announced",
);
pub const KEY_MESSAGE_TTL: Var<Duration> = Var::new(
    "KEY_MESSAGE_TTL",
    "5m",
    |v| match kit::env::parse_duration(v) {
        Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err("not a duration from 1s to 1h: use e.g. 5m".into()),
    },
    |d| humantime::format_duration(*d).to_string(),
    "how long `/key`'s message stays in the chat before it deletes itself",
);
pub use kit::logging::{LOG_FORMAT, LOG_LEVEL};

/// Comma-separated items, blanks skipped, duplicates dropped; every bad item named.
fn list<T: PartialEq>(v: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match item(part) {
            Ok(t) if !out.contains(&t) => out.push(t),
            Ok(_) => {}
            Err(e) => bad.push(e),
        }
    }
    match bad.is_empty() {
        true => Ok(out),
        false => Err(bad.join("; ")),
    }
}

fn parse_notify(v: &str) -> Result<Notify, String> {
    let mut notify = Notify::default();
    let kinds = list(v, |part| {
        match part {
        "live" | "offline" | "opened" => Ok(part.to_string()),
        other => Err(format!(
            "{other:?} is not an event: use a comma-separated subset of live,offline,opened, or nothing"
        )),
    }
    })?;
    for kind in kinds {
        match kind.as_str() {
            "live" => notify.live = true,
            "offline" => notify.offline = true,
            _ => notify.opened = true,
        }
    }
    Ok(notify)
}
