//! `/key` and `/rotatekey`: the stream key for OBS, shown in a message that deletes itself
//! after `KEY_MESSAGE_TTL` (so it does not stay in the chat's history), and its rotation
//! behind a confirmation button. The key is never logged.

use std::time::Duration;

use proto::{StreamKey, StreamKeyRotation};
use teloxide::types::{CallbackQuery, ChatId, InlineKeyboardButton};
use teloxide::Bot;

use crate::commands::Callback;
use crate::messages::{escape, Reply};
use crate::{telegram, App};

/// The message with the key: OBS's two fields and the one URL, and when it goes away.
pub fn key_message(k: &StreamKey, ttl: Duration) -> Reply {
    let mut text = format!(
        "🔑 <b>Stream key</b>\nIn OBS, Settings → Stream, Service <i>Custom</i>:\nServer: <code>{}</code>\nStream Key: <code>{}</code>\n\nOr as one URL: <code>{}</code>",
        escape(&k.server_url),
        escape(&k.stream_key),
        escape(&k.publish_url),
    );
    if k.static_pair_accepted {
        text.push_str("\n\nThe old publish password still works until you /rotatekey.");
    }
    text.push_str(&format!(
        "\n\nThis message deletes itself in {}. Anyone with the key can publish: /rotatekey if it leaked.",
        humantime::format_duration(ttl)
    ));
    Reply::text(text)
}

/// `/rotatekey`'s question.
pub fn confirm() -> Reply {
    Reply::inline(
        "Make a new stream key? The current one stops working at once, and a publisher using it is stopped. OBS then needs the new key (/key).",
        vec![vec![
            InlineKeyboardButton::callback("🔁 New key", Callback::RotateKey(true).data()),
            InlineKeyboardButton::callback("Cancel", Callback::RotateKey(false).data()),
        ]],
    )
}

fn rotated(r: &StreamKeyRotation) -> Reply {
    let stopped = match r.publisher_stopped {
        true => "The publisher that used the old key was stopped.",
        false => "The old key is refused from now on.",
    };
    Reply::text(format!("✅ New stream key made. {stopped} /key shows it."))
}

/// Sends `reply` (which holds the key) and deletes it after `KEY_MESSAGE_TTL`.
async fn send_for_a_while(bot: &Bot, app: &App, chat: ChatId, reply: &Reply) {
    let Ok(id) = telegram::send(bot, chat, reply).await else {
        return;
    };
    let (bot, ttl) = (bot.clone(), app.config.key_message_ttl);
    tokio::spawn(async move {
        tokio::time::sleep(ttl).await;
        telegram::delete(&bot, chat, id).await;
    });
}

/// `/key`: the key in a message that deletes itself; a failure is answered as text.
pub async fn show(bot: &Bot, app: &App, chat: ChatId) {
    match app
        .linkd
        .call(|c, ctx| async move { c.stream_key(ctx).await })
        .await
    {
        Ok(k) => {
            tracing::info!(chat = chat.0, "stream key shown");
            send_for_a_while(bot, app, chat, &key_message(&k, app.config.key_message_ttl)).await
        }
        Err(e) => {
            let _ = telegram::send(bot, chat, &crate::handlers::failure(app, &e)).await;
        }
    }
}

/// A press on `/rotatekey`'s buttons.
pub async fn pressed(bot: &Bot, app: &App, q: &CallbackQuery, chat: ChatId, yes: bool) {
    let message = q.message.as_ref().map(|m| m.id());
    if !yes {
        telegram::answer_callback(bot, &q.id, "Nothing changed.").await;
        if let Some(m) = message {
            telegram::edit(bot, chat, m, &Reply::text("The stream key stays as it is.")).await;
        }
        return;
    }
    match app
        .linkd
        .call(|c, ctx| async move { c.rotate_stream_key(ctx).await })
        .await
    {
        Ok(r) => {
            tracing::info!(
                chat = chat.0,
                publisher_stopped = r.publisher_stopped,
                "stream key rotated"
            );
            telegram::answer_callback(bot, &q.id, "New stream key made.").await;
            if let Some(m) = message {
                telegram::edit(bot, chat, m, &rotated(&r)).await;
            }
        }
        Err(e) => {
            let reply = crate::handlers::failure(app, &e);
            telegram::answer_callback(bot, &q.id, &crate::messages::notice(&reply.text)).await;
        }
    }
}
