//! Log output through tracing-subscriber: `LOG_LEVEL` as the filter, `LOG_FORMAT` text or JSON.
//!
//! Text has colours only when stderr is a terminal, and no timestamp under journald (which
//! stamps every line itself), so `journalctl` and files show clean lines.

use crate::config::Var;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` or `json`, in any case.
    pub fn parse(v: &str) -> Result<LogFormat, String> {
        match v.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("use text or json".into()),
        }
    }

    /// As written in the configuration.
    pub fn name(&self) -> String {
        match self {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        }
    }
}

/// A level name, or a tracing filter with directives (`linkd=debug,hyper=warn`).
pub fn parse_level(v: &str) -> Result<String, String> {
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
    EnvFilter::builder()
        .parse(v)
        .map(|_| v.to_string())
        .map_err(|_| hint.to_string())
}

/// `LOG_LEVEL`, the same in both daemons' tables.
pub const LOG_LEVEL: Var<String> = Var::new(
    "LOG_LEVEL",
    "info",
    parse_level,
    String::clone,
    "a level or a filter like `linkd=debug,info`",
);

/// `LOG_FORMAT`, the same in both daemons' tables.
pub const LOG_FORMAT: Var<LogFormat> = Var::new(
    "LOG_FORMAT",
    "text",
    LogFormat::parse,
    LogFormat::name,
    "`text` or `json`",
);

/// Whether stderr goes to the journal: systemd sets `JOURNAL_STREAM` for a unit whose
/// output is connected to it.
pub fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty())
}

/// Installs the global subscriber, writing to stderr.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::builder().parse_lossy(level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match (format, under_journald()) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_filters() {
        for (v, ok) in [
            ("debug", true),
            ("INFO", true),
            ("linkd=debug,hyper=warn", true),
            ("info,botd=debug", true),
            ("verbose", false),
            ("", false),
            ("info,[", false),
        ] {
            assert_eq!(parse_level(v).is_ok(), ok, "{v}");
        }
    }
}
