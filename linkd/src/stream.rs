//! Whether the stream is live, and since when: told at once by the media server's hooks
//! (`publish::hook`), else as the origin probe last saw it.
//!
//! After a hook, a probe that disagrees is ignored for [`HOOK_HOLD`]: the origin's playlist
//! appears a few seconds after a publisher starts and may linger a few after it stops. A
//! hook that never came (linkd restarted, hooks not configured) is made up for by the probe.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a hook's word outweighs the probe.
pub const HOOK_HOLD: Duration = Duration::from_secs(20);

/// The stream's state.
#[derive(Default)]
pub struct StreamState {
    live: AtomicBool,
    since: AtomicI64,
    /// The last hook's word and when it came.
    hooked: Mutex<Option<(bool, Instant)>>,
}

impl StreamState {
    /// Records what the probe saw at `now`; returns true when that is a change. Ignored
    /// while a recent hook says otherwise.
    pub fn set(&self, live: bool, now: i64) -> bool {
        let held = crate::sync::lock(&self.hooked)
            .is_some_and(|(said, at)| said != live && at.elapsed() < HOOK_HOLD);
        if held {
            return false;
        }
        self.store(live, now)
    }

    /// Records what the media server said at `now`; returns true when that is a change.
    pub fn hooked(&self, live: bool, now: i64) -> bool {
        *crate::sync::lock(&self.hooked) = Some((live, Instant::now()));
        self.store(live, now)
    }

    fn store(&self, live: bool, now: i64) -> bool {
        let was = self.live.swap(live, Ordering::SeqCst);
        if was != live || self.since.load(Ordering::SeqCst) == 0 {
            self.since.store(now, Ordering::SeqCst);
        }
        was != live
    }

    /// Live now?
    pub fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// When the current state began (Unix seconds), if known.
    pub fn since(&self) -> Option<i64> {
        match self.since.load(Ordering::SeqCst) {
            0 => None,
            t => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook changes the state at once and outweighs a probe that disagrees; a probe that
    /// agrees, or any probe without a hook, is taken as it is.
    #[test]
    fn hooks_outweigh_the_probe_for_a_while() {
        let s = StreamState::default();
        assert!(!s.set(false, 1) && s.since() == Some(1));
        assert!(s.hooked(true, 2));
        assert!(
            !s.set(false, 3),
            "a probe that has not yet seen the playlist"
        );
        assert!(s.live());
        assert!(s.hooked(false, 4));
        assert!(!s.set(true, 5), "a lingering playlist");
        assert!(!s.live() && s.since() == Some(4));
        *crate::sync::lock(&s.hooked) = Some((false, Instant::now() - HOOK_HOLD));
        assert!(s.set(true, 6), "after the hold the probe is believed");
    }
}
