//! A link's story and its audit events in words, the same for linkctl and botd (feature
//! `client`). Times and spans are written by the caller's own functions (its time zone, its
//! units); HTML escaping, where needed, is the caller's too.

use crate::{AuditEvent, AuditKind, LinkLog};

/// "opened 3 times from 2 devices, watched 1 h 12 min, last seen 18:40".
pub fn summary(
    log: &LinkLog,
    span: impl Fn(u64) -> String,
    clock: impl Fn(i64) -> String,
) -> String {
    if log.opened == 0 && log.watching_now == 0 {
        return "not opened yet".into();
    }
    let times = match log.opened {
        1 => "once".to_string(),
        n => format!("{n} times"),
    };
    let mut s = format!(
        "opened {times} from {}",
        count(log.devices, "device", "devices")
    );
    if log.watched_s > 0 {
        s.push_str(&format!(", watched {}", span(log.watched_s)));
    }
    match (log.watching_now, log.last_seen) {
        (0, Some(t)) => s.push_str(&format!(", last seen {}", clock(t))),
        (0, None) => {}
        (n, _) => s.push_str(&format!(", {} now", count(n, "viewer", "viewers"))),
    }
    s
}

/// One event without its time: "stopped watching · Firefox · 203.0.113.0/24 · device
/// 3fa2c1d0 · 1 h 2 min, 812 MB", "extended by chat 42 to 20:00".
pub fn event(
    e: &AuditEvent,
    span: impl Fn(u64) -> String,
    clock: impl Fn(i64) -> String,
) -> String {
    let mut s = match e.kind {
        AuditKind::Created => "created",
        AuditKind::Extended => "extended",
        AuditKind::Rotated => "given a new URL",
        AuditKind::Disabled => "switched off",
        AuditKind::Kicked => "viewers sent away",
        AuditKind::Opened => "opened",
        AuditKind::SessionStarted => "started watching",
        AuditKind::SessionEnded => "stopped watching",
    }
    .to_string();
    if let Some(a) = &e.actor {
        s.push_str(&format!(" by {a}"));
    }
    match (e.kind, e.expires_at) {
        (AuditKind::Created | AuditKind::Extended, Some(t)) => {
            s.push_str(&format!(", until {}", clock(t)))
        }
        (AuditKind::Created, None) => s.push_str(", permanent"),
        _ => {}
    }
    for part in [&e.browser, &e.client].into_iter().flatten() {
        s.push_str(&format!(" · {part}"));
    }
    if let Some(d) = &e.device {
        s.push_str(&format!(" · device {d}"));
    }
    if let (Some(secs), Some(bytes)) = (e.seconds, e.bytes) {
        s.push_str(&format!(" · {}, {}", span(secs), size(bytes)));
    }
    s
}

/// A byte count for people: `812 B`, `4.1 kB`, `81.2 MB`, `1.3 GB`.
pub fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < units.len() {
        v /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{v:.1} {}", units[unit]),
    }
}

fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Link, LinkState};

    fn log(opened: u32, devices: u32, watched_s: u64, watching_now: u32) -> LinkLog {
        LinkLog {
            link: Link {
                id: 3,
                url: String::new(),
                note: String::new(),
                created_at: 0,
                expires_at: None,
                state: LinkState::Active,
                disabled_at: None,
                viewers: watching_now,
                limits: Default::default(),
            },
            opened,
            devices,
            watched_s,
            last_seen: (opened > 0).then_some(67_200),
            watching_now,
            events: Vec::new(),
            now: 70_000,
        }
    }

    fn hm(t: i64) -> String {
        format!("{:02}:{:02}", t / 3600 % 24, t / 60 % 60)
    }

    fn span(s: u64) -> String {
        format!("{} h {} min", s / 3600, s / 60 % 60)
    }

    #[test]
    fn summaries() {
        let cases = [
            (log(0, 0, 0, 0), "not opened yet"),
            (
                log(3, 2, 4320, 0),
                "opened 3 times from 2 devices, watched 1 h 12 min, last seen 18:40",
            ),
            (
                log(1, 1, 0, 0),
                "opened once from 1 device, last seen 18:40",
            ),
            (
                log(2, 1, 600, 1),
                "opened 2 times from 1 device, watched 0 h 10 min, 1 viewer now",
            ),
        ];
        for (l, want) in cases {
            assert_eq!(summary(&l, span, hm), want);
        }
    }

    #[test]
    fn event_lines() {
        let mut e = AuditEvent {
            at: 0,
            link_id: 3,
            kind: AuditKind::Extended,
            actor: Some(Actor::Chat {
                chat_id: 42,
                user: Some("tempstream-bot".into()),
            }),
            expires_at: Some(72_000),
            client: None,
            browser: None,
            device: None,
            seconds: None,
            bytes: None,
        };
        assert_eq!(event(&e, span, hm), "extended by chat 42, until 20:00");
        e.kind = AuditKind::SessionEnded;
        e.actor = None;
        e.browser = Some("Firefox".into());
        e.client = Some("203.0.113.0/24".into());
        e.device = Some("3fa2c1d0".into());
        e.seconds = Some(3720);
        e.bytes = Some(812_400_000);
        assert_eq!(
            event(&e, span, hm),
            "stopped watching · Firefox · 203.0.113.0/24 · device 3fa2c1d0 · 1 h 2 min, 812.4 MB"
        );
        e.kind = AuditKind::Created;
        e.expires_at = None;
        e.actor = Some(Actor::User { name: "ana".into() });
        e.browser = None;
        e.client = None;
        e.device = None;
        e.seconds = None;
        assert_eq!(event(&e, span, hm), "created by user ana, permanent");
    }

    #[test]
    fn sizes() {
        for (n, want) in [
            (0, "0 B"),
            (999, "999 B"),
            (4_100, "4.1 kB"),
            (81_234_567, "81.2 MB"),
        ] {
            assert_eq!(size(n), want);
        }
    }
}
