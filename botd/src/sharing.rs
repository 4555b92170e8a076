//! The bot's sharing-limit commands: `/new` with `max=N` or `once`, `/kick`, `/rotate` and
//! `/offall` with its confirmation buttons, and what botd says about them.

use proto::{Limits, Link};
use teloxide::types::{CallbackQuery, ChatId, InlineKeyboardButton};
use teloxide::Bot;

use crate::commands::{Callback, Command};
use crate::linkd::CallError;
use crate::messages::{self, escape, Reply};
use crate::text::plural;
use crate::{telegram, App};

/// Whether `cmd` is one of the commands of this module: `/new` with limits, `/kick`,
/// `/rotate`, `/offall`.
pub fn handles(cmd: &Command) -> bool {
    match cmd {
        Command::New { limits, .. } => limits.any(),
        Command::Kick { .. } | Command::Rotate { .. } | Command::OffAll => true,
        _ => false,
    }
}

/// Runs a command that [`handles`] says is of this module.
pub async fn run(app: &App, chat: ChatId, cmd: Command) -> Result<Reply, CallError> {
    match cmd {
        Command::New { ttl, note, limits } => create(app, chat, ttl, note, limits).await,
        Command::Kick { id } => kick(app, chat, id).await,
        Command::Rotate { id } => rotate(app, chat, id).await,
        _ => off_all_question(app).await,
    }
}

/// `/new` with limits: created at once, with the given lifetime or linkd's default.
async fn create(
    app: &App,
    chat: ChatId,
    ttl: Option<String>,
    note: Option<String>,
    limits: Limits,
) -> Result<Reply, CallError> {
    let link = app
        .linkd_as(chat)
        .call(|c, ctx| async move { c.create_limited_link(ctx, ttl, false, note, limits).await })
        .await?;
    Ok(crate::handlers::created(app, &link))
}

/// `/kick ID`.
async fn kick(app: &App, chat: ChatId, id: i64) -> Result<Reply, CallError> {
    let link = app
        .linkd_as(chat)
        .call(|c, ctx| async move { c.kick_link(ctx, id).await })
        .await?;
    tracing::info!(link = link.id, "link's viewers cut off");
    Ok(kicked(&link))
}

/// `/rotate ID`: the new URL in a card; the old one is not repeated.
async fn rotate(app: &App, chat: ChatId, id: i64) -> Result<Reply, CallError> {
    let link = app
        .linkd_as(chat)
        .call(|c, ctx| async move { c.rotate_link(ctx, id).await })
        .await?;
    tracing::info!(link = link.id, "link rotated");
    let now = app.linkd.now();
    Ok(messages::link_card(
        "New URL; the old one and its viewers stopped:",
        &link,
        now,
        app.config.time_zone,
    ))
}

/// `/offall`: how many links are on, and the buttons to confirm or cancel.
async fn off_all_question(app: &App) -> Result<Reply, CallError> {
    let active = app
        .linkd
        .call(|c, ctx| async move { c.list_active(ctx).await })
        .await?;
    Ok(off_all_confirm(active.len()))
}

/// A press on `/offall`'s buttons: switches every active link off, or nothing.
pub async fn off_all_pressed(bot: &Bot, app: &App, q: &CallbackQuery, chat: ChatId, yes: bool) {
    let reply = if !yes {
        Reply::text("Nothing was switched off.")
    } else {
        match app
            .linkd_as(chat)
            .call(|c, ctx| async move { c.disable_all(ctx).await })
            .await
        {
            Ok(links) => {
                tracing::info!(links = links.len(), "every active link disabled");
                off_all_done(&links)
            }
            Err(e) => {
                let text = match &e {
                    CallError::Api(api) => {
                        messages::api_error(api, app.linkd.now(), app.config.time_zone)
                    }
                    CallError::Unreachable(_) => messages::linkd_unreachable(),
                };
                telegram::answer_callback(bot, &q.id, &messages::notice(&text)).await;
                if let Some(m) = q.message.as_ref() {
                    telegram::edit(bot, chat, m.id(), &Reply::text(text)).await;
                }
                return;
            }
        }
    };
    telegram::answer_callback(bot, &q.id, if yes { "Done." } else { "Cancelled." }).await;
    match q.message.as_ref() {
        Some(m) => telegram::edit(bot, chat, m.id(), &reply).await,
        None => {
            let _ = telegram::send(bot, chat, &reply).await;
        }
    }
}

/// The limits line of a link card, if it has limits.
pub fn limits_line(l: &Limits) -> Option<String> {
    let cap = l.max_viewers.map(|n| {
        format!(
            "at most {} at once",
            plural(i64::from(n), "device", "devices")
        )
    });
    match (cap, l.once) {
        (None, false) => None,
        (None, true) => Some("One-time: only the first device that plays can watch".into()),
        (Some(cap), false) => Some(format!("Limit: {cap}")),
        (Some(cap), true) => Some(format!(
            "One-time: only the first device that plays can watch; {cap}"
        )),
    }
}

/// After `/kick`.
pub fn kicked(link: &Link) -> Reply {
    Reply::text(format!(
        "👢 The viewers of <b>link #{}</b> were cut off. The link still works: whoever opens it next starts afresh{}.",
        link.id,
        if link.limits.once { " and has it" } else { "" }
    ))
}

/// `/offall`'s question.
pub fn off_all_confirm(active: usize) -> Reply {
    if active == 0 {
        return Reply::text("There are no active links, so there is nothing to switch off.");
    }
    let n = plural(active as i64, "active link", "active links");
    let yes = InlineKeyboardButton::callback(
        format!("⛔ Switch off {}", if active == 1 { "it" } else { "all" }),
        Callback::OffAll(true).data(),
    );
    let no = InlineKeyboardButton::callback("Cancel", Callback::OffAll(false).data());
    Reply::inline(
        format!(
            "Switch off all {}? Nobody can watch with them any more.",
            escape(&n)
        ),
        vec![vec![yes, no]],
    )
}

/// After `/offall` was confirmed.
pub fn off_all_done(links: &[Link]) -> Reply {
    let ids: Vec<String> = links.iter().map(|l| format!("#{}", l.id)).collect();
    Reply::text(format!(
        "⛔ {} switched off: {}. Nobody can watch with them any more.",
        plural(links.len() as i64, "link", "links"),
        ids.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Markup;

    #[test]
    fn limits_lines() {
        let cases = [
            (None, false, None),
            (Some(1), false, Some("Limit: at most 1 device at once")),
            (Some(3), false, Some("Limit: at most 3 devices at once")),
            (None, true, Some("One-time: only the first device that plays can watch")),
            (
                Some(2),
                true,
                Some("One-time: only the first device that plays can watch; at most 2 devices at once"),
            ),
        ];
        for (max_viewers, once, want) in cases {
            let l = Limits { max_viewers, once };
            assert_eq!(limits_line(&l).as_deref(), want, "{l:?}");
        }
    }

    #[test]
    fn off_all_asks_first_and_only_when_there_is_something_to_do() {
        let r = off_all_confirm(3);
        assert!(r.text.contains("all 3 active links"), "{}", r.text);
        let Markup::Inline(kb) = &r.markup else {
            panic!("buttons")
        };
        let data = crate::keyboard::callback_data(kb);
        assert_eq!(data, ["offall:yes", "offall:no"]);
        assert_eq!(off_all_confirm(0).markup, Markup::None);
    }
}
