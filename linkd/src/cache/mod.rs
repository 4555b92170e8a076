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
//!
//! An entry's life is one enum behind one lock ([`entry`]); its fetch is a task of its own
//! ([`fetch`]). The table of entries and the bytes they hold are under the cache's lock, and
//! an answer's bytes are counted in and out under it, so the total is exact at every moment.

mod entry;
mod fetch;

use crate::sync::lock;
use bytes::Bytes;
pub use entry::Waiting;
use entry::{Entry, Found};
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The first step of a lookup ([`Cache::begin`]).
pub enum Begun {
    /// Memory has the answer.
    Now(Outcome),
    /// A fetch runs: its answer comes to [`Waiting::outcome`]. Dropping this leaves it (the
    /// last caller to leave cancels it).
    Wait(Waiting),
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

/// The entries by key and the bytes of their answers.
struct Table {
    entries: HashMap<String, Arc<Entry>>,
    /// Bytes of the answers of done entries in `entries`: counted in when an entry in the
    /// table turns done, out when it leaves the table (a pending entry never leaves it).
    used: usize,
    budget: usize,
}

impl Table {
    /// Puts `entry` in place of the one `key` had, whose bytes are counted out.
    fn replace(&mut self, key: String, entry: Arc<Entry>) {
        if let Some(old) = self.entries.insert(key, entry) {
            self.count_out(&old);
        }
    }

    fn count_in(&mut self, size: usize) {
        self.used += size;
    }

    fn count_out(&mut self, gone: &Entry) {
        let size = gone.bytes();
        debug_assert!(size <= self.used, "{size} bytes out of {}", self.used);
        self.used = self.used.saturating_sub(size);
    }

    fn over_budget(&self) -> bool {
        self.used > self.budget
    }

    /// Drops the entries a caller at `now` would replace, then the oldest done ones until
    /// within budget.
    fn evict(&mut self, now: Instant) {
        let mut gone = Vec::new();
        self.entries.retain(|_, e| {
            let keep = e.fresh(now);
            if !keep {
                gone.push(e.clone());
            }
            keep
        });
        for e in gone {
            self.count_out(&e);
        }
        if !self.over_budget() {
            return;
        }
        let mut by_age: Vec<(Instant, String)> = self
            .entries
            .iter()
            .filter_map(|(k, e)| e.done_at().map(|at| (at, k.clone())))
            .collect();
        by_age.sort();
        for (_, k) in by_age {
            if !self.over_budget() {
                break;
            }
            if let Some(e) = self.entries.remove(&k) {
                self.count_out(&e);
            }
        }
    }
}

/// The cache.
pub struct Cache {
    /// Shared with the fetch tasks, which deliver into it.
    table: Arc<Mutex<Table>>,
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
            table: Arc::new(Mutex::new(Table {
                entries: HashMap::new(),
                used: 0,
                budget,
            })),
            stats: CacheStats::default(),
        }
    }

    /// Bytes of bodies held now.
    pub fn bytes(&self) -> u64 {
        lock(&self.table).used as u64
    }

    /// The answer for `key`, waited for (tests; the gate takes the two steps itself).
    #[cfg(test)]
    pub async fn get<F, Fut>(&self, key: &str, path: &str, fetch: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.get_at(Instant::now(), key, path, fetch).await
    }

    /// The answer for `key` without waiting: from memory now, or the fetch to wait for, joined
    /// while in flight or started with `fetch` (run by at most one caller at a time).
    pub fn begin<F, Fut>(&self, key: &str, path: &str, fetch: F) -> Begun
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.begin_at(Instant::now(), key, path, fetch)
    }

    /// [`Cache::begin`] as seen at `now`.
    fn begin_at<F, Fut>(&self, now: Instant, key: &str, path: &str, fetch: F) -> Begun
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let mut table = lock(&self.table);
        let found = match table.entries.get(key) {
            Some(e) => e.lookup(now),
            None => Found::Replace(None),
        };
        match found {
            Found::Hit(outcome) => {
                if let Ok(c) = &outcome {
                    self.count_hit(c);
                }
                Begun::Now(outcome)
            }
            Found::Stale(c) => {
                self.count_hit(&c);
                self.stats.stale.fetch_add(1, Ordering::Relaxed);
                Begun::Now(Ok(c))
            }
            Found::Wait(waiting) => {
                self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
                Begun::Wait(waiting)
            }
            Found::Replace(stale) => {
                // This caller refreshes; the others get the expired answer meanwhile.
                self.stats.upstream_fetches.fetch_add(1, Ordering::Relaxed);
                let (entry, waiting) = fetch::start(&self.table, path, key, stale, fetch());
                table.replace(key.to_owned(), entry);
                Begun::Wait(waiting)
            }
        }
    }

    /// [`Cache::begin`] then the wait, as seen at `now` (tests).
    #[cfg(test)]
    async fn get_at<F, Fut>(&self, now: Instant, key: &str, path: &str, fetch: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        match self.begin_at(now, key, path, fetch) {
            Begun::Now(outcome) => outcome,
            Begun::Wait(waiting) => waiting.outcome().await,
        }
    }

    fn count_hit(&self, c: &Cached) {
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .hit_bytes
            .fetch_add(c.body.len() as u64, Ordering::Relaxed);
    }

    /// Drops expired entries, then the oldest finished ones until within budget.
    pub fn evict(&self, now: Instant) {
        lock(&self.table).evict(now);
    }

    /// The entry of `key`, if any.
    #[cfg(test)]
    fn entry(&self, key: &str) -> Option<Arc<Entry>> {
        lock(&self.table).entries.get(key).cloned()
    }

    /// How many entries the table holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.table).entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn ok(body: &'static [u8]) -> Outcome {
        Ok(Arc::new(Cached {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        }))
    }

    pub(super) async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "{what}: not within 5 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A fetch that waits until `release` fires, then answers `body`.
    pub(super) async fn held(
        body: &'static [u8],
        release: tokio::sync::oneshot::Receiver<()>,
    ) -> Outcome {
        let _ = release.await;
        ok(body)
    }

    /// Starts a refresh of `key` as seen at `at`, whose fetch answers "two" once released, and
    /// waits until that fetch runs (the cache's second).
    pub(super) async fn refreshing(
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
            async move { cache.get_at(at, key, path, || held(b"two", rx)).await }
        });
        until("the refresh starts", || {
            cache.stats.upstream_fetches.load(Ordering::SeqCst) >= 2
        })
        .await;
        (refresher, release)
    }

    /// Asks for `p.mp4` once more after a first fetch that was given up: a second fetch
    /// answers it.
    pub(super) async fn fetched_anew(cache: &Cache, body: &'static [u8]) {
        let c = cache
            .get("p.mp4", "p.mp4", || async move { ok(body) })
            .await;
        assert_eq!(c.unwrap().body, Bytes::from_static(body));
        assert_eq!(cache.stats.upstream_fetches.load(Ordering::SeqCst), 2);
    }

    pub(super) async fn never() -> Outcome {
        panic!("no fetch expected here")
    }

    #[tokio::test]
    async fn the_sweep_drops_expired_answers() {
        let cache = Cache::new(1 << 20);
        cache
            .get("s.mp4", "s.mp4", || async { ok(b"12345") })
            .await
            .unwrap();
        assert_eq!(cache.bytes(), 5);
        cache.evict(Instant::now());
        assert_eq!(cache.bytes(), 5, "still fresh");
        cache.evict(Instant::now() + MEDIA_TTL + Duration::from_secs(1));
        assert_eq!(cache.bytes(), 0);
        assert_eq!(cache.len(), 0);
    }

    #[tokio::test]
    async fn playlists_expire_after_one_part_and_the_budget_holds() {
        let cache = Cache::new(10);
        let a = cache
            .get("x.m3u8", "x.m3u8", || async { ok(b"one") })
            .await
            .unwrap();
        let b = cache
            .get("x.m3u8", "x.m3u8", || async { ok(b"two") })
            .await
            .unwrap();
        assert_eq!(a.body, b.body, "shared while fresh");
        tokio::time::sleep(PLAYLIST_TTL + Duration::from_millis(20)).await;
        let c = cache
            .get("x.m3u8", "x.m3u8", || async { ok(b"three") })
            .await
            .unwrap();
        assert_eq!(c.body, Bytes::from_static(b"three"));
        for i in 0..10 {
            let k = format!("s{i}.mp4");
            cache.get(&k, &k, || async { ok(b"12345") }).await.unwrap();
            assert!(cache.bytes() <= 10, "over budget: {}", cache.bytes());
        }
    }

    /// The byte total and the sum of the answers in the table, read together.
    fn totals(cache: &Cache) -> (usize, usize) {
        let table = lock(&cache.table);
        let held = table.entries.values().map(|e| e.bytes()).sum();
        (table.used, held)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_byte_total_is_the_answers_held_at_every_moment() {
        let cache = Arc::new(Cache::new(40));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checker = std::thread::spawn({
            let (cache, done) = (cache.clone(), done.clone());
            move || {
                let mut checks = 0u32;
                while !done.load(Ordering::SeqCst) || checks == 0 {
                    let (used, held) = totals(&cache);
                    assert_eq!(used, held, "the total drifted from the answers held");
                    checks += 1;
                }
            }
        });
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..300u64 {
                    // Keys refreshed (as seen later), replaced and evicted over budget.
                    let k = format!("s{}.mp4", (i + t) % 7);
                    let later = Instant::now() + MEDIA_TTL * ((i % 3) as u32);
                    let _ = cache
                        .get_at(later, &k, &k, || async {
                            tokio::task::yield_now().await;
                            ok(b"123456789")
                        })
                        .await;
                    if i % 50 == 0 {
                        cache.evict(later);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        checker.join().expect("the total matched throughout");
        let (used, held) = totals(&cache);
        assert_eq!(used, held);
        assert!(used <= 40, "over budget: {used}");
    }
}
