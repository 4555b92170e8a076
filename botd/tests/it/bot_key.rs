//! `/key` and `/rotatekey` against the fake Bot API and the real linkd: the RTMP URL with
//! the key in a message that deletes itself, a rotation only after the button says so.

use crate::bot::{ctx, world};
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
