//! The linkd binary's start-up contract: configuration errors listed at once with exit 64,
//! `--check-config`, clear refusals for unusable databases, and a clean SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn linkd(env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkd"));
    c.env_clear().args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

#[test]
fn every_config_problem_is_listed_and_the_exit_code_is_64() {
    let out = linkd(
        &[
            ("DEFAULT_LINK_TTL", "bogus"),
            ("HTTP_ADDR", "nowhere"),
            ("LOG_LEVEL", "loud"),
            ("COOKIE_SECURE", "maybe"),
            ("HTTP_TRUSTED_PROXY_COUNT", "0"),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for words in [
        "BASE_URL: required, e.g. https://watch.example.org",
        "MEDIAMTX_HLS_BASE_URL: required",
        "DEFAULT_LINK_TTL=bogus: not a duration, e.g. 90s, 30m, 1h30m, 1.5h or 2d",
        "HTTP_ADDR=nowhere: not a listen address",
        "LOG_LEVEL=loud: use trace, debug, info",
        "COOKIE_SECURE=maybe: not a boolean",
    ] {
        assert!(err.contains(words), "missing {words:?} in {err}");
    }
    assert!(
        !err.contains("HTTP_TRUSTED_PROXY_COUNT"),
        "0 is valid: {err}"
    );
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_masked() {
    let env = [
        ("BASE_URL", "https://watch.example.org"),
        ("MEDIAMTX_HLS_BASE_URL", "http://127.0.0.1:8888/live/stream"),
        ("MEDIAMTX_READ_USER", "reader"),
        ("MEDIAMTX_READ_PASSWORD", "s3cret-pass"),
    ];
    let out = linkd(&env, &["--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP_ADDR=0.0.0.0:8080"), "{text}");
    for line in [
        "HTTP_TRUSTED_PROXIES=127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7\n",
        "HTTP_MAX_CONNECTIONS=16384\n",
        "HTTP_MAX_CONNECTIONS_PER_CLIENT=64\n",
        "HTTP_SEND_TIMEOUT=1m\n",
    ] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
    assert!(text.contains("MEDIAMTX_READ_PASSWORD=***"));
    assert!(!text.contains("s3cret-pass"));
    let bad = linkd(&[("BASE_URL", "x")], &["--check-config"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(64));
}

/// A media server left with a static publish password is a warning of `--check-config`
/// (valid, exit 0); pointed at linkd it is not.
#[test]
fn check_config_warns_about_a_static_publish_password() {
    let mut env = vec![
        ("BASE_URL", "https://watch.example.org"),
        ("MEDIAMTX_HLS_BASE_URL", "http://127.0.0.1:8888/live/stream"),
        ("MEDIAMTX_READ_USER", "reader"),
        ("MEDIAMTX_READ_PASSWORD", "s3cret-pass"),
        ("MEDIAMTX_PUBLISH_USER", "obs"),
        ("MEDIAMTX_PUBLISH_PASSWORD", "static-pass"),
    ];
    let out = linkd(&env, &["--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linkd: warning: MEDIAMTX_PUBLISH_USER"),
        "{err}"
    );
    assert!(
        err.contains("MEDIA_AUTH_ADDR") && !err.contains("static-pass"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("MEDIAMTX_PUBLISH_PASSWORD=***\n"));
    env.push(("MEDIA_AUTH_ADDR", "127.0.0.1:9180"));
    let out = linkd(&env, &["--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[test]
fn bad_arguments_exit_64_and_help_exits_0() {
    let bad = linkd(&[], &["--no-such-flag"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--no-such-flag"));
    let help = linkd(&[], &["--help"]).output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--check-config"));
}

#[test]
fn toml_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("linkd.toml");
    std::fs::write(
        &file,
        "base_url = \"https://from-file.example\"\nmediamtx_hls_base_url = \"http://127.0.0.1:8888/live/stream\"\nhttp_trusted_proxy_count = 2\ndefault_link_ttl = \"3h\"\n",
    )
    .unwrap();
    let out = linkd(
        &[("DEFAULT_LINK_TTL", "2h")],
        &["--config", file.to_str().unwrap(), "--check-config"],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("BASE_URL=https://from-file.example"));
    assert!(text.contains("HTTP_TRUSTED_PROXY_COUNT=2"));
    assert!(text.contains("DEFAULT_LINK_TTL=2h"), "{text}");
    let missing = linkd(&[], &["--config", "/nonexistent/linkd.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(64));
}

fn base_env(dir: &std::path::Path, db: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("BASE_URL".into(), "http://127.0.0.1".into()),
        (
            "MEDIAMTX_HLS_BASE_URL".into(),
            "http://127.0.0.1:9/live/stream".into(),
        ),
        ("HTTP_ADDR".into(), "127.0.0.1:0".into()),
        ("DB_PATH".into(), db.display().to_string()),
        (
            "RPC_SOCKET".into(),
            dir.join("linkd.sock").display().to_string(),
        ),
    ]
}

fn run_until_exit(env: Vec<(String, String)>) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkd"));
    c.env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed(),
    )
}

#[test]
fn unusable_databases_are_refused_with_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // Missing directory: not created.
    let missing = dir.path().join("no-such-dir").join("db.sqlite");
    let (code, err, took) = run_until_exit(base_env(dir.path(), &missing));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no-such-dir") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!dir.path().join("no-such-dir").exists());
    assert!(took < Duration::from_secs(5));

    // Not a database at all.
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
    let (code, err, _) = run_until_exit(base_env(dir.path(), &junk));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("junk.sqlite") && err.contains("not a SQLite database"),
        "{err}"
    );

    // Another program's database: left untouched.
    let foreign = dir.path().join("foreign.sqlite");
    {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let mut c = diesel::sqlite::SqliteConnection::establish(foreign.to_str().unwrap()).unwrap();
        c.batch_execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT);")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let (code, err, _) = run_until_exit(base_env(dir.path(), &foreign));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("another program") && err.contains("left untouched"),
        "{err}"
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    assert!(
        !dir.path().join("linkd.sock").exists(),
        "socket removed after a failed start"
    );
}

#[test]
fn sigterm_stops_linkd_with_exit_0_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = run_until_term(dir.path(), &[]);
    assert_eq!(code, Some(0));
    assert!(!dir.path().join("linkd.sock").exists());
}

/// Logs read well where they end up: no colour codes in a pipe or a file, no timestamp of
/// linkd's own under journald (it stamps lines itself), one JSON object per line for shippers.
#[test]
fn log_lines_suit_pipes_journald_and_shippers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, piped) = run_until_term(dir.path(), &[]);
    let (_, journal) = run_until_term(dir.path(), &[("JOURNAL_STREAM", "8:12345")]);
    let (_, json) = run_until_term(dir.path(), &[("LOG_FORMAT", "json")]);
    for (name, out) in [("piped", &piped), ("journald", &journal), ("json", &json)] {
        assert!(out.lines().count() >= 2, "{name}: {out}");
        assert!(!out.contains('\x1b'), "{name} has escape codes: {out:?}");
    }
    for line in piped.lines() {
        assert!(
            line.starts_with("20"),
            "a piped line starts with its time: {line}"
        );
    }
    for line in journal.lines() {
        assert!(
            line.trim_start().starts_with("INFO") || line.trim_start().starts_with("WARN"),
            "a journald line starts with its level: {line}"
        );
    }
    for line in json.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
}

/// Runs the linkd binary in `dir` until it serves its socket, stops it with SIGTERM and
/// returns its exit code and stderr.
fn run_until_term(dir: &std::path::Path, extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let db = dir.join("db.sqlite");
    let sock = dir.join("linkd.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_linkd"))
        .env_clear()
        .envs(base_env(dir, &db))
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(sock.exists() && std::os::unix::net::UnixStream::connect(&sock).is_ok()) {
        assert!(Instant::now() < deadline, "linkd did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe_kill(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "linkd did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

fn unsafe_kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}
