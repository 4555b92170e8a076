//! Request coalescing and a small in-memory cache in front of the origin.
//!
//! Identical upstream requests that arrive together share one fetch: the first caller
//! fetches, the others wait for its answer (if it gives up, the next waiter takes over). Media
//! files (init, segments, parts) are then served from memory for [`MEDIA_TTL`], under a byte
//! budget; playlists are kept only for [`PLAYLIST_TTL`] (one LL-HLS part), so they are never
//! stale beyond one part while blocking reloads of the same `(msn, part)` are released together
//! from one answer. MediaMTX's per-viewer `session` query is left out of media keys (the bytes
//! are the same for everyone) but kept in playlist keys (playlists name the session).

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long a finished media file is served from memory (it stays in a live playlist for
/// about this long).
pub const MEDIA_TTL: Duration = Duration::from_secs(30);
/// How long a playlist answer is shared: one LL-HLS part.
pub const PLAYLIST_TTL: Duration = Duration::from_millis(200);
/// Answers other than 200 are shared only while they are this fresh.
pub const ERROR_TTL: Duration = Duration::from_millis(200);
/// Largest body kept in memory.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;

/// An origin answer held in memory.
#[derive(Debug)]
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
    cell: OnceCell<(Outcome, Instant)>,
    ttl: Duration,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        match self.cell.get() {
            None => true, // in flight
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

    fn size(&self) -> usize {
        match self.cell.get() {
            Some((Ok(c), _)) => c.body.len(),
            _ => 0,
        }
    }
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
}

/// The cache.
pub struct Cache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    budget: usize,
    used: AtomicU64,
    /// Its counters.
    pub stats: CacheStats,
}

/// Whether a path names a playlist (short-lived) rather than a media file.
pub fn is_playlist(path: &str) -> bool {
    path.ends_with(".m3u8")
}

/// The cache key of a request: the path and its query, without MediaMTX's `session` for
/// media files.
pub fn key(path: &str, query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return path.to_string();
    };
    if is_playlist(path) {
        return format!("{path}?{q}");
    }
    let rest: Vec<&str> = q
        .split('&')
        .filter(|kv| !kv.starts_with("session="))
        .collect();
    if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

impl Cache {
    /// A cache that holds at most `budget` bytes of bodies.
    pub fn new(budget: usize) -> Cache {
        Cache {
            entries: Mutex::new(HashMap::new()),
            budget,
            used: AtomicU64::new(0),
            stats: CacheStats::default(),
        }
    }

    /// Bytes of bodies held now.
    pub fn bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The answer for `key`: from memory, from a fetch in flight, or from `fetch` (run by at
    /// most one caller at a time).
    pub async fn get<F, Fut>(&self, key: String, path: &str, fetch: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Outcome>,
    {
        let now = Instant::now();
        let entry = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(e) if e.fresh(now) => e.clone(),
                _ => {
                    let ttl = if is_playlist(path) {
                        PLAYLIST_TTL
                    } else {
                        MEDIA_TTL
                    };
                    let e = Arc::new(Entry {
                        cell: OnceCell::new(),
                        ttl,
                    });
                    if let Some(old) = map.insert(key, e.clone()) {
                        self.used.fetch_sub(old.size() as u64, Ordering::Relaxed);
                    }
                    e
                }
            }
        };
        if let Some((outcome, _)) = entry.cell.get() {
            if let Ok(c) = outcome {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .hit_bytes
                    .fetch_add(c.body.len() as u64, Ordering::Relaxed);
            }
            return outcome.clone();
        }
        let mut fetched_here = false;
        let (outcome, _) = entry
            .cell
            .get_or_init(|| async {
                fetched_here = true;
                self.stats.upstream_fetches.fetch_add(1, Ordering::Relaxed);
                (fetch().await, Instant::now())
            })
            .await;
        if fetched_here {
            if let Ok(c) = outcome {
                self.admit(c.body.len());
            }
        } else {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        outcome.clone()
    }

    /// Accounts for a new body and evicts the oldest entries while over budget.
    fn admit(&self, size: usize) {
        let used = self.used.fetch_add(size as u64, Ordering::Relaxed) + size as u64;
        if used > self.budget as u64 {
            self.evict(Instant::now());
        }
    }

    /// Drops expired entries, then the oldest finished ones until within budget.
    pub fn evict(&self, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut freed = 0u64;
        map.retain(|_, e| {
            let keep = e.fresh(now);
            if !keep {
                freed += e.size() as u64;
            }
            keep
        });
        let mut used = self.used.fetch_sub(freed, Ordering::Relaxed) - freed;
        if used > self.budget as u64 {
            let mut by_age: Vec<(Instant, String, u64)> = map
                .iter()
                .filter_map(|(k, e)| {
                    e.cell
                        .get()
                        .map(|(_, at)| (*at, k.clone(), e.size() as u64))
                })
                .collect();
            by_age.sort();
            for (_, k, size) in by_age {
                if used <= self.budget as u64 {
                    break;
                }
                map.remove(&k);
                self.used.fetch_sub(size, Ordering::Relaxed);
                used -= size;
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

    #[test]
    fn keys_drop_the_session_only_for_media() {
        assert_eq!(key("a_part3.mp4", Some("session=x")), "a_part3.mp4");
        assert_eq!(key("seg.mp4", Some("session=x&v=1")), "seg.mp4?v=1");
        assert_eq!(
            key("v.m3u8", Some("session=x&_HLS_msn=3")),
            "v.m3u8?session=x&_HLS_msn=3"
        );
        assert_eq!(key("v.m3u8", None), "v.m3u8");
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
                    .get("p.mp4".into(), "p.mp4", || async {
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

    #[tokio::test]
    async fn a_caller_that_gives_up_hands_the_fetch_to_the_next() {
        let cache = Cache::new(1 << 20);
        let first = cache.get("p.mp4".into(), "p.mp4", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            ok(b"never")
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), first)
            .await
            .is_err());
        let second = cache
            .get("p.mp4".into(), "p.mp4", || async { ok(b"second") })
            .await;
        assert_eq!(second.unwrap().body, Bytes::from_static(b"second"));
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
