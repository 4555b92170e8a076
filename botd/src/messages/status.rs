//! `/status` in words: the stream, viewers and links over every gate, the version, and the
//! state store when several gates share it or it does not answer.

use super::{clock, escape, span, Reply};
use crate::text::plural;
use chrono_tz::Tz;
use proto::Status;

/// `/status`.
pub fn status(s: &Status, tz: Tz) -> Reply {
    let state = if s.live {
        "🔴 <b>Live</b>"
    } else {
        "⚫ <b>Offline</b>"
    };
    let since = match s.live_since {
        Some(at) => format!(" since {} ({})", clock(at, s.now, tz), span(s.now - at)),
        None => String::new(),
    };
    Reply::text(format!(
        "{state}{since}\n👀 {}\n🔗 {}\ntempstream {}, up {}{}",
        plural(i64::from(s.viewers), "viewer", "viewers"),
        plural(i64::from(s.active_links), "active link", "active links"),
        escape(&s.version),
        span(s.uptime_s as i64),
        state_store(s, tz),
    ))
}

/// The state store's line of `/status`: only when links are shared by several gates or the
/// database does not answer (a single SQLite gate says nothing).
fn state_store(s: &Status, tz: Tz) -> String {
    let Some(st) = &s.state_store else {
        return String::new();
    };
    let name = st.backend.name();
    match (st.reachable, st.unreachable_since) {
        (false, Some(at)) => format!(
            "\n⚠️ {name} unreachable since {} ({}): links play on, changes fail",
            clock(at, s.now, tz),
            span(s.now - at)
        ),
        (false, None) => format!("\n⚠️ {name} unreachable: links play on, changes fail"),
        (true, _) if st.backend == proto::Backend::Postgres => format!(
            "\n🗄 {name}, {}",
            plural(i64::from(st.gates), "gate", "gates")
        ),
        (true, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    // 2024-05-01 16:30:00 UTC = 18:30 in Berlin.
    const T: i64 = 1_714_581_000;

    #[test]
    fn status_text() {
        let s = Status {
            live: true,
            live_since: Some(T - 3900),
            viewers: 1,
            active_links: 2,
            version: "0.1.0".into(),
            uptime_s: 7200,
            now: T,
            state_store: None,
        };
        let r = status(&s, Berlin);
        assert_eq!(
            r.text,
            "🔴 <b>Live</b> since 17:25 Europe/Berlin (1 h 5 min)\n👀 1 viewer\n🔗 2 active links\ntempstream 0.1.0, up 2 h"
        );
        let store = |backend, since: Option<i64>, gates| proto::StateStore {
            backend,
            reachable: since.is_none(),
            unreachable_since: since,
            gate: "gate-1".into(),
            gates,
        };
        // (state store, the line after the version)
        let cases = [
            (store(proto::Backend::Sqlite, None, 1), ""),
            (store(proto::Backend::Postgres, None, 3), "\n🗄 PostgreSQL, 3 gates"),
            (
                store(proto::Backend::Postgres, Some(T - 120), 3),
                "\n⚠️ PostgreSQL unreachable since 18:28 Europe/Berlin (2 min): links play on, changes fail",
            ),
        ];
        for (st, line) in cases {
            let s = Status {
                state_store: Some(st),
                ..s.clone()
            };
            let want = format!("tempstream 0.1.0, up 2 h{line}");
            assert!(
                status(&s, Berlin).text.ends_with(&want),
                "{}",
                status(&s, Berlin).text
            );
        }
    }
}
