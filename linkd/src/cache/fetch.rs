//! The fetch task of an entry: one upstream request run as a task of its own, so that it
//! outlives any one caller and ends with the last.
//!
//! The task holds only a weak reference to its entry and delivers under the table's lock,
//! which the caller that made the entry holds until the entry is in the table; a pending entry
//! never leaves the table, so a delivered answer is always counted in (and a task whose
//! entry is gone has nobody to deliver to). A fetch that panics delivers an error, so its
//! waiters do not wait for ever.

use super::entry::{Answer, Entry, Waiting};
use super::{Outcome, Table};
use crate::sync::lock;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;
use tracing::Instrument;

/// Makes a pending entry for the request of `key` (a file `path`), whose task runs `fetch` and
/// delivers into `table`; its caller is its first waiter. The caller must hold `table`'s
/// lock until the entry is in it.
pub(super) fn start(
    table: &Arc<Mutex<Table>>,
    path: &str,
    key: &str,
    stale: Option<Answer>,
    fetch: impl Future<Output = Outcome> + Send + 'static,
) -> (Arc<Entry>, Waiting) {
    let entry = Arc::new_cyclic(|entry: &Weak<Entry>| {
        let run = deliver(entry.clone(), table.clone(), fetch).in_current_span();
        Entry::pending(path, key, tokio::spawn(run).abort_handle(), stale)
    });
    let waiting = Waiting::first(&entry);
    (entry, waiting)
}

/// Runs `fetch` and gives its answer to `entry`, counted into `table`.
async fn deliver(
    entry: Weak<Entry>,
    table: Arc<Mutex<Table>>,
    fetch: impl Future<Output = Outcome>,
) {
    let outcome = AssertUnwindSafe(fetch)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(Arc::from("the origin fetch failed")));
    let mut table = lock(&table);
    let Some(entry) = entry.upgrade() else {
        return;
    };
    if let Some(size) = entry.finish(outcome) {
        table.count_in(size);
        if table.over_budget() {
            table.evict(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fetched_anew, held, never, ok, until};
    use super::super::Cache;
    use super::*;
    use bytes::Bytes;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_fetch() {
        let cache = Arc::new(Cache::new(1 << 20));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("p.mp4", "p.mp4", || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        ok(b"part")
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().body, Bytes::from_static(b"part"));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 1);
    }

    /// Sets its flag when dropped: tells whether a fetch future was cancelled.
    struct DropFlag(Arc<AtomicBool>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn the_last_caller_to_leave_cancels_the_fetch_and_the_next_starts_anew() {
        let cache = Cache::new(1 << 20);
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(cancelled.clone());
        let first = cache.get("p.mp4", "p.mp4", || async move {
            let _flag = flag;
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), first)
            .await
            .is_err());
        until("the abandoned fetch is cancelled", || {
            cancelled.load(Ordering::SeqCst)
        })
        .await;
        fetched_anew(&cache, b"second").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_who_leaves_does_not_cancel_the_fetch_others_wait_for() {
        let cache = Arc::new(Cache::new(1 << 20));
        let (release, rx) = tokio::sync::oneshot::channel();
        let mut first = Box::pin(cache.get("p.mp4", "p.mp4", || held(b"part", rx)));
        assert!(futures::poll!(&mut first).is_pending());
        let mut second = Box::pin(cache.get("p.mp4", "p.mp4", never));
        assert!(futures::poll!(&mut second).is_pending());
        drop(first);
        release.send(()).expect("the fetch is still running");
        let c = second.await.unwrap();
        assert_eq!(c.body, Bytes::from_static(b"part"));
        assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats.coalesced.load(Ordering::SeqCst), 1);
        assert_eq!(cache.bytes(), 4);
    }

    #[tokio::test]
    async fn a_fetch_that_panics_gives_its_waiters_an_error() {
        let cache = Cache::new(1 << 20);
        let r = cache
            .get("p.mp4", "p.mp4", || async {
                panic!("fetch bug");
                #[allow(unreachable_code)]
                ok(b"")
            })
            .await;
        assert!(r.is_err());
        let again = cache.get("p.mp4", "p.mp4", || async { ok(b"fine") }).await;
        assert_eq!(again.unwrap().body, Bytes::from_static(b"fine"));
    }
}
