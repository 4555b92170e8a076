//! `/log` and `/viewers` through the fake Bot API: the story of a link the operator made and
//! a viewer opened, with the chat named as who changed it.

use crate::bot::{off_id, world};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_and_viewers_tell_who_watched() {
    // No notifications: each answer read is the command's own.
    let w = world("notify = \"\"\n").await;
    let tg = &w.tg;
    assert!(ask(tg, OPERATOR, "/viewers")
        .await
        .text()
        .contains("Nobody is watching"));
    let card = ask(tg, OPERATOR, "/new 1h <aunt>").await;
    let id = off_id(&card);
    let url = first_url(card.text()).expect("a url");
    assert!(w.linkd.open(&url).await.contains("200"));

    let viewers = ask(tg, OPERATOR, "/viewers").await;
    let text = viewers.text();
    assert!(text.contains("1 device watching now"), "{text}");
    assert!(
        text.contains(&format!("<b>Link #{id}</b> · &lt;aunt&gt;")),
        "{text}"
    );
    assert!(text.contains("127.0.0.0/24"), "{text}");

    let log = ask(tg, OPERATOR, &format!("/log {id}")).await;
    let text = log.text();
    assert!(
        text.contains("opened once from 1 device, 1 viewer now"),
        "{text}"
    );
    assert!(
        text.contains(&format!("created by chat {OPERATOR}")),
        "{text}"
    );
    assert!(text.contains("started watching"), "{text}");
    assert!(
        !text.contains(url.rsplit('/').next().unwrap()),
        "the token: {text}"
    );

    ask(tg, OPERATOR, &format!("/off {id}")).await;
    let log = ask(tg, OPERATOR, &format!("/log {id}")).await;
    assert!(
        log.text()
            .contains(&format!("switched off by chat {OPERATOR}")),
        "{}",
        log.text()
    );
    // Switched off, the link has no viewers any more: the session ended at once.
    assert!(log.text().contains("stopped watching"), "{}", log.text());
    let nobody = ask(tg, OPERATOR, "/viewers").await;
    assert!(nobody.text().contains("Nobody"), "{}", nobody.text());
    let missing = ask(tg, OPERATOR, "/log 999").await;
    assert!(
        missing.text().contains("There is no link #999"),
        "{}",
        missing.text()
    );
    let _checked = w.finish().await;
}
