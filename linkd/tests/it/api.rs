//! The link API end to end: linkd's `run()` in-process on a temp socket and port 0, driven by
//! the real `linkctl` binary (and the tarpc client where many calls run at once).

use crate::common;
use crate::common::{linkctl, Linkd};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkctl_creates_lists_and_disables_links() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let [a, p, d] = create_three(&l).await;
    list_newest_first(&l, &[&d, &p, &a]).await;
    off_by_id_then_last(&l, &a, &d).await;
    status_counts_the_one_left(&l).await;
    l.stop().await.unwrap();
}

/// Create: with a TTL and note, permanent, default TTL; returns them in that order.
async fn create_three(l: &Linkd) -> [serde_json::Value; 3] {
    let a = l
        .linkctl(&["--json", "new", "90m", "--note", "Grandma 👵"])
        .await;
    assert_eq!(a.code, 0, "{a:?}");
    let a = a.json();
    assert_eq!(a["note"], "Grandma 👵");
    assert_eq!(a["state"], "active");
    assert_eq!(a["viewers"], 0);
    assert!(a["disabled_at"].is_null());
    assert_eq!(
        a["expires_at"].as_i64().unwrap() - a["created_at"].as_i64().unwrap(),
        5400
    );
    let url = a["url"].as_str().unwrap();
    let token = url
        .strip_prefix("http://127.0.0.1/live/stream/")
        .expect("BASE_URL + /live/stream/");
    assert_eq!(token.len(), 32);
    for key in [
        "id",
        "url",
        "note",
        "created_at",
        "expires_at",
        "state",
        "disabled_at",
        "viewers",
    ] {
        assert!(a.get(key).is_some(), "key {key} missing");
    }
    let p = l.linkctl(&["--json", "new", "--permanent"]).await.json();
    assert!(p["expires_at"].is_null());
    let d = l.linkctl(&["--json", "new"]).await.json();
    assert_eq!(
        d["expires_at"].as_i64().unwrap() - d["created_at"].as_i64().unwrap(),
        3600
    );
    [a, p, d]
}

/// List: newest first, as a JSON array and as a table.
async fn list_newest_first(l: &Linkd, newest_first: &[&serde_json::Value]) {
    let ids = l.listed_ids().await;
    let want: Vec<i64> = newest_first
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, want);
    let table = l.linkctl(&["list"]).await;
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains("Grandma"));
    assert!(table.stdout.contains("never"));
}

/// Off by id, then again; off --last takes the newest active (`newest`).
async fn off_by_id_then_last(l: &Linkd, a: &serde_json::Value, newest: &serde_json::Value) {
    let id = a["id"].to_string();
    let off = l.linkctl(&["--json", "off", &id]).await;
    assert_eq!(off.code, 0);
    assert_eq!(off.json()["state"], "disabled");
    assert!(off.json()["disabled_at"].is_i64());
    let again = l.linkctl(&["off", &id]).await;
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("already disabled"),
        "{}",
        again.stderr
    );
    let last = l.linkctl(&["--json", "off", "--last"]).await.json();
    assert_eq!(last["id"], newest["id"]);
    let list = l.linkctl(&["--json", "list"]).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// Status: one active link, offline, and every documented key present.
async fn status_counts_the_one_left(l: &Linkd) {
    let s = l.linkctl(&["--json", "status"]).await.json();
    assert_eq!(s["active_links"], 1);
    assert_eq!(s["live"], false);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert!(s["live_since"].is_null(), "offline: no live_since");
    for key in [
        "live",
        "live_since",
        "viewers",
        "active_links",
        "version",
        "uptime_s",
    ] {
        assert!(s.get(key).is_some(), "key {key} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_their_exit_codes() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let long_note = "x".repeat(201);
    // (args, exit code, words in stderr)
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["new", "0s"], 1, "invalid ttl"),
        (vec!["new", "100000d"], 1, "too long"),
        (vec!["new", "bogus"], 1, "not a duration"),
        (
            vec!["new", "1h", "--note", &long_note],
            1,
            "longer than 200",
        ),
        (vec!["new", "1h", "--note", "a\nb"], 1, "control characters"),
        (vec!["off", "999"], 1, "link 999 not found"),
        (vec!["off", "--last"], 1, "no active links"),
        (vec!["extend", "999", "1h"], 1, "not found"),
        (vec!["frobnicate"], 2, "unrecognized subcommand"),
        (vec!["off"], 2, "required"),
        (vec!["new", "1h", "--permanent"], 2, "cannot be used"),
    ];
    for (args, code, words) in cases {
        let out = l.linkctl(&args).await;
        assert_eq!(out.code, code, "{args:?}: {out:?}");
        assert!(out.stderr.contains(words), "{args:?}: {}", out.stderr);
    }
    // unreachable socket: 69 with the path and a hint
    let missing = l.dir.join("nobody.sock");
    let out = linkctl(&missing, &["list"]).await;
    assert_eq!(out.code, 69);
    assert!(
        out.stderr.contains("nobody.sock") && out.stderr.contains("is linkd running?"),
        "{}",
        out.stderr
    );
    l.stop().await.unwrap();
}

/// linkctl without flags, as an operator types it: it finds the socket of each documented
/// install, says which paths it tried, names itself, and gives scripts JSON errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkctl_finds_its_socket_and_explains_itself() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let run = |cwd: std::path::PathBuf, args: Vec<&'static str>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_linkctl"))
            .args(args)
            .current_dir(cwd)
            .env_remove("RPC_SOCKET")
            .output()
            .await
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    // Beside the socket (a local run): ./linkd.sock.
    let (code, stdout, _) = run(l.dir.clone(), vec!["--json", "status"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    // Nowhere: every path tried is named.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(empty.path().into(), vec!["list"]).await;
    assert_eq!(code, Some(69));
    for path in [
        "/run/tempstream/linkd.sock",
        "./linkd.sock",
        "is linkd running?",
    ] {
        assert!(stderr.contains(path), "{path} missing in {stderr}");
    }
    let (code, _, stderr) = run(empty.path().into(), vec!["--json", "list"]).await;
    assert_eq!(code, Some(69));
    let e: serde_json::Value = serde_json::from_str(stderr.trim()).expect("a JSON error");
    assert_eq!(e["error"]["code"], "unreachable", "{e}");
    // Its name, examples and exit codes.
    let (_, version, _) = run(empty.path().into(), vec!["--version"]).await;
    assert!(version.starts_with("linkctl "), "{version}");
    let (_, help, _) = run(empty.path().into(), vec!["--help"]).await;
    for words in [
        "Usage: linkctl",
        "Examples:",
        "linkctl new 90m",
        "Exit codes:",
        "69",
    ] {
        assert!(help.contains(words), "{words} missing in {help}");
    }
    // Refusals as JSON with a stable code (exit 1).
    let (id, _, _) = l.new_link(&["1h"]).await;
    l.linkctl(&["off", &id.to_string()]).await;
    let id = id.to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--json", "off", "999"], "not_found"),
        (vec!["--json", "off", &id], "already_disabled"),
        (vec!["--json", "new", "soon"], "bad_ttl"),
        (vec!["--json", "off", "--last"], "no_active_links"),
    ];
    for (args, code) in cases {
        let out = l.linkctl(&args).await;
        assert_eq!(out.code, 1, "{args:?}");
        let e: serde_json::Value = serde_json::from_str(out.stderr.trim())
            .unwrap_or_else(|_| panic!("not JSON: {}", out.stderr));
        assert_eq!(e["error"]["code"], code, "{args:?}: {e}");
        assert!(e["error"]["message"].is_string());
    }
    l.stop().await.unwrap();
}

/// A link's note is the operator's label; viewers see a greeting only when one is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_a_greeting_only_when_asked_for() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let (id, token, _) = l.new_link(&["1h", "--note", "ex-boss"]).await;
    let page = || async {
        common::get(&l.url(&format!("/live/stream/{token}")), None)
            .await
            .unwrap()
            .body_text()
    };
    let html = page().await;
    assert!(!html.contains("ex-boss"), "the note reached the page");
    let id = id.to_string();
    let set = l.linkctl(&["greet", &id, "Hello <Grandma>!"]).await;
    assert_eq!(set.code, 0, "{set:?}");
    let html = page().await;
    assert!(html.contains("Hello &lt;Grandma&gt;!"), "{html}");
    assert!(!html.contains("ex-boss"));
    // Cleared, it goes away; refusals are typed.
    assert_eq!(l.linkctl(&["greet", &id]).await.code, 0);
    assert!(!page().await.contains("Grandma"));
    let long = "x".repeat(201);
    let refused = l.linkctl(&["--json", "greet", &id, &long]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("bad_note"), "{}", refused.stderr);
    let missing = l.linkctl(&["--json", "greet", "999", "hi"]).await;
    assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_comes_from_rpc_socket_when_no_flag_is_given() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_linkctl"))
        .args(["--json", "status"])
        .env("RPC_SOCKET", &l.socket)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_creates_give_hundred_links() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let mut calls = Vec::new();
    for i in 0..100 {
        let socket = l.socket.clone();
        calls.push(tokio::spawn(async move {
            let c = proto::connect(&socket).await.unwrap();
            c.create_link(
                tarpc::context::current(),
                Some("1h".into()),
                Some(format!("n{i}")),
            )
            .await
            .unwrap()
            .unwrap()
        }));
    }
    let mut urls = HashSet::new();
    for c in calls {
        urls.insert(c.await.unwrap().url);
    }
    assert_eq!(urls.len(), 100);
    let list = l.linkctl(&["--json", "list"]).await.json();
    assert_eq!(list.as_array().unwrap().len(), 100);
    let db = l.dir.join("db.sqlite");
    l.stop().await.unwrap();
    let rows = sqlite_count(&db, "SELECT count(*) FROM watch_links");
    assert_eq!(rows, 100);
}

pub(super) fn sqlite_count(db: &std::path::Path, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let sql = sql.replacen("count(*)", "count(*) AS n", 1);
    diesel::sql_query(sql).get_result::<N>(&mut c).unwrap().n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let l = Linkd::start_in(dir.path(), |_| {}).await;
    let (id1, _, url1) = l.new_link(&["2h", "--note", "kept"]).await;
    let (id2, _, _) = l.new_link(&["--permanent"]).await;
    assert_eq!(l.linkctl(&["off", &id2.to_string()]).await.code, 0);
    l.stop().await.unwrap();
    assert!(
        !dir.path().join("linkd.sock").exists(),
        "socket removed on shutdown"
    );

    let l = Linkd::start_in(dir.path(), |_| {}).await;
    let list = l.linkctl(&["--json", "list"]).await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id1);
    assert_eq!(list[0]["url"], url1.as_str());
    assert_eq!(list[0]["note"], "kept");
    let again = l.linkctl(&["off", &id2.to_string()]).await;
    assert!(again.stderr.contains("already disabled"));
    l.stop().await.unwrap();
}
