//! End-to-end tests: botd against the fake Bot API and the real linkd on a temp socket.

use crate::common;
use std::time::Duration;

use crate::common::{fake_telegram::FakeTelegram, *};

pub(super) struct World {
    pub(super) _dir: tempfile::TempDir,
    pub(super) origin: Origin,
    pub(super) linkd: Linkd,
    pub(super) tg: FakeTelegram,
    pub(super) bot: Bot,
    pub(super) api: proto::LinkApiClient,
}

pub(super) async fn world(extra_toml: &str) -> World {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start().await;
    let linkd = Linkd::start(dir.path(), &origin).await;
    let tg = FakeTelegram::start(TOKEN).await;
    let bot = Bot::start(&tg, config(&tg, &linkd.socket, extra_toml)).await;
    let api = linkd.client().await;
    World {
        _dir: dir,
        origin,
        linkd,
        tg,
        bot,
        api,
    }
}

impl World {
    /// Stops both daemons; returns how many link tokens the log check covered.
    pub(super) async fn finish(self) -> usize {
        self.bot.stop().await;
        self.linkd.stop().await;
        assert_no_secrets(&self.tg)
    }
}

pub(super) fn ctx() -> tarpc::context::Context {
    tarpc::context::current()
}

/// The link id of the only Disable button of a message.
pub(super) fn off_id(call: &fake_telegram::Call) -> i64 {
    let data = call.callback_data();
    assert_eq!(data.len(), 1, "{data:?}");
    data[0]
        .strip_prefix("off:")
        .expect("a disable button")
        .parse()
        .unwrap()
}

fn contains_any(text: &str, options: &[&str]) -> bool {
    options.iter().any(|o| text.contains(o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands() {
    let w = world("").await;
    start_lists_commands_and_registers_the_menu(&w.tg).await;
    let (card, first) = new_with_ttl_creates_at_once(&w).await;
    the_disable_button_switches_off(&w, &card, first).await;
    let (perm, kids) = new_without_ttl_offers_a_keyboard(&w).await;
    everything_else(&w.tg, first, kids).await;
    extend_gives_a_new_expiry(&w.tg, perm).await;
    offlast_and_the_deep_link_switch_off(&w, perm, kids).await;
    assert!(
        w.finish().await >= 5,
        "the log check saw the links the bot sent"
    );
}

/// /start: what the bot does, its commands and the reply keyboard; the menu is registered.
async fn start_lists_commands_and_registers_the_menu(tg: &FakeTelegram) {
    let help = ask(tg, OPERATOR, "/start").await;
    for cmd in [
        "/new", "/newperm", "/active", "/status", "/off", "/offlast", "/extend", "/whoami",
    ] {
        assert!(
            help.text().contains(cmd),
            "{cmd} missing in {}",
            help.text()
        );
    }
    assert!(
        help.body["reply_markup"]["keyboard"].is_array(),
        "{}",
        help.body
    );
    assert_eq!(help.body["parse_mode"], "HTML");
    tg.wait_for(0, WAIT, |c| c.method == "deleteWebhook")
        .await
        .unwrap();
    let menu = tg
        .wait_for(0, WAIT, |c| c.method == "setMyCommands")
        .await
        .unwrap();
    assert_eq!(
        menu.body["commands"].as_array().map(Vec::len),
        Some(botd::commands::MENU.len())
    );
    assert!(ask(tg, OPERATOR, "/help").await.text().contains("/extend"));
}

/// /new with a TTL creates at once: URL in <code>, note, expiry, Disable button.
async fn new_with_ttl_creates_at_once(w: &World) -> (fake_telegram::Call, i64) {
    let tg = &w.tg;
    let card = ask(tg, OPERATOR, "/new 90m grandma & co").await;
    let text = card.text();
    assert!(
        text.contains("<code>http://127.0.0.1/live/stream/"),
        "{text}"
    );
    assert!(text.contains("grandma &amp; co"), "{text}");
    assert!(
        contains_any(text, &["UTC, in 1 h 30 min", "UTC, in 1 h 29 min"]),
        "{text}"
    );
    let first = off_id(&card);
    let link = w.api.get_link(ctx(), first).await.unwrap().unwrap();
    assert_eq!(link.note, "grandma & co");
    assert!(text.contains(&link.url));
    (card, first)
}

/// The Disable button: linkd disables the link, the press is answered, the message edited;
/// pressing it again changes nothing and says why.
async fn the_disable_button_switches_off(w: &World, card: &fake_telegram::Call, first: i64) {
    let tg = &w.tg;
    let since = tg.mark();
    tg.press(OPERATOR, card.message_id(), &format!("off:{first}"));
    let answer = tg.wait_method(since, "answerCallbackQuery").await;
    assert_eq!(answer.body["text"], format!("Link #{first} is off."));
    let edit = tg.wait_method(since, "editMessageText").await;
    assert_eq!(edit.body["message_id"], card.message_id());
    assert!(edit.text().contains("is off"), "{}", edit.text());
    assert!(edit.callback_data().is_empty());
    let link = w.api.get_link(ctx(), first).await.unwrap().unwrap();
    assert_eq!(link.state, proto::LinkState::Disabled);
    let since = tg.mark();
    tg.press(OPERATOR, card.message_id(), &format!("off:{first}"));
    let answer = tg.wait_method(since, "answerCallbackQuery").await;
    assert!(
        answer.body["text"]
            .as_str()
            .unwrap()
            .contains("already off"),
        "{}",
        answer.body
    );
}

/// /new without a TTL: the keyboard of LINK_TTL_OPTIONS plus Permanent; a note given before
/// the choice is kept for the link. Returns the permanent link's id and the noted one's.
async fn new_without_ttl_offers_a_keyboard(w: &World) -> (i64, i64) {
    let tg = &w.tg;
    let choice = ask(tg, OPERATOR, "/new").await;
    assert_eq!(
        choice.callback_data(),
        ["new:30m", "new:1h", "new:3h", "new:perm"]
    );
    let since = tg.mark();
    tg.press(OPERATOR, choice.message_id(), "new:perm");
    let edit = tg.wait_method(since, "editMessageText").await;
    assert!(edit.text().contains("never expires"), "{}", edit.text());
    let perm = off_id(&edit);
    assert_eq!(
        w.api
            .get_link(ctx(), perm)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        None
    );

    let choice = ask(tg, OPERATOR, "/new the kids").await;
    let data = choice.callback_data();
    assert!(data[0].starts_with("new:30m:"), "{data:?}");
    let since = tg.mark();
    tg.press(OPERATOR, choice.message_id(), &data[0]);
    let edit = tg.wait_method(since, "editMessageText").await;
    assert!(edit.text().contains("the kids"), "{}", edit.text());
    assert!(
        contains_any(edit.text(), &["in 30 min", "in 29 min"]),
        "{}",
        edit.text()
    );
    let kids = off_id(&edit);
    (perm, kids)
}

/// Everything else, as a table: input -> a piece of the answer.
async fn everything_else(tg: &FakeTelegram, first: i64, kids: i64) {
    let cases: Vec<(String, &str)> = vec![
        ("/new 5 x".into(), "is not a lifetime I can use"),
        ("/new 40d".into(), "from 1 second to 30 days"),
        ("/newperm the family".into(), "never expires"),
        ("/off 999".into(), "There is no link #999"),
        (format!("/off {first}"), "is already off"),
        ("/extend 999 2h".into(), "There is no link #999"),
        (format!("/extend {kids} soon"), "is not a lifetime"),
        ("/off".into(), "Usage: /off ID"),
        ("/extend 3".into(), "Usage: /extend ID TTL"),
        ("/bogus".into(), "I don't know /bogus"),
        ("hello there".into(), "/help"),
        ("/whoami".into(), "<code>1001</code>"),
        (format!("/greet {kids} Hi kids"), "now see: “Hi kids”"),
        (format!("/greet {kids}"), "see no greeting"),
        ("/greet 999 hi".into(), "There is no link #999"),
        ("/status".into(), "Offline"),
        ("/status".into(), "3 active links"),
    ];
    for (input, want) in &cases {
        let answer = ask(tg, OPERATOR, input).await;
        assert!(
            answer.text().contains(want),
            "{input:?} -> {}",
            answer.text()
        );
    }
}

/// /extend gives a new expiry from now, and a Disable button.
async fn extend_gives_a_new_expiry(tg: &FakeTelegram, perm: i64) {
    let extended = ask(tg, OPERATOR, &format!("/extend {perm} 2h")).await;
    assert!(
        extended.text().contains("Link extended"),
        "{}",
        extended.text()
    );
    assert!(
        contains_any(extended.text(), &["in 2 h", "in 1 h 59 min"]),
        "{}",
        extended.text()
    );
    assert_eq!(off_id(&extended), perm);
}

/// /offlast switches off the newest; the deep link /start off_ID switches off one by id.
async fn offlast_and_the_deep_link_switch_off(w: &World, perm: i64, kids: i64) {
    let tg = &w.tg;
    let newest = w.api.list_active(ctx()).await.unwrap().unwrap()[0].id;
    let off = ask(tg, OPERATOR, "/offlast").await;
    assert!(
        off.text().contains(&format!("Link #{newest}</b>")) && off.text().contains("is off"),
        "{}",
        off.text()
    );
    let off = ask(tg, OPERATOR, &format!("/start off_{kids}")).await;
    assert!(
        off.text().contains(&format!("Link #{kids}</b>")) && off.text().contains("is off"),
        "{}",
        off.text()
    );
    let off = ask(tg, OPERATOR, "/offlast").await;
    assert!(
        off.text().contains(&format!("Link #{perm}</b> is off")),
        "{}",
        off.text()
    );
    assert!(ask(tg, OPERATOR, "/offlast")
        .await
        .text()
        .contains("no active links"));
    assert!(ask(tg, OPERATOR, "/active")
        .await
        .text()
        .contains("no active links"));
    assert!(w.api.list_active(ctx()).await.unwrap().unwrap().is_empty());
}

/// The Go service's reply keyboard and its `disable_ID` deep links, still on the operator's
/// phone after the upgrade, do what they did; the first reply puts the new keyboard in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_keyboard_and_deep_links_keep_working() {
    let w = world("").await;
    let tg = &w.tg;
    let since = tg.mark();
    let card = ask(tg, OPERATOR, "🟢 1 hour").await;
    assert!(
        contains_any(card.text(), &["in 1 h", "in 59 min"]),
        "{}",
        card.text()
    );
    let hour = off_id(&card);
    // The card keeps its Disable button; the new keyboard follows in a message of its own.
    let keyboard = tg
        .wait_for(since, WAIT, |c| {
            c.chat() == Some(OPERATOR) && c.body["reply_markup"]["keyboard"].is_array()
        })
        .await
        .unwrap();
    let labels: Vec<&str> = keyboard.body["reply_markup"]["keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["/new 1h", "/new", "/active", "/status", "/offlast", "/help"]
    );
    let perm = ask(tg, OPERATOR, "♾ Permanent").await;
    assert!(perm.text().contains("never expires"), "{}", perm.text());
    let cases = [
        ("🟢 30 minutes", "in 30 min"),
        ("📋 Active", "3 active links"),
        ("📡 Status", "Offline"),
        ("⛔ Disable last", "is off"),
        (
            &format!("/start disable_{hour}") as &str,
            &format!("Link #{hour}</b> is off") as &str,
        ),
        ("Menu", "/newperm"),
    ];
    for (input, want) in cases {
        let answer = ask(tg, OPERATOR, input).await;
        assert!(
            answer.text().contains(want),
            "{input:?} -> {}",
            answer.text()
        );
    }
    let link = w.api.get_link(ctx(), hour).await.unwrap().unwrap();
    assert_eq!(link.state, proto::LinkState::Disabled);
    // Only the first reply carried the keyboard.
    let keyboards = tg
        .calls()
        .iter()
        .filter(|c| c.body["reply_markup"]["keyboard"].is_array())
        .count();
    assert_eq!(keyboards, 2, "the first reply and Menu's help");
    let _checked = w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_list_splits_and_disables_one_by_one() {
    let w = world("").await;
    let tg = &w.tg;
    let mut ids = Vec::new();
    for i in 0..45 {
        let note = format!("{i:02} {}", "ü".repeat(180));
        let link = w
            .api
            .create_link(ctx(), Some("2h".into()), Some(note))
            .await
            .unwrap()
            .unwrap();
        ids.push(link.id);
    }
    let answers = ask_many(tg, OPERATOR, "/active", 2).await;
    assert!(answers.len() >= 2, "one message for 45 long entries");
    let mut buttons = Vec::new();
    for a in &answers {
        let len = botd::messages::visible_len(a.text());
        assert!(len <= 4096, "a message of {len} characters");
        assert!(a.text().contains("viewers"), "{}", a.text());
        buttons.extend(a.callback_data());
    }
    // Wait for the rest of the messages (the count is only known now).
    let want: Vec<String> = ids.iter().rev().map(|id| format!("off:{id}")).collect();
    let deadline = std::time::Instant::now() + WAIT;
    while buttons.len() < want.len() && std::time::Instant::now() < deadline {
        let mark = tg.mark();
        let all: Vec<_> = tg
            .calls()
            .into_iter()
            .filter(|c| c.method == "sendMessage" && c.text().contains("active links"))
            .collect();
        buttons = all.iter().flat_map(|c| c.callback_data()).collect();
        if buttons.len() < want.len() {
            let _ = tg.wait_for(mark, Duration::from_secs(1), |_| true).await;
        }
    }
    assert_eq!(buttons, want, "every active link, newest first, once");

    // Disabling from the list removes only that button.
    let list = tg
        .calls()
        .into_iter()
        .find(|c| c.method == "sendMessage" && c.callback_data().len() > 2)
        .unwrap();
    let target: i64 = list.callback_data()[1]
        .strip_prefix("off:")
        .unwrap()
        .parse()
        .unwrap();
    let since = tg.mark();
    tg.press(OPERATOR, list.message_id(), &format!("off:{target}"));
    let edit = tg.wait_method(since, "editMessageText").await;
    assert_eq!(edit.body["message_id"], list.message_id());
    let left = fake_telegram::buttons(&edit.body["reply_markup"]);
    assert_eq!(left.len(), list.callback_data().len() - 1);
    assert!(!left.contains(&format!("off:{target}")));
    // The message itself shows the link as off, in its place, without its URL.
    let text = edit.text();
    assert!(
        text.contains(&format!("⛔ <s><b>Link #{target}</b>")),
        "{text}"
    );
    let before = list.text().find(&format!("Link #{target}</b>")).unwrap();
    let others_before = list.text()[..before].matches("<b>Link #").count();
    let at = text.find(&format!("Link #{target}</b>")).unwrap();
    assert_eq!(text[..at].matches("<b>Link #").count(), others_before);
    assert_eq!(
        common::link_tokens(text).len(),
        common::link_tokens(list.text()).len() - 1
    );
    let link = w.api.get_link(ctx(), target).await.unwrap().unwrap();
    assert_eq!(link.state, proto::LinkState::Disabled);
    assert!(w.finish().await >= 45);
}
