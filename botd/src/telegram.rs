//! Talking to the Bot API: sending and editing [`Reply`] values with retries, and describing
//! request failures without their URL (which holds the bot token).

use std::time::Duration;

use teloxide::{
    payloads::{EditMessageTextSetters, SendMessageSetters},
    prelude::Requester,
    types::{ChatId, MessageId, ParseMode, ReplyMarkup},
    Bot, RequestError,
};

use crate::messages::{Markup, Reply};

/// Describes a failed request for a log line: never the URL, never the token.
pub fn describe(e: &RequestError) -> String {
    match e {
        RequestError::Api(api) => format!("telegram refused the request: {api}"),
        RequestError::MigrateToChatId(id) => format!("the chat moved to {id}"),
        RequestError::RetryAfter(s) => format!("flood control: retry after {}s", s.seconds()),
        RequestError::Network(net) => {
            let kind = if net.is_timeout() {
                "timed out"
            } else if net.is_connect() {
                "cannot connect"
            } else {
                "network error"
            };
            // The sources are hyper/io errors; none of them carries the URL.
            match std::error::Error::source(&**net) {
                Some(source) => format!("{kind}: {}", kit::error_chain(source)),
                None => kind.to_string(),
            }
        }
        RequestError::InvalidJson { source, .. } => {
            format!("unreadable answer from telegram: {source}")
        }
        RequestError::Io(io) => format!("i/o error: {io}"),
    }
}

/// Whether trying the same request again may help.
fn retryable(e: &RequestError) -> Option<Duration> {
    match e {
        RequestError::RetryAfter(s) => Some(s.duration()),
        RequestError::Network(_) | RequestError::Io(_) => Some(Duration::ZERO),
        _ => None,
    }
}

const ATTEMPTS: u32 = 4;

/// Runs `op` up to [`ATTEMPTS`] times, backing off between network failures.
async fn with_retries<T, F, Fut>(what: &str, mut op: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RequestError>>,
{
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => match retryable(&e) {
                Some(wait) if attempt < ATTEMPTS => {
                    let wait = wait.max(backoff);
                    tracing::warn!(request = what, attempt, error = %describe(&e), "telegram request failed; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                _ => return Err(e),
            },
        }
    }
}

/// Sends a reply and gives its message id; failures are logged (without the token) and
/// returned.
pub async fn send(bot: &Bot, chat: ChatId, reply: &Reply) -> Result<MessageId, RequestError> {
    let result = with_retries("sendMessage", || {
        let mut req = bot
            .send_message(chat, reply.text.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        match &reply.markup {
            Markup::None => {}
            Markup::Inline(kb) => req = req.reply_markup(ReplyMarkup::InlineKeyboard(kb.clone())),
            Markup::Keyboard(kb) => req = req.reply_markup(ReplyMarkup::Keyboard(kb.clone())),
        }
        async move { req.await }
    })
    .await;
    match result {
        Ok(m) => Ok(m.id),
        Err(e) => {
            tracing::error!(chat = chat.0, error = %describe(&e), "could not send a message");
            Err(e)
        }
    }
}

/// Replaces the text (and inline keyboard) of a message the bot sent.
pub async fn edit(bot: &Bot, chat: ChatId, message: MessageId, reply: &Reply) {
    let result = with_retries("editMessageText", || {
        let mut req = bot
            .edit_message_text(chat, message, reply.text.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Markup::Inline(kb) = &reply.markup {
            req = req.reply_markup(kb.clone());
        }
        async move { req.await }
    })
    .await;
    if let Err(e) = result {
        tracing::error!(chat = chat.0, message = message.0, error = %describe(&e), "could not edit a message");
    }
}

/// Replaces only the inline keyboard of a message.
pub async fn edit_markup(
    bot: &Bot,
    chat: ChatId,
    message: MessageId,
    markup: teloxide::types::InlineKeyboardMarkup,
) {
    use teloxide::payloads::EditMessageReplyMarkupSetters;
    let result = with_retries("editMessageReplyMarkup", || {
        let req = bot
            .edit_message_reply_markup(chat, message)
            .reply_markup(markup.clone());
        async move { req.await }
    })
    .await;
    if let Err(e) = result {
        tracing::error!(chat = chat.0, message = message.0, error = %describe(&e), "could not edit a keyboard");
    }
}

/// Deletes a message the bot sent.
pub async fn delete(bot: &Bot, chat: ChatId, message: MessageId) {
    let result = with_retries("deleteMessage", || {
        let req = bot.delete_message(chat, message);
        async move { req.await }
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(chat = chat.0, message = message.0, error = %describe(&e), "could not delete a message");
    }
}

/// Answers a button press (the small notice at the top of the chat).
pub async fn answer_callback(bot: &Bot, id: &teloxide::types::CallbackQueryId, text: &str) {
    use teloxide::payloads::AnswerCallbackQuerySetters;
    let result = with_retries("answerCallbackQuery", || {
        let req = bot.answer_callback_query(id.clone()).text(text.to_string());
        async move { req.await }
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %describe(&e), "could not answer a button press");
    }
}

fn no_preview() -> teloxide::types::LinkPreviewOptions {
    teloxide::types::LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}
