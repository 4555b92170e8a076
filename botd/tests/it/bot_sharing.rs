//! The sharing-limit commands through the fake Bot API against the real linkd: `/new` with
//! `max=N` and `once`, `/kick`, `/rotate`, and `/offall` with its confirmation button.

use crate::bot::{ctx, off_id, world};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_with_limits_kick_and_rotate() {
    let w = world("").await;
    let tg = &w.tg;
    let help = ask(tg, OPERATOR, "/help").await;
    for cmd in ["/kick", "/rotate", "/offall", "max=N", "once"] {
        assert!(
            help.text().contains(cmd),
            "{cmd} missing in {}",
            help.text()
        );
    }

    let card = ask(tg, OPERATOR, "/new 2h max=2 Grandma").await;
    assert!(
        card.text().contains("at most 2 devices at once"),
        "{}",
        card.text()
    );
    let id = off_id(&card);
    let link = w.api.get_link(ctx(), id).await.unwrap().unwrap();
    assert_eq!(
        (link.limits.max_viewers, link.limits.once),
        (Some(2), false)
    );
    assert_eq!(link.note, "Grandma");

    let once = ask(tg, OPERATOR, "/new 1h once").await;
    assert!(once.text().contains("One-time"), "{}", once.text());
    let once_id = off_id(&once);
    assert!(
        w.api
            .get_link(ctx(), once_id)
            .await
            .unwrap()
            .unwrap()
            .limits
            .once
    );

    let refused = ask(tg, OPERATOR, "/new 1h max=0").await;
    assert!(
        refused.text().contains("1 to 100 devices"),
        "{}",
        refused.text()
    );
    let usage = ask(tg, OPERATOR, "/new 1h max=lots").await;
    assert!(usage.text().contains("max=N"), "{}", usage.text());

    // /kick: the link stays on for whoever opens it next.
    let kicked = ask(tg, OPERATOR, &format!("/kick {id}")).await;
    assert!(kicked.text().contains("cut off"), "{}", kicked.text());
    let after = w.api.get_link(ctx(), id).await.unwrap().unwrap();
    assert_eq!(
        (after.state, &after.url),
        (proto::LinkState::Active, &link.url)
    );
    assert!(ask(tg, OPERATOR, "/kick 99")
        .await
        .text()
        .contains("no link #99"));

    // /rotate: a card with the new URL only; the old URL no longer opens.
    let rotated = ask(tg, OPERATOR, &format!("/rotate {id}")).await;
    let text = rotated.text();
    let now = w.api.get_link(ctx(), id).await.unwrap().unwrap();
    assert_ne!(now.url, link.url);
    assert!(
        text.contains(&now.url) && !text.contains(&link.url),
        "{text}"
    );
    assert!(text.contains("at most 2 devices"), "same limits: {text}");
    assert_eq!(
        (now.note.as_str(), now.expires_at),
        ("Grandma", link.expires_at)
    );
    assert!(w.linkd.open(&link.url).await.contains("404"));
    assert!(w.linkd.open(&now.url).await.contains("200"));
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offall_asks_first_then_switches_every_link_off() {
    let w = world("").await;
    let tg = &w.tg;
    assert!(ask(tg, OPERATOR, "/offall")
        .await
        .text()
        .contains("no active links"));
    let a = off_id(&ask(tg, OPERATOR, "/new 1h").await);
    let b = off_id(&ask(tg, OPERATOR, "/newperm kids").await);

    // Cancel changes nothing.
    let question = ask(tg, OPERATOR, "/offall").await;
    assert!(
        question.text().contains("all 2 active links"),
        "{}",
        question.text()
    );
    assert_eq!(question.callback_data(), ["offall:yes", "offall:no"]);
    let since = tg.mark();
    tg.press(OPERATOR, question.message_id(), "offall:no");
    let edit = tg.wait_method(since, "editMessageText").await;
    assert!(
        edit.text().contains("Nothing was switched off"),
        "{}",
        edit.text()
    );
    assert_eq!(w.api.list_active(ctx()).await.unwrap().unwrap().len(), 2);

    // Confirmed: both are off, and the question becomes the answer.
    let question = ask(tg, OPERATOR, "/offall").await;
    let since = tg.mark();
    tg.press(OPERATOR, question.message_id(), "offall:yes");
    let edit = tg.wait_method(since, "editMessageText").await;
    assert_eq!(edit.body["message_id"], question.message_id());
    assert!(
        edit.text().contains("2 links switched off"),
        "{}",
        edit.text()
    );
    assert!(edit.text().contains(&format!("#{a}")) && edit.text().contains(&format!("#{b}")));
    assert!(edit.callback_data().is_empty());
    assert!(w.api.list_active(ctx()).await.unwrap().unwrap().is_empty());

    // A second press of the old question says there is nothing left.
    let since = tg.mark();
    tg.press(OPERATOR, question.message_id(), "offall:yes");
    let answer = tg.wait_method(since, "answerCallbackQuery").await;
    assert!(
        answer.body["text"]
            .as_str()
            .unwrap()
            .contains("no active links"),
        "{}",
        answer.body
    );
    w.finish().await;
}
