//! Everything botd says, as Telegram HTML (`parse_mode=HTML`) with every outside string escaped.
//!
//! Pure functions from linkd's answers (plus the clock and the time zone) to [`Reply`] values;
//! no I/O, so the wording and the 4096-character limit are covered by table tests.

use chrono_tz::Tz;
use proto::{ApiError, Link, LinkState, NoteProblem};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, KeyboardMarkup};

use crate::commands::Callback;
pub use crate::text::{clock, escape, expiry, plain, span, visible_len};
use crate::text::{plural, round_span};

mod status;
pub use status::status;

/// Telegram's limit for a message text, counted after entity parsing.
pub const MAX_TEXT: usize = 4096;
/// What botd allows itself per message, leaving a margin under [`MAX_TEXT`].
pub const TEXT_BUDGET: usize = 3800;
/// Most Disable buttons on one message.
pub const MAX_BUTTONS: usize = 40;

/// The keyboard attached to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Markup {
    /// Nothing.
    None,
    /// Buttons under the message.
    Inline(InlineKeyboardMarkup),
    /// The reply keyboard that replaces the phone's keyboard.
    Keyboard(KeyboardMarkup),
}

/// One message to send or to edit into.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTML text.
    pub text: String,
    /// Its keyboard.
    pub markup: Markup,
}

impl Reply {
    pub(crate) fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            markup: Markup::None,
        }
    }

    pub(crate) fn inline(text: impl Into<String>, rows: Vec<Vec<InlineKeyboardButton>>) -> Reply {
        Reply {
            text: text.into(),
            markup: Markup::Inline(InlineKeyboardMarkup::new(rows)),
        }
    }
}

fn title(link: &Link) -> String {
    if link.note.is_empty() {
        format!("<b>Link #{}</b>", link.id)
    } else {
        format!("<b>Link #{}</b> · {}", link.id, escape(&link.note))
    }
}

fn disable_button(link: &Link, with_note: bool) -> InlineKeyboardButton {
    let mut label = format!("⛔ Disable #{}", link.id);
    if with_note && !link.note.is_empty() {
        let short: String = link.note.chars().take(24).collect();
        label.push(' ');
        label.push_str(&short);
        if short.chars().count() < link.note.chars().count() {
            label.push('…');
        }
    }
    InlineKeyboardButton::callback(label, Callback::Off(link.id).data())
}

fn link_body(link: &Link, now: i64, tz: Tz) -> String {
    let limits = crate::sharing::limits_line(&link.limits)
        .map(|l| format!("\n{}", escape(&l)))
        .unwrap_or_default();
    format!(
        "{}\n<code>{}</code>\n{}{limits}",
        title(link),
        escape(&link.url),
        expiry(link.expires_at, now, tz)
    )
}

/// A link that was just made or extended, with its Disable button. `now` is linkd's clock
/// (for a new link, its `created_at`).
pub fn link_card(headline: &str, link: &Link, now: i64, tz: Tz) -> Reply {
    let text = format!("{}\n\n{}", escape(headline), link_body(link, now, tz));
    Reply::inline(text, vec![vec![disable_button(link, false)]])
}

/// What a link's message becomes once it is off (no buttons left).
pub fn link_off(link: &Link, now: i64, tz: Tz) -> Reply {
    let when = match (link.state, link.disabled_at) {
        (LinkState::Disabled, Some(at)) => format!("switched off {}", clock(at, now, tz)),
        (LinkState::Expired, _) => expiry(link.expires_at, now, tz),
        _ => "switched off".into(),
    };
    Reply::text(format!(
        "⛔ {} is off\n<s>{}</s>\n{when}; nobody can watch with it any more",
        title(link),
        escape(&link.url)
    ))
}

/// `/active`: one or more messages, each under the length and button limits.
pub fn active_list(links: &[Link], now: i64, tz: Tz) -> Vec<Reply> {
    if links.is_empty() {
        return vec![Reply::text(
            "There are no active links. Make one with /new or /newperm.",
        )];
    }
    let header = format!(
        "<b>{}</b>",
        plural(links.len() as i64, "active link", "active links")
    );
    let mut replies = Vec::new();
    let mut text = header.clone();
    let mut buttons: Vec<Vec<InlineKeyboardButton>> = Vec::new();
    for link in links {
        let viewers = plural(i64::from(link.viewers), "viewer", "viewers");
        let entry = format!("{}\n👀 {viewers}", link_body(link, now, tz));
        let fits = visible_len(&text) + 2 + visible_len(&entry) <= TEXT_BUDGET;
        if !buttons.is_empty() && (!fits || buttons.len() >= MAX_BUTTONS) {
            replies.push(Reply::inline(
                std::mem::take(&mut text),
                std::mem::take(&mut buttons),
            ));
            text = format!("{header} (continued)");
        }
        text.push_str("\n\n");
        text.push_str(&entry);
        buttons.push(vec![disable_button(link, true)]);
    }
    replies.push(Reply::inline(text, buttons));
    replies
}

/// A list message of `/active` after one of its links was switched off: the links that are
/// off are shown as off and lose their button, the others stay as they were.
pub fn list_after_off(links: &[Link], now: i64, tz: Tz) -> Reply {
    let active = links
        .iter()
        .filter(|l| l.state == LinkState::Active)
        .count();
    let mut text = format!(
        "<b>{}</b>",
        plural(active as i64, "active link", "active links")
    );
    let mut buttons = Vec::new();
    for link in links {
        text.push_str("\n\n");
        if link.state == LinkState::Active {
            let viewers = plural(i64::from(link.viewers), "viewer", "viewers");
            text.push_str(&format!("{}\n👀 {viewers}", link_body(link, now, tz)));
            buttons.push(vec![disable_button(link, true)]);
        } else {
            text.push_str(&format!("⛔ <s>{}</s> is off", title(link)));
        }
    }
    if buttons.is_empty() {
        Reply::text(text)
    } else {
        Reply::inline(text, buttons)
    }
}

/// The answer when linkd refused a request, written for a person.
pub fn api_error(e: &ApiError, now: i64, tz: Tz) -> String {
    match e {
        ApiError::NotFound { id } => {
            format!("There is no link #{id}. /active lists the links that are on.")
        }
        ApiError::AlreadyDisabled { id, disabled_at: Some(at) } => {
            format!("Link #{id} is already off (switched off {}).", clock(*at, now, tz))
        }
        ApiError::AlreadyDisabled { id, disabled_at: None } => {
            format!("Link #{id} is already off.")
        }
        ApiError::AlreadyExpired { id, expires_at } => {
            format!("Link #{id} has already expired ({}).", expiry(Some(*expires_at), now, tz))
        }
        ApiError::NoActiveLinks => "There are no active links, so there is nothing to switch off.".into(),
        ApiError::InvalidTtl { given, reason, min_secs, max_secs } => format!(
            "“{}” is not a lifetime I can use ({}).\nGive a duration from {} to {}, for example <code>30m</code>, <code>1h30m</code> or <code>2d</code>: /new 2h grandma",
            escape(&shorten(given, 40)),
            escape(reason),
            round_span(*min_secs),
            round_span(*max_secs),
        ),
        ApiError::InvalidNote { problem: NoteProblem::TooLong, max_chars } => {
            format!("That note is too long: keep it to {max_chars} characters.")
        }
        ApiError::InvalidNote { problem: NoteProblem::ControlCharacter, .. } => {
            "A note must be one line of plain text.".into()
        }
        ApiError::InvalidConsumer => "Something went wrong inside the bot; please report this.".into(),
        // The details are in the service's log; the operator needs to know nothing changed.
        ApiError::Storage { .. } => "The streaming service could not save or read its links, so nothing was changed. Try again in a moment.".into(),
        ApiError::ShuttingDown => "The streaming service is restarting. Try again in a moment.".into(),
        ApiError::InvalidMaxViewers { given, max } => {
            format!("A link can allow 1 to {max} devices at once, so max={given} is not possible: /new 2h max=2 grandma")
        }
    }
}

/// The answer to every command while the streaming service (linkd) cannot be reached.
pub fn linkd_unreachable() -> String {
    "The streaming service is not reachable right now. I keep trying; try again in a moment.".into()
}

/// At most `max` characters of `s`, with "…" when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Telegram's limit for the notice shown when a button is pressed.
pub const MAX_NOTICE: usize = 200;

/// An HTML text as a button-press notice: plain, and within [`MAX_NOTICE`] characters.
pub fn notice(html: &str) -> String {
    shorten(&plain(html), MAX_NOTICE)
}

/// `/greet`: what the link's viewers see now.
pub fn greeting_set(link: &Link, greeting: Option<&str>) -> Reply {
    Reply::text(match greeting {
        Some(g) => format!(
            "Viewers of {} now see: “{}”. Your note stays private.",
            title(link),
            escape(g)
        ),
        None => format!("Viewers of {} see no greeting.", title(link)),
    })
}

/// `/whoami`, answered to anyone.
pub fn whoami(chat_id: i64) -> Reply {
    Reply::text(format!("This chat's id is <code>{chat_id}</code>."))
}

/// The answer to a chat that is not in `ALLOWED_CHAT_IDS`.
pub fn refusal(chat_id: i64) -> Reply {
    Reply::text(format!(
        "Sorry, this is a private bot. If it is yours, add this chat's id (<code>{chat_id}</code>) to ALLOWED_CHAT_IDS and restart it."
    ))
}

/// A malformed known command.
pub fn usage(usage: &str) -> Reply {
    Reply::text(format!("Usage: {}", escape(usage)))
}

/// An unknown `/word` or plain text.
pub fn unknown(command: Option<&str>) -> Reply {
    match command {
        Some(c) => Reply::text(format!(
            "I don't know {}. /help lists what I can do.",
            escape(c)
        )),
        None => Reply::text("Send /help to see what I can do."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{Europe::Berlin, UTC};

    // 2024-05-01 16:30:00 UTC = 18:30 in Berlin.
    const T: i64 = 1_714_581_000;

    fn link(id: i64, note: &str, expires_at: Option<i64>) -> Link {
        Link {
            id,
            url: format!("http://127.0.0.1/live/stream/tok{id}"),
            note: note.into(),
            created_at: T - 60,
            expires_at,
            state: LinkState::Active,
            disabled_at: None,
            viewers: 0,
            limits: Default::default(),
        }
    }

    #[test]
    fn card_shows_url_note_expiry_and_disable() {
        let mut l = link(7, "<grandma> & co", Some(T));
        l.url.push_str("&x");
        let r = link_card("New link", &l, T - 3540, Berlin);
        assert!(
            r.text
                .contains("<code>http://127.0.0.1/live/stream/tok7&amp;x</code>"),
            "{}",
            r.text
        );
        assert!(r.text.contains("&lt;grandma&gt; &amp; co"));
        assert!(r.text.contains("expires 18:30 Europe/Berlin, in 59 min"));
        let Markup::Inline(kb) = &r.markup else {
            panic!("no buttons")
        };
        let json = serde_json::to_string(kb).unwrap();
        assert!(json.contains("\"callback_data\":\"off:7\""), "{json}");
    }

    #[test]
    fn off_message_has_no_buttons() {
        let mut l = link(3, "", Some(T + 60));
        l.state = LinkState::Disabled;
        l.disabled_at = Some(T);
        let r = link_off(&l, T, UTC);
        assert_eq!(r.markup, Markup::None);
        assert!(r.text.contains("Link #3</b> is off"), "{}", r.text);
        assert!(r.text.contains("switched off 16:30 UTC"), "{}", r.text);
    }

    #[test]
    fn active_list_empty_and_split() {
        let empty = active_list(&[], T, UTC);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].text.contains("no active links"));

        let links: Vec<Link> = (1..=60)
            .map(|i| link(i, &"n".repeat(150), Some(T + 3600)))
            .collect();
        let replies = active_list(&links, T, UTC);
        assert!(replies.len() > 1);
        let mut seen = 0;
        for r in &replies {
            assert!(
                visible_len(&r.text) <= TEXT_BUDGET,
                "{}",
                visible_len(&r.text)
            );
            let Markup::Inline(kb) = &r.markup else {
                panic!("no buttons")
            };
            let n = kb.inline_keyboard.len();
            assert!(n <= MAX_BUTTONS);
            assert_eq!(r.text.matches("<b>Link #").count(), n);
            seen += n;
        }
        assert_eq!(seen, 60);
    }

    #[test]
    fn a_list_shows_switched_off_links_as_off() {
        let mut off = link(2, "ex-boss", Some(T + 60));
        off.state = LinkState::Disabled;
        let r = list_after_off(&[link(1, "", Some(T + 60)), off], T, UTC);
        assert!(r.text.contains("1 active link</b>"), "{}", r.text);
        assert!(
            r.text.contains("⛔ <s><b>Link #2</b> · ex-boss</s> is off"),
            "{}",
            r.text
        );
        assert!(!r.text.contains("tok2"), "{}", r.text);
        let Markup::Inline(kb) = &r.markup else {
            panic!("no buttons")
        };
        assert_eq!(kb.inline_keyboard.len(), 1);
        let r = list_after_off(&[], T, UTC);
        assert_eq!(r.markup, Markup::None);
    }

    #[test]
    fn replies_speak_of_the_service_and_fit_telegram() {
        let huge = "9".repeat(5000);
        let errors = [
            ApiError::InvalidTtl {
                given: huge,
                reason: "too long".into(),
                min_secs: 1,
                max_secs: 30 * 86_400,
            },
            ApiError::Storage {
                message: "linkd: sqlite disk I/O error".into(),
            },
            ApiError::ShuttingDown,
            ApiError::InvalidConsumer,
            ApiError::NoActiveLinks,
        ];
        let mut texts: Vec<String> = errors.iter().map(|e| api_error(e, T, UTC)).collect();
        texts.push(linkd_unreachable());
        for text in &texts {
            let lower = text.to_lowercase();
            for word in ["linkd", "botd", "rpc"] {
                assert!(!lower.contains(word), "{word} in {text}");
            }
            assert!(visible_len(text) <= MAX_TEXT, "{}", visible_len(text));
            assert!(notice(text).chars().count() <= MAX_NOTICE, "{text}");
        }
    }

    #[test]
    fn api_errors_read_as_sentences() {
        let cases = [
            (ApiError::NotFound { id: 9 }, "There is no link #9"),
            (ApiError::AlreadyDisabled { id: 9, disabled_at: Some(T) }, "already off (switched off 16:30 UTC)"),
            (ApiError::AlreadyExpired { id: 9, expires_at: T - 60 }, "already expired (expired 16:29 UTC, 1 min ago)"),
            (ApiError::NoActiveLinks, "no active links"),
            (
                ApiError::InvalidTtl {
                    given: "5<".into(),
                    reason: "time unit needed".into(),
                    min_secs: 1,
                    max_secs: 30 * 86_400,
                },
                "“5&lt;” is not a lifetime I can use (time unit needed).\nGive a duration from 1 second to 30 days",
            ),
            (ApiError::InvalidNote { problem: NoteProblem::TooLong, max_chars: 200 }, "200 characters"),
        ];
        for (e, want) in cases {
            let text = api_error(&e, T, UTC);
            assert!(text.contains(want), "{text}");
        }
    }
}
