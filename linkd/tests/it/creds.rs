//! Credentials only linkd can mint: per-link session keys (a backup taken before a link
//! existed cannot sign its sessions), bounded expiry claims, signing-key rotation, and the
//! watch page fetched without a session (HEAD, link previews) and without counting an open.

use crate::common::origin::{Behaviour, FakeOrigin};
use crate::common::scene::in_front_of;
use crate::common::{get, request, wait_for, Linkd};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use linkd::testing::Token;
use linkd::testing::{Sessions, MAX_SESSION_SECS};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What a copy of the database holds: the signing keys, by id.
fn keys_in(db: &Path) -> Vec<(u32, Vec<u8>)> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct K {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Binary)]
        value: Vec<u8>,
    }
    let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query("SELECT id, value FROM linkd_signing_keys ORDER BY id")
        .load::<K>(&mut c)
        .unwrap()
        .into_iter()
        .map(|k| (k.id as u32, k.value))
        .collect()
}

fn count(db: &Path, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut c).unwrap().n
}

/// A cookie made the way linkd signed them before sessions had per-link keys: one MAC over
/// the payload with the database's key.
fn global_key_cookie(key: &[u8], link_id: i64, expires_at: i64) -> String {
    let mut payload = [0u8; 24];
    payload[..8].copy_from_slice(&link_id.to_le_bytes());
    payload[8..16].copy_from_slice(&7u64.to_le_bytes());
    payload[16..].copy_from_slice(&expires_at.to_le_bytes());
    let body = B64.encode(payload);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(b"v1.");
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("watch_session=v1.{body}.{}", B64.encode(&tag[..16]))
}

async fn play_status(l: &Linkd, cookie: &str) -> u16 {
    l.status("/play/index.m3u8", Some(cookie)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_before_a_link_existed_cannot_mint_its_sessions() {
    let (_d, l, _o) = in_front_of(Behaviour::default()).await;
    let db = l.config.db_path.clone();
    let (old_id, old_token, _) = l.new_link(&["1h"]).await;
    // The backup: every key and every token of that moment.
    let backup = keys_in(&db);
    assert!(!backup.is_empty());
    let (id, token, _) = l.new_link(&["1h"]).await;
    assert_eq!(id, old_id + 1, "ids are predictable");
    let exp = now() + 600;
    for (key_id, key) in &backup {
        let signer = Sessions::new(&[(*key_id, key.clone())], *key_id);
        let forged = [
            global_key_cookie(key, id, exp),
            // The per-link scheme with every token the backup knows.
            format!(
                "watch_session={}",
                signer.issue(id, &Token::parse(&old_token).unwrap(), exp).1
            ),
        ];
        for cookie in forged {
            assert_eq!(play_status(&l, &cookie).await, 403, "{cookie}");
        }
        // With the link's own token (a current backup has it), sessions can be minted, but
        // never claiming more than the longest session.
        let valid = signer.issue(id, &Token::parse(&token).unwrap(), exp).1;
        assert_eq!(
            play_status(&l, &format!("watch_session={valid}")).await,
            200
        );
        let far = signer
            .issue(
                id,
                &Token::parse(&token).unwrap(),
                now() + MAX_SESSION_SECS + 3600,
            )
            .1;
        assert_eq!(play_status(&l, &format!("watch_session={far}")).await, 403);
    }
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_signing_key_keeps_old_sessions_and_logout_all_ends_them() {
    let origin = FakeOrigin::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let l = Linkd::start_in_front_of(dir.path(), &origin).await;
    let (_, token, _) = l.new_link(&["1h"]).await;
    let before = l.open(&token).await;
    let r = l.linkctl(&["--json", "signing-key", "rotate"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["older_keys_accepted"], 1, "{v}");
    assert_eq!(v["logged_out_all"], false);
    let key_id = v["key_id"].as_u64().unwrap();
    let after = l.open(&token).await;
    assert_ne!(before, after);
    // The new session names the new key; both play, also after a restart.
    let keys = keys_in(&l.config.db_path);
    assert_eq!(keys.last().unwrap().0 as u64, key_id);
    l.stop().await.unwrap();
    let l = Linkd::start_in_front_of(dir.path(), &origin).await;
    assert_eq!(play_status(&l, &before).await, 200);
    assert_eq!(play_status(&l, &after).await, 200);
    let r = l.linkctl(&["signing-key", "rotate", "--logout-all"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("every older session was ended"),
        "{}",
        r.stdout
    );
    assert_eq!(play_status(&l, &before).await, 403);
    assert_eq!(play_status(&l, &after).await, 403);
    assert_eq!(keys_in(&l.config.db_path).len(), 1);
    let fresh = l.open(&token).await;
    assert_eq!(play_status(&l, &fresh).await, 200);
    l.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_link_previews_get_the_page_without_a_session_or_an_open() {
    let (_d, l, _o) = in_front_of(Behaviour::default()).await;
    let db = l.config.db_path.clone();
    let (_, token, _) = l.new_link(&["1h", "--note", "aunt"]).await;
    let url = l.url(&format!("/live/stream/{token}"));
    let opens = || count(&db, "SELECT count(*) AS n FROM link_opens");
    let page = get(&url, None).await.unwrap();
    assert!(page.header("set-cookie").is_some());
    let head = request("HEAD", &url, None, &[]).await.unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("set-cookie").is_none(),
        "HEAD issues no session"
    );
    for h in [
        "content-type",
        "content-security-policy",
        "cache-control",
        "referrer-policy",
    ] {
        assert_eq!(head.header(h), page.header(h), "{h}");
    }
    let previewers = [
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0 A",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    ];
    for ua in previewers {
        let r = request("GET", &url, None, &[("user-agent", ua)])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{ua}");
        // The stream's title, never the operator's private note.
        let text = r.body_text();
        assert!(
            text.contains("Live stream") && !text.contains("aunt"),
            "{ua}"
        );
        assert!(r.header("set-cookie").is_none(), "{ua} got a session");
    }
    // Fetching the page (preview, HEAD or a browser) is not opening the link, nor a viewer.
    assert_eq!(opens(), 0);
    let s = l.linkctl(&["--json", "status"]).await.json();
    assert_eq!(s["viewers"], 0, "{s}");
    // The first fetch of the stream by a session is.
    let cookie = l.open(&token).await;
    assert_eq!(opens(), 0);
    // A request the gate refuses as no file of the stream is not watching either.
    let odd = get(&l.url("/play/notes.html"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(odd.status, 400);
    assert_eq!(opens(), 0);
    assert_eq!(play_status(&l, &cookie).await, 200);
    wait_for("the open is recorded", Duration::from_secs(5), || async {
        opens() == 1
            && count(
                &db,
                "SELECT count(*) AS n FROM link_events WHERE kind = 'link_opened'",
            ) == 1
    })
    .await;
    l.stop().await.unwrap();
}
