//! Whether the stream is live, and since when, as the origin probe last saw it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The stream's state.
#[derive(Default)]
pub struct StreamState {
    live: AtomicBool,
    since: AtomicI64,
}

impl StreamState {
    /// Records what the probe saw at `now`; returns true when that is a change.
    pub fn set(&self, live: bool, now: i64) -> bool {
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
