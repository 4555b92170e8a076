//! When a stream change is worth a notification: only once the new state has held for
//! `NOTIFY_DEBOUNCE`, and only if it differs from what was announced last.
//!
//! Pure state, driven by the notification loop with linkd's events and the clock, so that a
//! flapping encoder or a restart of linkd (which reports "live" again when it comes back)
//! never sends "offline" + "live" to the operator's phone.

use std::time::{Duration, Instant};

/// The announced state and the change waiting to be announced.
#[derive(Debug)]
pub struct Debounce {
    hold: Duration,
    announced: Option<bool>,
    pending: Option<Pending>,
    confirm_next: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    live: bool,
    /// When linkd saw the change (Unix seconds), for the message.
    at: i64,
    due: Instant,
}

impl Debounce {
    /// A debouncer that announces a state once it has held for `hold`.
    pub fn new(hold: Duration) -> Debounce {
        Debounce {
            hold,
            announced: None,
            pending: None,
            confirm_next: false,
        }
    }

    /// linkd reports the stream `live` (or not) since `at`, seen at `now`.
    pub fn observe(&mut self, live: bool, at: i64, now: Instant) {
        let confirmed = std::mem::take(&mut self.confirm_next);
        let pending = self.pending.map(|p| p.live);
        if confirmed && self.announced != Some(live) {
            // The media server said so: due now, whatever was pending.
            self.pending = Some(Pending { live, at, due: now });
            return;
        }
        if self.announced == Some(live) || pending == Some(!live) {
            // Back to the state before the pending change (what the operator was told, or
            // what held before anything was told): the change in between never happened.
            self.pending = None;
        } else if pending.is_none() {
            self.pending = Some(Pending {
                live,
                at,
                due: now + self.hold,
            });
        }
    }

    /// The next change observed is the media server's own report (its go-live hooks), not
    /// a guess of the probe: it is due at once.
    pub fn confirmed(&mut self) {
        self.confirm_next = true;
    }

    /// When the pending change becomes due, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.map(|p| p.due)
    }

    /// The change to announce now, if one has held long enough: (live, since).
    pub fn due(&mut self, now: Instant) -> Option<(bool, i64)> {
        let p = self.pending.filter(|p| now >= p.due)?;
        self.pending = None;
        self.announced = Some(p.live);
        Some((p.live, p.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_secs(15);

    /// (seconds from the start, live?): an event of linkd, or an announcement of botd.
    type Timeline = [(u64, bool)];

    /// The announcements over 60 s for these events.
    fn run(events: &Timeline) -> Vec<(u64, bool)> {
        let t0 = Instant::now();
        let mut d = Debounce::new(HOLD);
        let mut out = Vec::new();
        for s in 0..60 {
            let now = t0 + Duration::from_secs(s);
            for (_, live) in events.iter().filter(|(at, _)| *at == s) {
                d.observe(*live, s as i64, now);
            }
            if let Some((live, _)) = d.due(now) {
                out.push((s, live));
            }
        }
        out
    }

    #[test]
    fn announcements_follow_states_that_held() {
        let cases: &[(&Timeline, &Timeline)] = &[
            // A change that holds is announced once, after the hold.
            (&[(0, true)], &[(15, true)]),
            // The same report again (linkd restarted while live) changes nothing.
            (&[(0, true), (20, true), (30, true)], &[(15, true)]),
            // Offline for 5 s during a live stream (an encoder hiccup, a restart): nothing.
            (&[(0, true), (20, false), (25, true)], &[(15, true)]),
            // Live for 5 s, then gone: never announced.
            (&[(0, true), (5, false)], &[]),
            // A real end after a live stream.
            (&[(0, true), (20, false)], &[(15, true), (35, false)]),
        ];
        for (events, want) in cases {
            assert_eq!(run(events), *want, "{events:?}");
        }
    }

    /// What the media server reports is announced at once, even while the probe's guess of
    /// the opposite is held back; what was already announced is not repeated.
    #[test]
    fn the_media_servers_word_is_announced_at_once() {
        let now = Instant::now();
        let mut d = Debounce::new(HOLD);
        d.observe(true, 1, now);
        assert_eq!(d.due(now), None, "the probe's guess waits");
        d.confirmed();
        d.observe(true, 2, now);
        assert_eq!(d.due(now), Some((true, 2)));
        d.confirmed();
        d.observe(true, 3, now);
        assert_eq!(d.due(now), None, "already told");
        d.confirmed();
        d.observe(false, 4, now);
        assert_eq!(d.due(now), Some((false, 4)));
    }

    #[test]
    fn a_zero_hold_announces_at_once() {
        let now = Instant::now();
        let mut d = Debounce::new(Duration::ZERO);
        d.observe(true, 7, now);
        assert_eq!(d.due(now), Some((true, 7)));
        d.observe(true, 9, now);
        assert_eq!(d.due(now), None);
    }
}
