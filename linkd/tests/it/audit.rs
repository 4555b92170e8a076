//! The audit trail against the real linkd: a real play leaves its story (opened, devices,
//! session started and ended with address, browser, time and bytes), changes name their
//! actor (the socket's local user, or the chat botd names), the trail is written at shutdown
//! and deleted past its retention.

use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{get, wait_for, Linkd};
use crate::creds::count;
use kit::clock::Clock;
use std::time::Duration;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const T0: i64 = 1_800_000_000;

async fn start(dir: &std::path::Path, origin: &FakeOrigin, clock: &Clock) -> Linkd {
    let (base, clock) = (origin.base_url(), clock.clone());
    Linkd::start_in(dir, move |c| {
        c.mediamtx_hls_base_url = base;
        c.clock = clock;
    })
    .await
}

/// The name of the user running the tests, as linkd reads it from the socket's peer.
fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn play(l: &Linkd, cookie: &str) {
    for file in ["index.m3u8", "seg1.mp4"] {
        let r = get(&l.url(&format!("/play/{file}")), Some(cookie))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_play_leaves_its_story_in_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let clock = Clock::manual(T0);
    let l = start(dir.path(), &origin, &clock).await;
    let (id, token, _) = l.new_link(&["1h", "--note", "Grandma"]).await;
    let (a, device) = l.open_as(&token, None, FIREFOX).await;
    play(&l, &a).await;
    let v = viewers(&l).await;
    assert_eq!(v.len(), 1, "{v:?}");
    let seen = ["link_id", "note", "browser", "client"].map(|k| v[0][k].clone());
    let want = serde_json::json!([id, "Grandma", "Firefox", "127.0.0.0/24"]);
    assert_eq!(serde_json::Value::from(seen.to_vec()), want);
    // The same device opens it again; another device opens it too.
    clock.advance(10);
    let (again, _) = l.open_as(&token, Some(&device), FIREFOX).await;
    play(&l, &again).await;
    let (b, _) = l.open_as(&token, None, CHROME).await;
    play(&l, &b).await;
    clock.advance(10);
    for cookie in [&a, &again, &b] {
        play(&l, cookie).await;
    }
    assert_eq!(viewers(&l).await.len(), 3);
    // Nothing for 20 s: every session has ended.
    clock.advance(20);
    wait_for("the sessions end", Duration::from_secs(10), || async {
        viewers(&l).await.is_empty()
    })
    .await;
    let log = l.linkctl(&["--json", "log", &id.to_string()]).await.json();
    assert_eq!(
        (&log["opened"], &log["devices"], &log["watching_now"]),
        (&3.into(), &2.into(), &0.into()),
        "{log}"
    );
    assert_eq!(log["watched_s"], 20 + 10 + 10, "{log}");
    assert_eq!(log["last_seen"], T0 + 20, "{log}");
    assert_events(&log["events"], &[&token, &a, &b, &device]);
    let story = l.linkctl(&["log", &id.to_string()]).await;
    assert!(
        story.stdout.starts_with(&format!(
            "link {id} (Grandma): opened 3 times from 2 devices, watched 40s, last seen "
        )),
        "{}",
        story.stdout
    );
    // botd heard of each new device once.
    let db = l.config.db_path.clone();
    let sql = "SELECT count(*) AS n FROM link_events WHERE kind = 'link_opened'";
    assert_eq!(count(&db, sql), 2);
    assert_eq!(count(&db, "SELECT max(devices) AS n FROM link_events"), 2);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_names_the_chat_is_written_at_shutdown_and_kept_only_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let clock = Clock::manual(T0);
    let l = start(dir.path(), &origin, &clock).await;
    let c = proto::connect(&l.socket).await.unwrap();
    let ctx = tarpc::context::current;
    c.identify(ctx(), 4242).await.unwrap().unwrap();
    let link = c
        .create_link(ctx(), Some("2h".into()), None)
        .await
        .unwrap()
        .unwrap();
    c.extend_link(ctx(), link.id, "3h".into())
        .await
        .unwrap()
        .unwrap();
    let token = link.url.rsplit('/').next().unwrap().to_string();
    let (cookie, _) = l.open_as(&token, None, CHROME).await;
    play(&l, &cookie).await;
    let log = c.link_log(ctx(), link.id).await.unwrap().unwrap();
    let kinds: Vec<_> = log.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["session_started", "opened", "extended", "created"]);
    let chat = proto::Actor::Chat {
        chat_id: 4242,
        user: Some(me()),
    };
    assert_eq!(log.events[2].actor.as_ref(), Some(&chat));
    assert_eq!(log.events[2].expires_at, Some(T0 + 3 * 3600));
    // The session still playing is written as ended when linkd stops.
    l.stop().await.unwrap();
    let db = dir.path().join("db.sqlite");
    let ended = "SELECT count(*) AS n FROM link_audit WHERE kind = 'session_ended'";
    assert_eq!(count(&db, ended), 1);
    // 31 days later (the default retention is 30), nothing of it is left.
    clock.advance(31 * 86400);
    let l = start(dir.path(), &origin, &clock).await;
    wait_for("the trail is deleted", Duration::from_secs(10), || async {
        count(&db, "SELECT count(*) AS n FROM link_audit") == 0
            && count(
                &db,
                "SELECT count(*) AS n FROM link_events WHERE kind = 'link_opened'",
            ) == 0
    })
    .await;
    let story = l.linkctl(&["log", &link.id.to_string()]).await;
    assert!(story.stdout.contains("not opened yet"), "{}", story.stdout);
    l.stop().await.unwrap();
}

/// `linkctl --json viewers`.
async fn viewers(l: &Linkd) -> Vec<serde_json::Value> {
    let v = l.linkctl(&["--json", "viewers"]).await.json();
    v.as_array().unwrap().clone()
}

/// The events of the story test: created by this user, three sessions ended with their
/// network, device and bytes, and none of the `secrets` a browser holds.
fn assert_events(events: &serde_json::Value, secrets: &[&String]) {
    let list = events.as_array().unwrap();
    let created = list.last().unwrap();
    assert_eq!(created["kind"], "created");
    assert_eq!(
        created["actor"],
        serde_json::json!({"user": {"name": me()}})
    );
    let ended: Vec<_> = list
        .iter()
        .filter(|e| e["kind"] == "session_ended")
        .collect();
    assert_eq!(ended.len(), 3, "{events}");
    for e in &ended {
        assert!(e["bytes"].as_u64().unwrap() > 0, "{e}");
        assert_eq!(e["client"], "127.0.0.0/24");
        assert_eq!(e["device"].as_str().unwrap().len(), 8);
    }
    // What a viewer's browser holds never reaches the trail.
    let text = events.to_string();
    for secret in secrets {
        let value = secret.split('=').next_back().unwrap();
        assert!(!text.contains(value), "{value} in the trail");
    }
}
