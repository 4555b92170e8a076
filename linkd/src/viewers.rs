//! Who is watching now: playback sessions that made a request in the last few seconds.
//!
//! `/play` touches its session on each request; counts are taken when a client asks.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A session counts as watching for this long after its last request.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Sessions seen recently, by session id.
#[derive(Default)]
pub struct Viewers {
    seen: Mutex<HashMap<u64, (i64, Instant)>>,
}

impl Viewers {
    /// Notes a request of session `session` of link `link_id`.
    pub fn touch(&self, session: u64, link_id: i64) {
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        seen.insert(session, (link_id, now));
        if seen.len() > 4096 && seen.len().is_power_of_two() {
            seen.retain(|_, (_, t)| now.duration_since(*t) < WINDOW);
        }
    }

    /// Watching sessions per link.
    pub fn per_link(&self) -> HashMap<i64, u32> {
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        seen.retain(|_, (_, t)| now.duration_since(*t) < WINDOW);
        let mut counts = HashMap::new();
        for (link, _) in seen.values() {
            *counts.entry(*link).or_insert(0) += 1;
        }
        counts
    }

    /// Sessions of link `link_id` seen in the last [`WINDOW`] for which `counts(session id)`
    /// holds (a viewer cap's count, when a page opens).
    pub fn count_of(&self, link_id: i64, counts: impl Fn(u64) -> bool) -> u32 {
        let now = Instant::now();
        let seen = lock(&self.seen);
        seen.iter()
            .filter(|(s, (l, t))| *l == link_id && now.duration_since(*t) < WINDOW && counts(**s))
            .count() as u32
    }
}
