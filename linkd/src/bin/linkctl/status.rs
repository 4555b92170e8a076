//! linkctl's `status` in words: the stream, viewers and links over every gate, linkd's
//! version, and the state store (which database, whether it answers, how many gates share it).

use super::relative;
use proto::{Backend, StateStore, Status};
use std::time::Duration;

/// The text of `status`.
pub fn text(s: &Status) -> String {
    let stream = match (s.live, s.live_since) {
        (true, Some(t)) => format!("live since {}", relative(t, s.now)),
        (true, None) => "live".into(),
        (false, Some(t)) => format!("offline since {}", relative(t, s.now)),
        (false, None) => "offline".into(),
    };
    let mut out = format!(
        "stream:        {stream}\nviewers:       {}\nactive links:  {}\nlinkd:         {} (up {})\n",
        s.viewers,
        s.active_links,
        s.version,
        humantime::format_duration(Duration::from_secs(s.uptime_s)),
    );
    if let Some(store) = &s.state_store {
        out.push_str(&format!("state store:   {}\n", state_store(store, s.now)));
    }
    out
}

/// `PostgreSQL, unreachable since 40s ago (gate gate-1, 3 gates)`, `SQLite`.
fn state_store(st: &StateStore, now: i64) -> String {
    let mut line = st.backend.name().to_string();
    match st.unreachable_since {
        Some(t) => line.push_str(&format!(", unreachable since {}", relative(t, now))),
        None if !st.reachable => line.push_str(", unreachable"),
        None => {}
    }
    if st.backend == Backend::Postgres {
        let gates = match st.gates {
            1 => "1 gate".to_string(),
            n => format!("{n} gates"),
        };
        line.push_str(&format!(" (gate {}, {gates})", st.gate));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (state store, line)
    #[test]
    fn state_store_table() {
        let st = |backend, reachable, since, gates| StateStore {
            backend,
            reachable,
            unreachable_since: since,
            gate: "gate-1".into(),
            gates,
        };
        let cases = [
            (st(Backend::Sqlite, true, None, 1), "SQLite"),
            (
                st(Backend::Postgres, true, None, 3),
                "PostgreSQL (gate gate-1, 3 gates)",
            ),
            (
                st(Backend::Postgres, false, Some(960), 1),
                "PostgreSQL, unreachable since 40s ago (gate gate-1, 1 gate)",
            ),
        ];
        for (store, want) in cases {
            assert_eq!(state_store(&store, 1000), want);
        }
    }
}
