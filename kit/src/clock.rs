//! Where a daemon gets "now" from: the system clock, or a manual clock that tests move.
//!
//! linkd computes link expiry from this clock at the moment of each check, never by a job.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// How long until Unix second `at` begins (zero once it has). Exact to the millisecond
    /// for the system clock; a manual clock moves only when told, so it says "look again in
    /// 50 ms" until then.
    pub fn until(&self, at: i64) -> Duration {
        match &self.0 {
            Some(_) if self.now() >= at => Duration::ZERO,
            Some(_) => Duration::from_millis(50),
            None => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Duration::from_secs(at.max(0) as u64).saturating_sub(now)
            }
        }
    }

    /// Moves a manual clock forward; a system clock ignores this.
    pub fn advance(&self, secs: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_exact_for_the_system_clock_and_a_short_look_for_a_manual_one() {
        let sys = Clock::system();
        let left = sys.until(sys.now() + 2);
        assert!(
            left > Duration::from_secs(1) && left <= Duration::from_secs(2),
            "{left:?}"
        );
        assert_eq!(sys.until(sys.now() - 1), Duration::ZERO);
        let manual = Clock::manual(100);
        assert_eq!(manual.until(105), Duration::from_millis(50));
        manual.advance(5);
        assert_eq!(manual.until(105), Duration::ZERO);
    }
}
