//! Log output through tracing-subscriber: `LOG_LEVEL` as the filter, `LOG_FORMAT` text or JSON.
//!
//! Text has colours only when stderr is a terminal, and no timestamp under journald (which
//! stamps every line itself), so `journalctl` and files show clean lines.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

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
