//! The publishing side in the bot, against the fake Bot API and the real linkd: `/key` (the
//! RTMP URL with the key in a message that deletes itself), `/rotatekey` (only after the
//! button says so), and the media server's go-live told within a second.

use crate::bot::{ctx, world};
use crate::common::fake_telegram;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shows_the_rtmp_url_then_deletes_itself_and_rotatekey_asks_first() {
    let w = world("key_message_ttl = \"1s\"\n").await;
    let tg = &w.tg;
    let key = w.api.stream_key(ctx()).await.unwrap().unwrap();

    let since = tg.mark();
    let shown = ask(tg, OPERATOR, "/key").await;
    for part in [&key.server_url, &key.stream_key, &key.publish_url] {
        assert!(
            shown.text().contains(part.as_str()),
            "{part} missing in {}",
            shown.text()
        );
    }
    let id = shown.message_id();
    let deleted = tg
        .wait_for(since, WAIT, |c| c.method == "deleteMessage")
        .await
        .unwrap();
    assert_eq!(deleted.body["message_id"], id);
    assert_eq!(deleted.body["chat_id"], OPERATOR);
    assert!(tg.message(OPERATOR, id).is_null(), "the message is gone");

    // A chat that is not allowed gets no key.
    let refused = ask(tg, STRANGER, "/key").await;
    assert!(!refused.text().contains(&key.key));

    // Cancel keeps the key; the button rotates it.
    let question = ask(tg, OPERATOR, "/rotatekey").await;
    assert_eq!(question.callback_data(), ["rotatekey:yes", "rotatekey:no"]);
    let since = tg.mark();
    tg.press(OPERATOR, question.message_id(), "rotatekey:no");
    tg.wait_for(since, WAIT, |c| c.method == "editMessageText")
        .await
        .unwrap();
    let same = w.api.stream_key(ctx()).await.unwrap().unwrap();
    assert_eq!(same.key, key.key, "cancel changes nothing");

    let question = ask(tg, OPERATOR, "/rotatekey").await;
    let since = tg.mark();
    tg.press(OPERATOR, question.message_id(), "rotatekey:yes");
    let done = tg
        .wait_for(since, WAIT, |c| c.method == "editMessageText")
        .await
        .unwrap();
    assert!(done.text().contains("New stream key"), "{}", done.text());
    let new = w.api.stream_key(ctx()).await.unwrap().unwrap();
    assert_ne!(new.key, key.key);
    assert!(
        !done.text().contains(&new.key),
        "the new key is shown only by /key"
    );

    let logs = logs();
    assert!(
        !logs.contains(&key.key) && !logs.contains(&new.key),
        "a stream key was logged"
    );
    w.finish().await;
}

/// POSTs to linkd's media listener what MediaMTX's `runOnReady`/`runOnNotReady` send.
async fn hook(addr: std::net::SocketAddr, route: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("POST /mediamtx/{route} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nready");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// What the media server reports reaches the chat within a second, though the probe's
/// guesses wait `NOTIFY_DEBOUNCE` (15 s here) and the probe sees no playlist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_servers_go_live_is_told_within_a_second() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    let mut cfg = linkd::Config::local(dir.path());
    cfg.mediamtx_hls_base_url = origin.base_url();
    cfg.probe_interval = std::time::Duration::from_millis(200);
    cfg.media_auth_addr = Some("127.0.0.1:0".parse().unwrap());
    cfg.mediamtx_read_user = Some("linkd".into());
    cfg.mediamtx_read_password = Some(linkd::testing::Secret::new("r"));
    let mut linkd = linkd::testing::Running::start(cfg).await;
    let media = linkd.media_addr.unwrap();
    let tg = fake_telegram::FakeTelegram::start(TOKEN).await;
    let bot = Bot::start(
        &tg,
        config(&tg, &linkd.socket, "notify_debounce = \"15s\"\n"),
    )
    .await;
    let told = |since: usize, word: &'static str| {
        let tg = &tg;
        async move {
            tg.wait_for(since, std::time::Duration::from_secs(1), |c| {
                c.method == "sendMessage" && c.chat() == Some(OPERATOR) && c.text().contains(word)
            })
            .await
        }
    };
    let since = tg.mark();
    hook(media, "ready").await;
    let live = told(since, "live").await.expect("live told within 1 s");
    assert!(
        live.text().contains("The stream is live"),
        "{}",
        live.text()
    );
    let since = tg.mark();
    hook(media, "not-ready").await;
    told(since, "offline")
        .await
        .expect("offline told within 1 s");
    bot.stop().await;
    linkd.stop().await.unwrap();
}
