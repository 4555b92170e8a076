//! The real `botd` binary: `--check-config` exit codes and output, and a clean exit on SIGTERM.

use crate::common;
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::common::{fake_telegram::FakeTelegram, TOKEN, WAIT};

fn botd(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botd"));
    cmd.env_clear().envs(env.iter().copied());
    cmd
}

#[test]
fn check_config_masks_the_token_and_reports_every_problem() {
    let out = botd(&[
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("ALLOWED_CHAT_IDS", "1,2"),
        ("TIME_ZONE", "Europe/Berlin"),
    ])
    .arg("--check-config")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("TELEGRAM_BOT_TOKEN=123456:********"),
        "{stdout}"
    );
    assert!(stdout.contains("TIME_ZONE=Europe/Berlin"), "{stdout}");
    assert!(stdout.contains("LINK_TTL_OPTIONS=30m,1h,3h"), "{stdout}");
    assert!(!stdout.contains("AAHsecret"), "{stdout}");

    let out = botd(&[
        ("TELEGRAM_BOT_TOKEN", "nonsense-secret"),
        ("ALLOWED_CHAT_IDS", "1,x"),
        ("NOTIFY", "everything"),
    ])
    .arg("--check-config")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    for needle in [
        "TELEGRAM_BOT_TOKEN",
        "ALLOWED_CHAT_IDS: \"x\"",
        "NOTIFY: \"everything\"",
    ] {
        assert!(stderr.contains(needle), "{needle} missing in {stderr}");
    }
    assert!(!stderr.contains("nonsense-secret"), "{stderr}");

    let out = botd(&[]).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn toml_file_is_read_and_env_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("botd.toml");
    std::fs::write(
        &path,
        format!("telegram_bot_token = {TOKEN:?}\nallowed_chat_ids = [7, 8]\nnotify = \"live\"\n"),
    )
    .unwrap();
    let out = botd(&[("NOTIFY", "opened")])
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ALLOWED_CHAT_IDS=7,8"), "{stdout}");
    assert!(stdout.contains("NOTIFY=opened\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_botd_with_exit_code_0() {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start(TOKEN).await;
    let socket = dir.path().join("absent.sock");
    let url = tg.url();
    let mut child = botd(&[
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("ALLOWED_CHAT_IDS", "1001"),
        ("RPC_SOCKET", socket.to_str().unwrap()),
        ("TELEGRAM_API_URL", &url),
        ("LOG_LEVEL", "debug"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Ready once it answers a command (linkd is absent: it says so).
    let answer = common::ask(&tg, 1001, "/status").await;
    assert!(answer.text().contains("not reachable"), "{}", answer.text());

    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "botd did not stop after SIGTERM");
        let _ = tg
            .wait_for(tg.mark(), Duration::from_millis(50), |_| false)
            .await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "colour codes in a pipe: {stderr:?}"
    );
    assert!(
        !stderr.contains(TOKEN) && !stderr.contains("AAHsecret"),
        "the token was logged"
    );
}
