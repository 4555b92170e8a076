//! No secret in any log line: a full scenario (links created, opened, played, refused,
//! disabled) runs with every log line captured at the most verbose level, and none of them
//! may contain a link token, a session cookie or the origin's reader password.

use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::{get, Linkd};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tracing_subscriber::Layer as _;
use tracing_subscriber::{filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt};

/// Whether log lines are captured: only while this test runs, since the subscriber is the
/// whole test binary's and other areas' tests run beside it.
static CAPTURING: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the binary's subscriber, writing every line at every level into the returned
/// capture until [`CAPTURING`] is cleared.
fn capture_every_line() -> Capture {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_filter(filter_fn(|_| CAPTURING.load(Ordering::Relaxed))),
        )
        .init();
    CAPTURING.store(true, Ordering::Relaxed);
    capture
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line() {
    let capture = capture_every_line();

    let password = "reader-pass-0b7e2a";
    let origin = FakeOrigin::start(Behaviour {
        auth: Some("Basic cmVhZGVyOnJlYWRlci1wYXNzLTBiN2UyYQ==".into()),
        ..Default::default()
    })
    .await;
    let base = origin.base_url();
    let (_d, l) = Linkd::start(move |c| {
        c.mediamtx_hls_base_url = base;
        c.mediamtx_read_user = Some("reader".into());
        c.mediamtx_read_password = Some(linkd::testing::Secret::new(password));
        c.probe_interval = std::time::Duration::from_millis(100);
        c.media_auth_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut secrets = vec![password.to_string()];
    for args in [
        &["1h", "--note", "a"][..],
        &["--permanent"][..],
        &["5m"][..],
    ] {
        let (id, token, _) = l.new_link(args).await;
        let cookie = l.open(&token).await;
        assert_eq!(l.status("/play/index.m3u8", Some(&cookie)).await, 200);
        get(&l.url("/play/_session"), Some(&cookie)).await.unwrap();
        get(&l.url("/play/../x"), Some(&cookie)).await.unwrap();
        l.linkctl(&["off", &id.to_string()]).await;
        assert_eq!(l.status("/play/index.m3u8", Some(&cookie)).await, 403);
        get(&l.url(&format!("/live/stream/{token}")), None)
            .await
            .unwrap();
        secrets.push(token);
        secrets.push(cookie.trim_start_matches("watch_session=").to_string());
    }
    l.linkctl(&["list"]).await;
    l.linkctl(&["--json", "list"]).await;
    // The stream key: shown, used (right and wrong) by the media server, rotated.
    for _ in 0..2 {
        let key = crate::media::key(&l).await;
        l.linkctl(&["stream-key", "show"]).await;
        for k in [key.clone(), format!("{key}0")] {
            let form = format!("app=live&name=stream&call=publish&clientid=1&key={k}");
            crate::media::post(&l, "/nginx-rtmp", "application/x-www-form-urlencoded", form).await;
            let json = format!(
                r#"{{"user":"","password":"{k}","action":"publish","path":"live/stream","protocol":"rtmp","query":"key={k}"}}"#
            );
            crate::media::post(&l, "/mediamtx/auth", "application/json", json).await;
        }
        l.linkctl(&["stream-key", "rotate"]).await;
        secrets.push(key);
    }
    get(
        &l.url("/live/stream/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        None,
    )
    .await
    .unwrap();
    l.stop().await.unwrap();
    CAPTURING.store(false, Ordering::Relaxed);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("link created"),
        "the capture works: {}",
        &logs[..logs.len().min(500)]
    );
    assert!(logs.lines().count() > 20);
    for s in &secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(s.as_str())) {
            panic!("a secret reached the log: {line}");
        }
    }
    assert!(
        !logs.contains("cmVhZGVyOnJlYWRlci1wYXNzLTBiN2UyYQ"),
        "basic credentials in the log"
    );
}
