//! A link's story from its audit rows and its live sessions: how often and on how many
//! devices it was opened, how long it was watched, when a viewer was last seen.

use proto::{AuditEvent, AuditKind, Viewer};
use std::collections::HashSet;

/// The figures of a [`proto::LinkLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Story {
    /// Page openings with a session.
    pub opened: u32,
    /// Distinct devices that opened it or played.
    pub devices: u32,
    /// Seconds watched: ended sessions, and live ones so far.
    pub watched_s: u64,
    /// The last request of a viewer.
    pub last_seen: Option<i64>,
    /// Live sessions.
    pub watching_now: u32,
}

/// The story of one link from all its audit rows (any order) and its live sessions.
pub fn tell(events: &[AuditEvent], live: &[Viewer]) -> Story {
    let mut s = Story::default();
    let mut devices = HashSet::new();
    for e in events {
        match e.kind {
            AuditKind::Opened => s.opened += 1,
            AuditKind::SessionEnded => {
                s.watched_s += e.seconds.unwrap_or(0);
                s.last_seen = s.last_seen.max(Some(e.at));
            }
            _ => {}
        }
        if matches!(e.kind, AuditKind::Opened | AuditKind::SessionStarted) {
            if let Some(d) = &e.device {
                devices.insert(d.as_str());
            }
        }
    }
    for v in live {
        s.watched_s += (v.last_seen - v.since).max(0) as u64;
        s.last_seen = s.last_seen.max(Some(v.last_seen));
        s.watching_now += 1;
        if let Some(d) = &v.device {
            devices.insert(d.as_str());
        }
    }
    s.devices = devices.len() as u32;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: i64, kind: AuditKind, device: Option<&str>, seconds: Option<u64>) -> AuditEvent {
        AuditEvent {
            at,
            link_id: 1,
            kind,
            actor: None,
            expires_at: None,
            client: None,
            browser: None,
            device: device.map(String::from),
            seconds,
            bytes: None,
        }
    }

    fn live(since: i64, last_seen: i64, device: &str) -> Viewer {
        Viewer {
            link_id: 1,
            note: String::new(),
            device: Some(device.into()),
            browser: None,
            client: None,
            since,
            last_seen,
            bytes: 0,
        }
    }

    #[test]
    fn opened_three_times_from_two_devices() {
        use AuditKind::*;
        let events = [
            ev(100, Created, None, None),
            ev(200, Opened, Some("aa"), None),
            ev(205, SessionStarted, Some("aa"), None),
            ev(300, Opened, Some("aa"), None),
            ev(3800, SessionEnded, Some("aa"), Some(3595)),
            ev(4000, Opened, Some("bb"), None),
            ev(4005, SessionStarted, Some("bb"), None),
            ev(4325, SessionEnded, Some("bb"), Some(320)),
        ];
        let s = tell(&events, &[]);
        assert_eq!(
            s,
            Story {
                opened: 3,
                devices: 2,
                watched_s: 3915,
                last_seen: Some(4325),
                watching_now: 0,
            }
        );
        // A live session adds its time so far and is the last one seen.
        let s = tell(&events, &[live(5000, 5600, "cc")]);
        assert_eq!(
            (s.devices, s.watched_s, s.last_seen, s.watching_now),
            (3, 4515, Some(5600), 1)
        );
    }

    #[test]
    fn nothing_happened() {
        let s = tell(&[ev(1, AuditKind::Created, None, None)], &[]);
        assert_eq!(s, Story::default());
        // A session resumed after a restart has no device label: it is not a new device.
        let s = tell(&[ev(1, AuditKind::SessionStarted, None, None)], &[]);
        assert_eq!(s.devices, 0);
    }
}
