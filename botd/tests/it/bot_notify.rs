//! End-to-end tests of what botd tells whom: strangers refused, notifications to the
//! allowed chats without noise, the notify setting, and linkd going down and coming back.

use super::bot::{ctx, off_id, world};
use std::time::Duration;

use crate::common::{fake_telegram::FakeTelegram, *};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused() {
    let w = world("").await;
    let tg = &w.tg;
    let link = w
        .api
        .create_link(ctx(), Some("1h".into()), Some("secret party".into()))
        .await
        .unwrap()
        .unwrap();
    for input in [
        "/new 1h stranger-note-xyz",
        "/active",
        "/off 1",
        "/status",
        "/start",
        "hi",
    ] {
        let answer = ask(tg, STRANGER, input).await;
        assert!(
            answer.text().contains("private bot"),
            "{input:?} -> {}",
            answer.text()
        );
        assert!(
            !answer.text().contains("/live/stream/"),
            "{input:?} leaked a link"
        );
        assert!(answer.callback_data().is_empty());
    }
    // /whoami is answered to anyone.
    let whoami = ask(tg, STRANGER, "/whoami").await;
    assert!(whoami.text().contains("<code>666</code>"));

    // A stranger's button press (forged onto a message in their chat) changes nothing.
    let since = tg.mark();
    tg.press(STRANGER, whoami.message_id(), &format!("off:{}", link.id));
    let answer = tg.wait_method(since, "answerCallbackQuery").await;
    assert!(answer.body["text"]
        .as_str()
        .unwrap()
        .contains("private bot"));
    let active = w.api.list_active(ctx()).await.unwrap().unwrap();
    assert_eq!(active.len(), 1, "nothing was created or disabled");
    assert_eq!(active[0].id, link.id);

    let logs = logs();
    assert!(
        logs.contains("chat=666"),
        "the refusal is logged with the chat id"
    );
    assert!(
        !logs.contains("stranger-note-xyz"),
        "message text was logged"
    );
    let _checked = w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_the_allowed_chats() {
    let w = world("").await;
    let tg = &w.tg;
    // One allowed chat has blocked the bot: the others still get everything.
    tg.block(GROUP);
    let since = tg.mark();
    w.origin.set_live(true);
    let live = tg
        .wait_for(since, WAIT, |c| {
            c.method == "sendMessage" && c.chat() == Some(OPERATOR) && c.text().contains("live")
        })
        .await
        .unwrap();
    assert!(
        live.text().contains("The stream is live"),
        "{}",
        live.text()
    );
    tg.wait_for(since, WAIT, |c| {
        c.method == "sendMessage" && c.chat() == Some(GROUP)
    })
    .await
    .unwrap();

    // A link opened for the first time.
    let card = ask(tg, OPERATOR, "/new 1h aunt").await;
    let url = first_url(card.text()).expect("a url");
    let since = tg.mark();
    assert!(w.linkd.open(&url).await.contains("200"));
    let opened = tg
        .wait_for(since, WAIT, |c| {
            c.method == "sendMessage" && c.text().contains("opened")
        })
        .await
        .unwrap();
    assert!(
        opened.text().contains("aunt") && opened.text().contains("for the first time"),
        "{}",
        opened.text()
    );
    assert_eq!(opened.callback_data(), [format!("off:{}", off_id(&card))]);
    // /status agrees.
    let status = ask(tg, OPERATOR, "/status").await;
    assert!(status.text().contains("Live"), "{}", status.text());

    let since = tg.mark();
    w.origin.set_live(false);
    tg.wait_for(since, WAIT, |c| {
        c.method == "sendMessage" && c.chat() == Some(OPERATOR) && c.text().contains("offline")
    })
    .await
    .unwrap();
    let _checked = w.finish().await;
}

/// Stream changes are told once they held, once per change: a restart of linkd while live
/// (linkd then reports "live" again) sends nothing, and `/notify off` silences one chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_without_noise() {
    let dir = tempfile::tempdir().unwrap();
    capture_logs();
    let origin = Origin::start().await;
    let linkd = Linkd::start(dir.path(), &origin).await;
    let tg = FakeTelegram::start(TOKEN).await;
    let bot = Bot::start(&tg, config(&tg, &linkd.socket, "")).await;
    let stream_news =
        |c: &fake_telegram::Call| c.method == "sendMessage" && c.text().contains("The stream");
    let off = ask(&tg, GROUP, "/notify off").await;
    assert!(
        off.text().contains("Notifications are off"),
        "{}",
        off.text()
    );
    let on = ask(&tg, OPERATOR, "/notify").await;
    assert!(on.text().contains("Notifications are on"), "{}", on.text());

    let start = tg.mark();
    origin.set_live(true);
    tg.wait_for(start, WAIT, |c| stream_news(c) && c.text().contains("live"))
        .await
        .unwrap();

    // linkd restarts while the stream stays live: it reports "live" again on its way up.
    linkd.stop().await;
    let linkd = Linkd::start(dir.path(), &origin).await;
    let api = linkd.client().await;
    until_live(&api, &tg).await;
    // The next real change: the stream ends. Whatever botd was going to say about the
    // restart would have come before this.
    origin.set_live(false);
    tg.wait_for(start, WAIT, |c| {
        stream_news(c) && c.text().contains("offline")
    })
    .await
    .unwrap();
    let told: Vec<String> = tg
        .calls()
        .iter()
        .skip(start)
        .filter(|c| stream_news(c))
        .map(|c| format!("{} {}", c.chat().unwrap_or(0), c.text()))
        .collect();
    assert_eq!(
        told.len(),
        2,
        "one live, one offline, only to the operator: {told:#?}"
    );
    assert!(
        told.iter().all(|t| t.starts_with(&OPERATOR.to_string())),
        "{told:#?}"
    );
    bot.stop().await;
    linkd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_setting_filters_events() {
    // No debounce: the short live spell below is told (if asked for) as it happens.
    let w = world("notify = \"offline\"\nnotify_debounce = \"0s\"").await;
    let tg = &w.tg;
    let since = tg.mark();
    w.origin.set_live(true);
    // linkd has the event once /status says live; the bot must stay silent about it.
    until_live(&w.api, tg).await;
    w.origin.set_live(false);
    let offline = tg
        .wait_for(since, WAIT, |c| c.method == "sendMessage")
        .await
        .unwrap();
    assert!(
        offline.text().contains("offline"),
        "the first notification is {}",
        offline.text()
    );
    let _checked = w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkd_down_then_up() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    let tg = FakeTelegram::start(TOKEN).await;
    let bot = Bot::start(&tg, config(&tg, &dir.path().join("linkd.sock"), "")).await;

    for input in ["/status", "/new 1h", "/active", "/off 1"] {
        let answer = ask(&tg, OPERATOR, input).await;
        assert!(
            answer
                .text()
                .contains("The streaming service is not reachable right now"),
            "{input} -> {}",
            answer.text()
        );
    }
    // Updates botd cannot use do not stop it.
    tg.inject(serde_json::json!({"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0,
        "is_closed": false, "is_anonymous": true, "type": "regular", "allows_multiple_answers": false}}));
    tg.inject(serde_json::json!({"some_future_kind": {"x": 1}}));
    tg.inject(serde_json::json!({"message": {"message_id": 5, "date": 0, "chat": {"id": OPERATOR, "type": "private", "first_name": "P"},
        "sticker": {"file_id": "f", "file_unique_id": "u", "type": "regular", "width": 1, "height": 1, "is_animated": false, "is_video": false}}}));

    let linkd = Linkd::start(dir.path(), &origin).await;
    let answer = ask(&tg, OPERATOR, "/status").await;
    assert!(answer.text().contains("Offline"), "{}", answer.text());
    assert!(ask(&tg, OPERATOR, "/new 1h")
        .await
        .text()
        .contains("/live/stream/"));

    // linkd restarts: the next call fails over to "not reachable", then botd reconnects.
    linkd.stop().await;
    assert!(ask(&tg, OPERATOR, "/active")
        .await
        .text()
        .contains("not reachable"));
    let linkd = Linkd::start(dir.path(), &origin).await;
    let answer = ask(&tg, OPERATOR, "/active").await;
    assert!(answer.text().contains("1 active link"), "{}", answer.text());

    bot.stop().await;
    linkd.stop().await;
    assert!(assert_no_secrets(&tg) >= 1);
}

/// Waits until linkd's status says the stream is live, letting the fake Bot API record what
/// botd sends meanwhile.
async fn until_live(api: &proto::LinkApiClient, tg: &FakeTelegram) {
    let deadline = std::time::Instant::now() + WAIT;
    while !api.status(ctx()).await.unwrap().unwrap().live {
        assert!(
            std::time::Instant::now() < deadline,
            "linkd never saw the stream"
        );
        let _ = tg
            .wait_for(tg.mark(), Duration::from_millis(100), |_| false)
            .await;
    }
}
