//! Sharing limits over real HTTP and the real linkctl: viewer caps, one-time links, kick,
//! rotate and `off --all`, also across a restart of linkd.

use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{get, Answer, Linkd};
use std::path::Path;
use std::time::Duration;

async fn start(dir: &Path, origin: &FakeOrigin) -> Linkd {
    let base = origin.base_url();
    Linkd::start_in(dir, move |c| {
        c.mediamtx_hls_base_url = base;
        c.probe_interval = Duration::from_millis(200);
    })
    .await
}

/// A browser: its playback cookie and, for a limited link, its device cookie.
#[derive(Clone, Default)]
struct Device {
    session: String,
    device: Option<String>,
}

impl Device {
    /// Takes the cookies an answer sets (an empty value deletes one).
    fn keep(&mut self, a: &Answer) {
        for v in a.headers.get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_string();
            if pair.starts_with("watch_session=") && pair.len() > "watch_session=".len() {
                self.session = pair;
            } else if pair.starts_with("watch_slot_") {
                self.device = Some(pair);
            }
        }
    }

    /// Opens the watch page of `token`, sending the device cookie this browser has.
    async fn open(&mut self, l: &Linkd, token: &str) -> Answer {
        let r = get(
            &l.url(&format!("/live/stream/{token}")),
            self.device.as_deref(),
        )
        .await
        .unwrap();
        self.keep(&r);
        r
    }

    /// A request under `/play/` with the playback cookie.
    async fn play(&mut self, l: &Linkd, file: &str) -> Answer {
        let r = get(&l.url(&format!("/play/{file}")), Some(&self.session))
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    /// The session poll's state.
    async fn state(&mut self, l: &Linkd) -> String {
        let r = self.play(l, "_session").await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["state"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cap_refuses_the_next_device_until_a_page_closes() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), &origin).await;
    let (id, token, _) = l.new_link(&["1h", "--max-viewers", "2"]).await;
    let (mut a, mut b, mut c) = (Device::default(), Device::default(), Device::default());
    assert_eq!(a.open(&l, &token).await.status, 200);
    assert_eq!(b.open(&l, &token).await.status, 200);
    let refused = c.open(&l, &token).await;
    assert_eq!(refused.status, 403);
    assert!(refused.header("set-cookie").is_none(), "no session for it");
    let page = refused.body_text();
    assert!(page.contains("already in use on 2 devices"), "{page}");
    assert!(page.contains(r#"data-state="in_use""#), "{page}");
    // A device that watches keeps its own slot when it reloads.
    assert_eq!(a.open(&l, &token).await.status, 200);
    assert_eq!(a.play(&l, "seg1.mp4").await.status, 200);
    // The cap holds across a restart of linkd.
    l.stop().await.unwrap();
    let l = start(dir.path(), &origin).await;
    let listed = l.linkctl(&["--json", "list"]).await.json();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["max_viewers"], 2);
    assert_eq!(listed[0]["once"], false);
    assert_eq!(
        c.open(&l, &token).await.status,
        200,
        "a restart forgets who watched"
    );
    // a's page stays open (it plays); b's page was closed: its slot is free within 30 s.
    assert_eq!(b.open(&l, &token).await.status, 200);
    let started = std::time::Instant::now();
    let watching = a.clone();
    let poller = tokio::spawn({
        let url = l.url("/play/index.m3u8");
        async move {
            loop {
                let _ = get(&url, Some(&watching.session)).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    // (Timed from when each attempt is sent, so that a slow machine's answers do not count.)
    let mut d = Device::default();
    loop {
        let asked_at = started.elapsed();
        assert!(
            asked_at < Duration::from_secs(30),
            "a closed page's slot is free within 30 s"
        );
        if d.open(&l, &token).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // a (still playing) and d hold the two slots now.
    let mut e = Device::default();
    assert_eq!(e.open(&l, &token).await.status, 403);
    poller.abort();
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_out_of_range_are_refused_with_a_code() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), &origin).await;
    for cap in ["0", "101"] {
        let out = l
            .linkctl(&["--json", "new", "1h", "--max-viewers", cap])
            .await;
        assert_eq!(out.code, 1, "{out:?}");
        let err: serde_json::Value = serde_json::from_str(&out.stderr).unwrap();
        assert_eq!(err["error"]["code"], "bad_max_viewers", "{err}");
        assert_eq!(err["error"]["max"], 100);
    }
    assert_eq!(
        l.linkctl(&["--json", "list"]).await.json(),
        serde_json::json!([])
    );
    let out = l
        .linkctl(&["new", "--permanent", "--once", "--max-viewers", "3"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("once, max 3"), "{}", out.stdout);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_link_belongs_to_the_first_device_that_receives_video() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), &origin).await;
    let (_, token, _) = l.new_link(&["1h", "--once"]).await;
    let (mut a, mut b) = (Device::default(), Device::default());
    // Pages opened and a page that got no video (offline) bind nothing.
    origin.set_live(false);
    assert_eq!(a.open(&l, &token).await.status, 200);
    assert_eq!(b.open(&l, &token).await.status, 200);
    assert_eq!(a.play(&l, "seg9.mp4").await.status, 404);
    assert_eq!(b.play(&l, "index.m3u8").await.status, 404);
    origin.set_live(true);
    // A playlist is not video either (the offline answer is kept for a moment); b's first
    // part is.
    let back = std::time::Instant::now();
    while a.play(&l, "index.m3u8").await.status != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "the playlist is back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.play(&l, "seg1.mp4").await.status, 200);
    let refused = a.play(&l, "seg2.mp4").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("x-link-state").as_deref(), Some("taken"));
    assert_eq!(a.state(&l).await, "taken", "a's page says so");
    // Another device is refused with a page that says so; b reloads and watches on.
    let mut c = Device::default();
    let page = c.open(&l, &token).await;
    assert_eq!(page.status, 403);
    assert!(
        page.body_text().contains("another device"),
        "{}",
        page.body_text()
    );
    assert_eq!(b.open(&l, &token).await.status, 200);
    assert_eq!(b.play(&l, "seg2.mp4").await.status, 200);
    // The slot cookie knows b again, but is no playback session by itself.
    let device = b.device.clone().expect("a slot cookie");
    let value = device.split_once('=').unwrap().1;
    let forged = format!("watch_session={value}");
    let r = get(&l.url("/play/seg2.mp4"), Some(&forged)).await.unwrap();
    assert_eq!(r.status, 403);
    // The binding holds across a restart.
    l.stop().await.unwrap();
    let l = start(dir.path(), &origin).await;
    assert_eq!(c.open(&l, &token).await.status, 403);
    assert_eq!(b.open(&l, &token).await.status, 200);
    assert_eq!(b.play(&l, "seg3.mp4").await.status, 200);
    // A kick frees it: the next device to receive video has it.
    assert_eq!(l.linkctl(&["kick", "1"]).await.code, 0);
    assert_eq!(b.state(&l).await, "kicked");
    assert_eq!(c.open(&l, &token).await.status, 200);
    assert_eq!(c.play(&l, "seg3.mp4").await.status, 200);
    assert_eq!(
        b.open(&l, &token).await.status,
        403,
        "b's device is not the one now"
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_ends_the_current_sessions_and_the_next_opening_starts_afresh() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), &origin).await;
    let (id, token, url) = l.new_link(&["1h", "--note", "Grandma"]).await;
    let (mut a, mut b) = (Device::default(), Device::default());
    a.open(&l, &token).await;
    b.open(&l, &token).await;
    assert_eq!(a.play(&l, "seg1.mp4").await.status, 200);
    let out = l.linkctl(&["--json", "kick", &id.to_string()]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let link = out.json();
    assert_eq!(
        (link["state"].as_str(), link["url"].as_str()),
        (Some("active"), Some(url.as_str()))
    );
    let r = a.play(&l, "seg1.mp4").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-link-state").as_deref(), Some("kicked"));
    assert_eq!(
        a.state(&l).await,
        "kicked",
        "the page says so (the cookie was cleared)"
    );
    assert_eq!(b.state(&l).await, "kicked");
    // The next opening plays; an old cookie stays refused, also after a restart.
    let old = b.clone();
    assert_eq!(b.open(&l, &token).await.status, 200);
    assert_eq!(b.play(&l, "seg1.mp4").await.status, 200);
    l.stop().await.unwrap();
    let l = start(dir.path(), &origin).await;
    let mut old = old;
    assert_eq!(old.play(&l, "seg1.mp4").await.status, 403);
    assert_eq!(b.play(&l, "seg1.mp4").await.status, 200);
    // Only active links can be kicked.
    assert_eq!(l.linkctl(&["off", &id.to_string()]).await.code, 0);
    let out = l.linkctl(&["--json", "kick", &id.to_string()]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already_disabled"), "{}", out.stderr);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_gives_a_new_url_and_stops_the_old_one_and_its_sessions() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), &origin).await;
    let (id, token, url) = l
        .new_link(&["2h", "--note", "Grandma", "--max-viewers", "3"])
        .await;
    let mut a = Device::default();
    a.open(&l, &token).await;
    assert_eq!(a.play(&l, "seg1.mp4").await.status, 200);
    let before = l.linkctl(&["--json", "list"]).await.json()[0].clone();
    let out = l.linkctl(&["--json", "rotate", &id.to_string()]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let after = out.json();
    assert_ne!(after["url"], url.as_str());
    for field in [
        "id",
        "note",
        "expires_at",
        "max_viewers",
        "once",
        "created_at",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let new_token = crate::common::token_of(&after);
    // The old URL and its session stop at once; the page says why.
    assert_eq!(Device::default().open(&l, &token).await.status, 404);
    let r = a.play(&l, "seg1.mp4").await;
    assert_eq!(
        (r.status, r.header("x-link-state").as_deref()),
        (403, Some("rotated"))
    );
    assert_eq!(a.state(&l).await, "rotated");
    let mut b = Device::default();
    assert_eq!(b.open(&l, &new_token).await.status, 200);
    assert_eq!(b.play(&l, "seg1.mp4").await.status, 200);
    // After a restart the new URL is the link's, the old one stays dead.
    l.stop().await.unwrap();
    let l = start(dir.path(), &origin).await;
    assert_eq!(Device::default().open(&l, &token).await.status, 404);
    assert_eq!(Device::default().open(&l, &new_token).await.status, 200);
    assert_eq!(
        l.linkctl(&["--json", "list"]).await.json()[0]["url"],
        after["url"]
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_all_switches_every_active_link_off() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = start(dir.path(), &origin).await;
    let (id1, t1, _) = l.new_link(&["1h"]).await;
    let (id2, _, _) = l.new_link(&["--permanent", "--once"]).await;
    let (id3, _, _) = l.new_link(&["1h"]).await;
    assert_eq!(l.linkctl(&["off", &id2.to_string()]).await.code, 0);
    let mut a = Device::default();
    a.open(&l, &t1).await;
    let out = l.linkctl(&["--json", "off", "--all"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let off = out.json();
    let ids: Vec<i64> = off
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id3, id1]);
    assert!(off
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["state"] == "disabled"));
    assert_eq!(a.state(&l).await, "disabled");
    let again = l.linkctl(&["--json", "off", "--all"]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("no_active_links"), "{}", again.stderr);
    let text = l.linkctl(&["off", "--all", "--last"]).await;
    assert_eq!(text.code, 2, "--all and --last exclude each other");
    l.stop().await.unwrap();
}
