//! The scenes most `/play` tests start from: linkd in front of an origin (probed every
//! 200 ms), a viewer of a new link, a request's status, and what reached the origin.

use super::origin::{Behaviour, FakeOrigin};
use super::{get, wait_for, Linkd};
use std::path::Path;
use std::time::Duration;

/// linkd in a new temp dir in front of a fake origin behaving as `b`.
pub async fn in_front_of(b: Behaviour) -> (tempfile::TempDir, Linkd, FakeOrigin) {
    let origin = FakeOrigin::start(b).await;
    let (dir, l) = Linkd::start_before(origin.base_url()).await;
    (dir, l, origin)
}

/// linkd in front of a fake origin behaving as `b`, and one viewer of a 10-minute link:
/// its playback cookie.
pub async fn with_viewer(b: Behaviour) -> (tempfile::TempDir, Linkd, FakeOrigin, String) {
    let (dir, l, origin) = in_front_of(b).await;
    let (_, cookie) = l.viewer("10m").await;
    (dir, l, origin, cookie)
}

/// linkd in a new temp dir in front of a fake origin, on a manual clock at 1,800,000,000 that
/// the test moves.
pub async fn on_manual_clock() -> (tempfile::TempDir, Linkd, FakeOrigin, linkd::Clock) {
    let clock = linkd::Clock::manual(1_800_000_000);
    let c2 = clock.clone();
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let base = origin.base_url();
    let (dir, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.clock = c2;
    })
    .await;
    (dir, l, origin, clock)
}

impl Linkd {
    /// linkd in a new temp dir in front of the origin at `base`, probing it every 200 ms.
    pub async fn start_before(base: String) -> (tempfile::TempDir, Linkd) {
        Linkd::start(move |c| {
            c.mediamtx_hls_base_url = base;
            c.probe_interval = Duration::from_millis(200);
        })
        .await
    }

    /// linkd in `dir` (kept across restarts) in front of `origin`.
    pub async fn start_in_front_of(dir: &Path, origin: &FakeOrigin) -> Linkd {
        let base = origin.base_url();
        Linkd::start_in(dir, move |c| c.mediamtx_hls_base_url = base).await
    }

    /// A new link living `ttl`, opened once: its token and the viewer's playback cookie.
    pub async fn viewer(&self, ttl: &str) -> (String, String) {
        let (_, token, _) = self.new_link(&[ttl]).await;
        let cookie = self.open(&token).await;
        (token, cookie)
    }

    /// The status of a GET of `path` with `cookie`.
    pub async fn status(&self, path: &str, cookie: Option<&str>) -> u16 {
        get(&self.url(path), cookie).await.unwrap().status
    }
}

impl FakeOrigin {
    /// Asserts that after its first `before` requests the origin was asked for nothing but
    /// the multivariant playlist (what the refused requests before were not let through).
    pub fn assert_only_the_playlist_since(&self, before: usize) {
        let seen: Vec<_> = self.state.requests()[before..]
            .iter()
            .map(|s| s.path.clone())
            .collect();
        assert!(
            seen.iter().all(|p| p == "/live/stream/index.m3u8"),
            "refused paths reached the origin: {seen:?}"
        );
    }

    /// Waits until the origin holds a blocking reload (an `_HLS_msn` request).
    pub async fn until_held(&self) {
        let state = self.state.clone();
        wait_for("the origin holds a reload", Duration::from_secs(5), || {
            let n = state
                .requests()
                .iter()
                .filter(|s| s.query.as_deref().is_some_and(|q| q.contains("_HLS_msn")))
                .count();
            async move { n > 0 }
        })
        .await;
    }
}
