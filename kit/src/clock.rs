//! Where a daemon gets "now" from: the system clock, or a manual clock that tests move.
//!
//! linkd computes link expiry from this clock at the moment of each check, never by a job.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix time in seconds.
#[derive(Clone, Debug)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands still at `start` until moved with [`Clock::advance`].
    pub fn manual(start: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start))))
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }

    /// Moves a manual clock forward; a system clock ignores this.
    pub fn advance(&self, secs: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }
}
