//! Request coalescing and a small in-memory cache in front of the origin.
//!
//! Identical upstream requests that arrive together share one fetch. It runs as a task of its
//! own while anyone waits for it, so a viewer who leaves does not cancel the answer the others
//! wait for; when the last one leaves it is cancelled (and the origin sees the request go).
//! Media files (init, segments, parts) are then served from memory for [`MEDIA_TTL`], under a
//! byte budget; playlists are kept only for [`PLAYLIST_TTL`] (one LL-HLS part), so blocking
//! reloads of the same `(msn, part)` are released together from one answer. A key is exactly
//! the upstream request (file and LL-HLS parameters; linkd's own session is added by
//! `upstream`), so an answer, an error included, is shared only by callers of that request.
//!
//! When a successful answer expires, the caller that finds it expired refreshes it, and
//! while that refresh runs everyone else gets the expired answer at once instead of queueing
//! behind the fetch (stale-while-revalidate). That is always exact for media (a file's bytes
//! never change under its name) and bounded for playlists: at most [`PLAYLIST_STALE`] past
//! their TTL, and never for blocking reloads (`_HLS_msn`), which wait for their own answer.
//! Errors are never served past their TTL, so an origin that fails is seen at once.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tracing::Instrument;

/// How long a finished media file is served from memory (it stays in a live playlist for
/// about this long).
pub const MEDIA_TTL: Duration = Duration::from_secs(30);
/// How long a playlist answer is shared: one LL-HLS part.
pub const PLAYLIST_TTL: Duration = Duration::from_millis(200);
/// How long past its TTL a playlist answer may still be given while its refresh runs.
pub const PLAYLIST_STALE: Duration = Duration::from_secs(1);
/// Answers other than 200 are shared only while they are this fresh.
pub const ERROR_TTL: Duration = Duration::from_millis(200);
/// Largest body kept in memory.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;

/// An origin answer held in memory.
#[derive(Debug, Clone)]
pub struct Cached {
    /// Its status.
    pub status: StatusCode,
    /// Its headers, already cleaned for viewers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// What the fetch of one key produced: an answer, or why there is none (shared by waiters).
pub type Outcome = Result<Arc<Cached>, Arc<str>>;

struct Entry {
    /// The answer, once its fetch has completed.
    cell: OnceLock<(Outcome, Instant)>,
    /// Woken when `cell` is set.
    done: Notify,
    /// The fetch in flight and how many callers wait for it.
    flight: Mutex<Flight>,
    /// Bytes of the answer counted in the cache's total (0 until counted, and once uncounted).
    counted: AtomicUsize,
    ttl: Duration,
    /// How long past `ttl` its answer may be given while a refresh runs (zero: never).
    grace: Duration,
    /// The answer this entry replaces, given while this entry's fetch runs; dropped when it
    /// completes.
    stale: Mutex<Option<(Arc<Cached>, Instant)>>,
}

impl Entry {
    fn new(path: &str, key: &str, stale: Option<(Arc<Cached>, Instant)>) -> Entry {
        let (ttl, grace) = if !is_playlist(path) {
            (MEDIA_TTL, MEDIA_TTL)
        } else if key.contains("_HLS_msn=") {
            (PLAYLIST_TTL, Duration::ZERO)
        } else {
            (PLAYLIST_TTL, PLAYLIST_STALE)
        };
        Entry {
            cell: OnceLock::new(),
            done: Notify::new(),
            flight: Mutex::new(Flight::default()),
            counted: AtomicUsize::new(0),
            ttl,
            grace,
            stale: Mutex::new(stale),
        }
    }

    /// Its answer, if it is a successful one still within TTL plus grace at `now`; for an
    /// entry whose fetch was abandoned, the answer it was replacing, on the same terms.
    fn servable_stale(&self, now: Instant) -> Option<(Arc<Cached>, Instant)> {
        match self.cell.get() {
            Some((Ok(c), at))
                if c.status == StatusCode::OK
                    && now.duration_since(*at) < self.ttl + self.grace =>
            {
                Some((c.clone(), *at))
            }
            Some(_) => None,
            None => self.stale_answer(now),
        }
    }

    /// The answer this in-flight entry replaces, if it is still within TTL plus grace.
    fn stale_answer(&self, now: Instant) -> Option<(Arc<Cached>, Instant)> {
        let stale = self.stale.lock().unwrap_or_else(|p| p.into_inner());
        stale
            .clone()
            .filter(|(_, at)| now.duration_since(*at) < self.ttl + self.grace)
    }

    fn fresh(&self, now: Instant) -> bool {
        match self.cell.get() {
            // In flight, unless everyone waiting for it left.
            None => {
                !self
                    .flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .abandoned
            }
            Some((Ok(c), at)) => {
                let ttl = if c.status == StatusCode::OK {
                    self.ttl
                } else {
                    ERROR_TTL
                };
                now.duration_since(*at) < ttl
            }
            Some((Err(_), _)) => false,
        }
    }

    /// Takes this entry's bytes out of the total they are counted in, once.
    fn uncount(&self) -> u64 {
        self.counted.swap(0, Ordering::Relaxed) as u64
    }

    /// Stores the answer of a completed fetch, counts its bytes into `used` and wakes the
    /// waiters (a second answer, from a fetch that was cancelled too late, is dropped).
    fn finish(&self, outcome: Outcome, used: &AtomicI64) {
        let flight = self.flight.lock().unwrap_or_else(|p| p.into_inner());
        if flight.abandoned {
            return;
        }
        let size = outcome.as_ref().map_or(0, |c| c.body.len());
        if self.cell.set((outcome, Instant::now())).is_ok() {
            self.counted.store(size, Ordering::Relaxed);
            used.fetch_add(size as i64, Ordering::Relaxed);
        }
        drop(flight);
        self.stale.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.done.notify_waiters();
    }
}

/// The fetch task of an entry and the callers waiting for it.
#[derive(Default)]
struct Flight {
    task: Option<tokio::task::AbortHandle>,
    waiters: usize,
    /// Everyone left before the answer: the fetch was cancelled, and the entry is replaced by
    /// the next caller and dropped by the sweep.
    abandoned: bool,
}

/// A caller waiting for an entry's fetch; the last one to leave before the answer cancels it.
struct Waiting<'a>(&'a Entry);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut flight = self.0.flight.lock().unwrap_or_else(|p| p.into_inner());
        flight.waiters -= 1;
        if flight.waiters == 0 && self.0.cell.get().is_none() {
            if let Some(task) = flight.task.take() {
                task.abort();
            }
            flight.abandoned = true;
        }
    }
}

/// Runs one fetch for `entry`. If the fetch panics its waiters get an error rather than wait
/// for ever.
async fn run_fetch(entry: Arc<Entry>, fetch: impl Future<Output = Outcome>, used: Arc<AtomicI64>) {
    struct OnPanic<'a>(&'a Entry, &'a AtomicI64);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0
                    .finish(Err(Arc::from("the origin fetch failed")), self.1);
            }
        }
    }
    let guard = OnPanic(&entry, &used);
    let outcome = fetch.await;
    drop(guard);
    entry.finish(outcome, &used);
}

/// Counters of the cache, for `/metrics`.
#[derive(Default)]
pub struct CacheStats {
    /// Requests sent to the origin.
    pub upstream_fetches: AtomicU64,
    /// Requests answered from memory without waiting.
    pub hits: AtomicU64,
    /// Bytes answered from memory.
    pub hit_bytes: AtomicU64,
    /// Requests that waited for another request's fetch.
    pub coalesced: AtomicU64,
    /// Requests answered with an expired answer while its refresh ran.
    pub stale: AtomicU64,
}

/// The cache.
pub struct Cache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    budget: usize,
    /// Bytes counted in (may dip below zero for a moment while an entry is counted in).
    used: Arc<AtomicI64>,
    /// Its counters.
    pub stats: CacheStats,
}

/// Whether a path names a playlist (short-lived) rather than a media file.
pub fn is_playlist(path: &str) -> bool {
    path.ends_with(".m3u8")
}

impl Cache {
    /// A cache that holds at most `budget` bytes of bodies.
    pub fn new(budget: usize) -> Cache {
        Cache {
            entries: Mutex::new(HashMap::new()),
            budget,
            used: Arc::new(AtomicI64::new(0)),
            stats: CacheStats::default(),
        }
    }

    /// Bytes of bodies held now.
    pub fn bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed).max(0) as u64
    }

    /// The answer for `key`: from memory, from a fetch in flight, or from `fetch` (run by at
    /// most one caller at a time).
    pub async fn get<F, Fut>(&self, key: String, path: &str, fetch: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.get_at(Instant::now(), key, path, fetch).await
    }

    /// [`Cache::get`] as seen at `now`.
    async fn get_at<F, Fut>(&self, now: Instant, key: String, path: &str, fetch: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let mut fetch = Some(fetch);
        loop {
            if let Some(outcome) = self.get_once(now, &key, path, &mut fetch).await {
                return outcome;
            }
        }
    }

    /// One attempt of [`Cache::get_at`]: `None` when the entry it found was abandoned meanwhile
    /// (the next attempt replaces it).
    async fn get_once<F, Fut>(
        &self,
        now: Instant,
        key: &str,
        path: &str,
        fetch: &mut Option<F>,
    ) -> Option<Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let (entry, refresh) = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(key) {
                Some(e) if e.fresh(now) => (e.clone(), false),
                old => {
                    let stale = old.and_then(|o| o.servable_stale(now));
                    let e = Arc::new(Entry::new(path, key, stale));
                    if let Some(old) = map.insert(key.to_string(), e.clone()) {
                        self.used.fetch_sub(old.uncount() as i64, Ordering::Relaxed);
                    }
                    (e, true)
                }
            }
        };
        if refresh {
            // This caller refreshes; the others get the expired answer meanwhile.
            return self.fill(&entry, fetch).await;
        }
        if let Some((outcome, _)) = entry.cell.get() {
            if let Ok(c) = outcome {
                self.count_hit(c);
            }
            return Some(outcome.clone());
        }
        if let Some((c, _)) = entry.stale_answer(now) {
            self.count_hit(&c);
            self.stats.stale.fetch_add(1, Ordering::Relaxed);
            return Some(Ok(c));
        }
        self.fill(&entry, fetch).await
    }

    fn count_hit(&self, c: &Cached) {
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .hit_bytes
            .fetch_add(c.body.len() as u64, Ordering::Relaxed);
    }

    /// Waits for `entry`'s answer, starting its fetch with `fetch` (taken) unless one is in
    /// flight; `None` if everyone waiting for it left before this caller joined.
    async fn fill<F, Fut>(&self, entry: &Arc<Entry>, fetch: &mut Option<F>) -> Option<Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let done = entry.done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        if let Some((outcome, _)) = entry.cell.get() {
            return Some(outcome.clone());
        }
        let (waiting, started_here) = {
            let mut flight = entry.flight.lock().unwrap_or_else(|p| p.into_inner());
            if flight.abandoned {
                return None;
            }
            // No task and not abandoned: a new entry. A caller that starts a fetch waits for
            // it and returns, so its `fetch` is still there here.
            let start = flight.task.is_none();
            if start {
                let fetch = fetch.take().expect("a caller starts at most one fetch");
                self.stats.upstream_fetches.fetch_add(1, Ordering::Relaxed);
                let task = tokio::spawn(
                    run_fetch(entry.clone(), fetch(), self.used.clone()).in_current_span(),
                );
                flight.task = Some(task.abort_handle());
            }
            flight.waiters += 1;
            (Waiting(entry), start)
        };
        if !started_here {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        done.await;
        drop(waiting);
        if started_here && self.used.load(Ordering::Relaxed) > self.budget as i64 {
            self.evict(Instant::now());
        }
        Some(match entry.cell.get() {
            Some((outcome, _)) => outcome.clone(),
            None => Err(Arc::from("the origin fetch was abandoned")),
        })
    }

    /// Drops expired entries, then the oldest finished ones until within budget.
    pub fn evict(&self, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut freed = 0;
        map.retain(|_, e| {
            let keep = e.fresh(now);
            if !keep {
                freed += e.uncount() as i64;
            }
            keep
        });
        let mut used = self.used.fetch_sub(freed, Ordering::Relaxed) - freed;
        if used > self.budget as i64 {
            let mut by_age: Vec<(Instant, String)> = map
                .iter()
                .filter_map(|(k, e)| e.cell.get().map(|(_, at)| (*at, k.clone())))
                .collect();
            by_age.sort();
            for (_, k) in by_age {
                if used <= self.budget as i64 {
                    break;
                }
                if let Some(e) = map.remove(&k) {
                    let size = e.uncount() as i64;
                    self.used.fetch_sub(size, Ordering::Relaxed);
                    used -= size;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn ok(body: &'static [u8]) -> Outcome {
        Ok(Arc::new(Cached {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        }))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_fetch() {
        let cache = Arc::new(Cache::new(1 << 20));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("p.mp4".into(), "p.mp4", || async move {
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
    struct DropFlag(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "{what}: not within 5 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn the_last_caller_to_leave_cancels_the_fetch_and_the_next_starts_anew() {
        let cache = Cache::new(1 << 20);
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = DropFlag(cancelled.clone());
        let first = cache.get("p.mp4".into(), "p.mp4", || async move {
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
        let second = cache
            .get("p.mp4".into(), "p.mp4", || async { ok(b"second") })
            .await;
        assert_eq!(second.unwrap().body, Bytes::from_static(b"second"));
        assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_caller_who_finds_an_entry_abandoned_meanwhile_tries_again() {
        let cache = Cache::new(1 << 20);
        let gone = cache.get("p.mp4".into(), "p.mp4", || async {
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), gone)
            .await
            .is_err());
        // Taken from the map before it was abandoned, joined after.
        let entry = cache.entries.lock().unwrap().get("p.mp4").cloned().unwrap();
        let mut fetch = Some(|| async { ok(b"x") });
        let joined = tokio::time::timeout(Duration::from_secs(5), cache.fill(&entry, &mut fetch))
            .await
            .expect("joining an abandoned entry must not wait for ever");
        assert!(joined.is_none());
        assert!(fetch.is_some(), "its fetch was not used");
        let c = cache
            .get("p.mp4".into(), "p.mp4", || async { ok(b"new") })
            .await;
        assert_eq!(c.unwrap().body, Bytes::from_static(b"new"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_who_leaves_does_not_cancel_the_fetch_others_wait_for() {
        let cache = Arc::new(Cache::new(1 << 20));
        let (release, rx) = tokio::sync::oneshot::channel();
        let mut first = Box::pin(cache.get("p.mp4".into(), "p.mp4", || held(b"part", rx)));
        assert!(futures::poll!(&mut first).is_pending());
        let mut second = Box::pin(cache.get("p.mp4".into(), "p.mp4", never));
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
            .get("p.mp4".into(), "p.mp4", || async {
                panic!("fetch bug");
                #[allow(unreachable_code)]
                ok(b"")
            })
            .await;
        assert!(r.is_err());
        let again = cache
            .get("p.mp4".into(), "p.mp4", || async { ok(b"fine") })
            .await;
        assert_eq!(again.unwrap().body, Bytes::from_static(b"fine"));
    }

    /// A fetch that waits until `release` fires, then answers `body`.
    async fn held(body: &'static [u8], release: tokio::sync::oneshot::Receiver<()>) -> Outcome {
        let _ = release.await;
        ok(body)
    }

    /// Starts a refresh of `key` as seen at `at`, whose fetch answers "two" once released, and
    /// waits until that fetch runs (the cache's second).
    async fn refreshing(
        cache: &Arc<Cache>,
        at: Instant,
        key: &'static str,
    ) -> (
        tokio::task::JoinHandle<Outcome>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let path = key.split('?').next().unwrap();
        let (release, rx) = tokio::sync::oneshot::channel();
        let refresher = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .get_at(at, key.into(), path, || held(b"two", rx))
                    .await
            }
        });
        until("the refresh starts", || {
            cache.stats.upstream_fetches.load(Ordering::SeqCst) >= 2
        })
        .await;
        (refresher, release)
    }

    async fn never() -> Outcome {
        panic!("no fetch expected here")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_answer_is_given_while_one_caller_refreshes_it() {
        for path in ["live.m3u8", "part1.mp4"] {
            let cache = Arc::new(Cache::new(1 << 20));
            let t0 = Instant::now();
            cache
                .get_at(t0, path.into(), path, || async { ok(b"one") })
                .await
                .unwrap();
            let ttl = if is_playlist(path) {
                PLAYLIST_TTL
            } else {
                MEDIA_TTL
            };
            let later = Instant::now() + ttl + Duration::from_millis(10);
            let (refresher, release) = refreshing(&cache, later, path).await;
            // While the refresh runs, others get the old answer at once, without a fetch.
            for _ in 0..3 {
                let c = cache.get_at(later, path.into(), path, never).await.unwrap();
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
            let c = cache.get(path.into(), path, never).await.unwrap();
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
            let _ = cache.get_at(t0, key.into(), path, || async { first }).await;
            let when = Instant::now() + too_old + Duration::from_millis(10);
            let (refresher, release) = refreshing(&cache, when, key).await;
            // Another caller waits for the refresh instead of getting the old answer.
            let mut waiter = std::pin::pin!(cache.get_at(when, key.into(), path, never));
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
            .get_at(t0, "live.m3u8".into(), "live.m3u8", || async { ok(b"one") })
            .await
            .unwrap();
        let expired = t0 + PLAYLIST_TTL + Duration::from_millis(10);
        let gone = cache.get_at(expired, "live.m3u8".into(), "live.m3u8", || async {
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), gone)
            .await
            .is_err());
        // The next caller refreshes anew; meanwhile the others still get the old answer.
        let (release, rx) = tokio::sync::oneshot::channel();
        let mut next = Box::pin(cache.get_at(expired, "live.m3u8".into(), "live.m3u8", || {
            held(b"two", rx)
        }));
        assert!(futures::poll!(&mut next).is_pending());
        let c = cache
            .get_at(expired, "live.m3u8".into(), "live.m3u8", never)
            .await
            .unwrap();
        assert_eq!(c.body, Bytes::from_static(b"one"), "within the grace");
        release.send(()).unwrap();
        assert_eq!(next.await.unwrap().body, Bytes::from_static(b"two"));
        assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 3);
        // Abandoned entries do not linger.
        let sweep = Instant::now() + PLAYLIST_TTL + Duration::from_millis(10);
        let gone = cache.get("gone.m3u8".into(), "gone.m3u8", || async {
            std::future::pending::<Outcome>().await
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), gone)
            .await
            .is_err());
        cache.evict(sweep);
        assert!(cache.entries.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_sweep_drops_expired_answers() {
        let cache = Cache::new(1 << 20);
        cache
            .get("s.mp4".into(), "s.mp4", || async { ok(b"12345") })
            .await
            .unwrap();
        assert_eq!(cache.bytes(), 5);
        cache.evict(Instant::now());
        assert_eq!(cache.bytes(), 5, "still fresh");
        cache.evict(Instant::now() + MEDIA_TTL + Duration::from_secs(1));
        assert_eq!(cache.bytes(), 0);
        assert!(cache.entries.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn playlists_expire_after_one_part_and_the_budget_holds() {
        let cache = Cache::new(10);
        let a = cache
            .get("x.m3u8".into(), "x.m3u8", || async { ok(b"one") })
            .await
            .unwrap();
        let b = cache
            .get("x.m3u8".into(), "x.m3u8", || async { ok(b"two") })
            .await
            .unwrap();
        assert_eq!(a.body, b.body, "shared while fresh");
        tokio::time::sleep(PLAYLIST_TTL + Duration::from_millis(20)).await;
        let c = cache
            .get("x.m3u8".into(), "x.m3u8", || async { ok(b"three") })
            .await
            .unwrap();
        assert_eq!(c.body, Bytes::from_static(b"three"));
        for i in 0..10 {
            let k = format!("s{i}.mp4");
            cache
                .get(k.clone(), &k, || async { ok(b"12345") })
                .await
                .unwrap();
            assert!(cache.bytes() <= 10, "over budget: {}", cache.bytes());
        }
    }
}
