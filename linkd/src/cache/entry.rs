//! One cache entry: the state of one upstream request's answer, as one enum behind one lock.
//!
//! An entry is [`State::Pending`] from its creation (its fetch task runs, callers wait for
//! it) until the task delivers ([`State::Done`], with the answer and when it came) or the last
//! waiter leaves first ([`State::Abandoned`]: the task is cancelled). No other change happens.
//! The answer an entry replaces rides along while it is pending, so it can be given while the
//! fetch runs, and is dropped with the pending state.

use super::{Cached, Outcome, ERROR_TTL, MEDIA_TTL, PLAYLIST_STALE, PLAYLIST_TTL};
use crate::sync::lock;
use http::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// A successful answer and when it came.
pub(super) type Answer = (Arc<Cached>, Instant);

/// Where an entry is in its life.
pub(super) enum State {
    /// Its fetch task runs while `waiters` callers wait for it; `stale` is the answer it
    /// replaces, if that may still be given.
    Pending {
        task: AbortHandle,
        waiters: usize,
        stale: Option<Answer>,
    },
    /// Its fetch delivered `outcome` at `at`.
    Done { outcome: Outcome, at: Instant },
    /// Everyone left before the answer: the fetch was cancelled. The next caller replaces the
    /// entry (taking over `stale`) and the sweep drops it.
    Abandoned { stale: Option<Answer> },
}

/// The answer to one upstream request, shared by everyone who asks for it.
pub(super) struct Entry {
    state: Mutex<State>,
    /// Woken when the entry leaves [`State::Pending`].
    left_pending: Notify,
    ttl: Duration,
    /// How long past `ttl` its answer may be given while a refresh runs (zero: never).
    grace: Duration,
}

/// What a caller does about the entry it found for its key.
pub(super) enum Found {
    /// Answers at once with a fresh outcome.
    Hit(Outcome),
    /// Answers at once with an expired answer, while another caller's refresh runs.
    Stale(Arc<Cached>),
    /// Waits for the fetch in flight.
    Wait(Waiting),
    /// Replaces the entry with a new fetch; the answer it may give meanwhile.
    Replace(Option<Answer>),
}

impl Entry {
    /// A pending entry for the request of `key` (a file `path`) whose fetch is `task`, with one
    /// waiter: its caller.
    pub(super) fn pending(path: &str, key: &str, task: AbortHandle, stale: Option<Answer>) -> Self {
        let (ttl, grace) = if !super::is_playlist(path) {
            (MEDIA_TTL, MEDIA_TTL)
        } else if key.contains("_HLS_msn=") {
            (PLAYLIST_TTL, Duration::ZERO)
        } else {
            (PLAYLIST_TTL, PLAYLIST_STALE)
        };
        Entry {
            state: Mutex::new(State::Pending {
                task,
                waiters: 1,
                stale,
            }),
            left_pending: Notify::new(),
            ttl,
            grace,
        }
    }

    /// What a caller arriving at `now` does about this entry; joining it as a waiter if it
    /// waits.
    pub(super) fn lookup(self: &Arc<Self>, now: Instant) -> Found {
        let mut state = lock(&self.state);
        match &mut *state {
            State::Done { outcome, at } if self.done_fresh(outcome, *at, now) => {
                Found::Hit(outcome.clone())
            }
            State::Pending {
                stale: Some((c, at)),
                ..
            } if self.servable(*at, now) => Found::Stale(c.clone()),
            State::Pending { waiters, .. } => {
                *waiters += 1;
                Found::Wait(Waiting(self.clone()))
            }
            other => Found::Replace(self.servable_stale(other, now)),
        }
    }

    /// Whether a caller at `now` would use this entry rather than replace it.
    pub(super) fn fresh(&self, now: Instant) -> bool {
        match &*lock(&self.state) {
            State::Pending { .. } => true,
            State::Done { outcome, at } => self.done_fresh(outcome, *at, now),
            State::Abandoned { .. } => false,
        }
    }

    /// When its answer came, once it is done.
    pub(super) fn done_at(&self) -> Option<Instant> {
        match &*lock(&self.state) {
            State::Done { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// Bytes of its answer, counted in the cache's total while it is done and in the table.
    pub(super) fn bytes(&self) -> usize {
        match &*lock(&self.state) {
            State::Done { outcome: Ok(c), .. } => c.body.len(),
            _ => 0,
        }
    }

    /// Stores the answer of its fetch and wakes the waiters; returns the bytes to count in.
    /// An answer that comes after everyone left (a cancel too late) is dropped: `None`.
    pub(super) fn finish(&self, outcome: Outcome) -> Option<usize> {
        let mut state = lock(&self.state);
        if !matches!(*state, State::Pending { .. }) {
            return None;
        }
        let size = outcome.as_ref().map_or(0, |c| c.body.len());
        *state = State::Done {
            outcome,
            at: Instant::now(),
        };
        drop(state);
        self.left_pending.notify_waiters();
        Some(size)
    }

    fn done_fresh(&self, outcome: &Outcome, at: Instant, now: Instant) -> bool {
        let ttl = match outcome {
            Ok(c) if c.status == StatusCode::OK => self.ttl,
            Ok(_) => ERROR_TTL,
            Err(_) => return false,
        };
        now.duration_since(at) < ttl
    }

    fn servable(&self, at: Instant, now: Instant) -> bool {
        now.duration_since(at) < self.ttl + self.grace
    }

    /// The answer a replacement of this entry may give while its fetch runs: this entry's
    /// own if it is a successful one still within TTL plus grace, else the one it carried.
    fn servable_stale(&self, state: &State, now: Instant) -> Option<Answer> {
        let answer = match state {
            State::Done { outcome: Ok(c), at } if c.status == StatusCode::OK => {
                Some((c.clone(), *at))
            }
            State::Done { .. } => None,
            State::Pending { stale, .. } | State::Abandoned { stale } => stale.clone(),
        };
        answer.filter(|(_, at)| self.servable(*at, now))
    }
}

/// A caller waiting for an entry's fetch; the last one to leave before the answer cancels it.
pub struct Waiting(Arc<Entry>);

impl Waiting {
    /// The caller that made `entry`, counted in as its first waiter.
    pub(super) fn first(entry: &Arc<Entry>) -> Waiting {
        Waiting(entry.clone())
    }

    /// The answer of the fetch, once it is there.
    pub async fn outcome(&self) -> Outcome {
        loop {
            let notified = self.0.left_pending.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = match &*lock(&self.0.state) {
                State::Pending { .. } => None,
                State::Done { outcome, .. } => Some(outcome.clone()),
                // Not while this caller waits; said plainly rather than waiting for ever.
                State::Abandoned { .. } => Some(Err(Arc::from("the origin fetch was abandoned"))),
            };
            if let Some(outcome) = now {
                return outcome;
            }
            notified.await;
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        if let State::Pending {
            task,
            waiters,
            stale,
        } = &mut *state
        {
            *waiters -= 1;
            if *waiters == 0 {
                task.abort();
                *state = State::Abandoned {
                    stale: stale.take(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fetched_anew, held, never, ok, refreshing};
    use super::super::Cache;
    use super::*;
    use bytes::Bytes;
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn a_caller_who_finds_an_entry_abandoned_meanwhile_tries_again() {
        let cache = Cache::new(1 << 20);
        let gone = cache.get("p.mp4", "p.mp4", || async {
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), gone)
            .await
            .is_err());
        // Taken from the table before it was abandoned, looked at after.
        let entry = cache.entry("p.mp4").unwrap();
        let found = entry.lookup(Instant::now());
        assert!(
            matches!(found, Found::Replace(None)),
            "joining an abandoned entry must not wait for ever"
        );
        fetched_anew(&cache, b"new").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_answer_is_given_while_one_caller_refreshes_it() {
        for path in ["live.m3u8", "part1.mp4"] {
            let cache = Arc::new(Cache::new(1 << 20));
            let t0 = Instant::now();
            cache
                .get_at(t0, path, path, || async { ok(b"one") })
                .await
                .unwrap();
            let ttl = if super::super::is_playlist(path) {
                PLAYLIST_TTL
            } else {
                MEDIA_TTL
            };
            let later = Instant::now() + ttl + Duration::from_millis(10);
            let (refresher, release) = refreshing(&cache, later, path).await;
            // While the refresh runs, others get the old answer at once, without a fetch.
            for _ in 0..3 {
                let c = cache.get_at(later, path, path, never).await.unwrap();
                assert_eq!(c.body, Bytes::from_static(b"one"), "{path}");
            }
            assert_eq!(cache.stats.stale.load(Ordering::SeqCst), 3);
            release.send(()).unwrap();
            let r = refresher.await.unwrap().unwrap();
            assert_eq!(
                r.body,
                Bytes::from_static(b"two"),
                "the refresher waits for it"
            );
            // The refreshed answer is fresh (as seen now).
            let c = cache.get(path, path, never).await.unwrap();
            assert_eq!(c.body, Bytes::from_static(b"two"), "{path}");
            assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 2);
            assert_eq!(cache.bytes(), 3, "the old answer is not counted twice");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_playlists_are_bounded_and_blocking_reloads_and_errors_never_stale() {
        let cases: [(&str, Outcome, Duration); 3] = [
            // A plain playlist: only within PLAYLIST_STALE past its TTL.
            ("live.m3u8", ok(b"one"), PLAYLIST_TTL + PLAYLIST_STALE),
            // A blocking reload: never.
            ("live.m3u8?_HLS_msn=7&_HLS_part=1", ok(b"one"), PLAYLIST_TTL),
            // An error: never.
            ("seg.mp4", Err(Arc::from("origin down")), ERROR_TTL),
        ];
        for (key, first, too_old) in cases {
            let path = key.split('?').next().unwrap();
            let cache = Arc::new(Cache::new(1 << 20));
            let t0 = Instant::now();
            let _ = cache.get_at(t0, key, path, || async { first }).await;
            let when = Instant::now() + too_old + Duration::from_millis(10);
            let (refresher, release) = refreshing(&cache, when, key).await;
            // Another caller waits for the refresh instead of getting the old answer.
            let mut waiter = std::pin::pin!(cache.get_at(when, key, path, never));
            assert!(
                futures::poll!(&mut waiter).is_pending(),
                "{key}: answered without waiting"
            );
            release.send(()).unwrap();
            assert_eq!(
                refresher.await.unwrap().unwrap().body,
                Bytes::from_static(b"two")
            );
            assert_eq!(
                waiter.await.unwrap().body,
                Bytes::from_static(b"two"),
                "{key}"
            );
            assert_eq!(cache.stats.stale.load(Ordering::SeqCst), 0, "{key}");
        }
    }

    #[tokio::test]
    async fn a_refresher_that_gives_up_is_replaced_and_the_others_still_get_the_old_answer() {
        let cache = Arc::new(Cache::new(1 << 20));
        let t0 = Instant::now();
        cache
            .get_at(t0, "live.m3u8", "live.m3u8", || async { ok(b"one") })
            .await
            .unwrap();
        let expired = t0 + PLAYLIST_TTL + Duration::from_millis(10);
        let gone = cache.get_at(expired, "live.m3u8", "live.m3u8", || async {
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), gone)
            .await
            .is_err());
        // The next caller refreshes anew; meanwhile the others still get the old answer.
        let (release, rx) = tokio::sync::oneshot::channel();
        let mut next =
            Box::pin(cache.get_at(expired, "live.m3u8", "live.m3u8", || held(b"two", rx)));
        assert!(futures::poll!(&mut next).is_pending());
        let c = cache
            .get_at(expired, "live.m3u8", "live.m3u8", never)
            .await
            .unwrap();
        assert_eq!(c.body, Bytes::from_static(b"one"), "within the grace");
        release.send(()).unwrap();
        assert_eq!(next.await.unwrap().body, Bytes::from_static(b"two"));
        assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 3);
        // Abandoned entries do not linger.
        let sweep = Instant::now() + PLAYLIST_TTL + Duration::from_millis(10);
        let gone = cache.get("gone.m3u8", "gone.m3u8", || async {
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), gone)
            .await
            .is_err());
        cache.evict(sweep);
        assert_eq!(cache.len(), 0);
    }
}
