//! What botd does with each update: checks the chat, runs the command or button against
//! linkd, and answers. Nothing here returns an error: every failure becomes an answer or a
//! log line (with chat ids and link ids, never message text, URLs or tokens).

use std::{convert::Infallible, sync::Arc};

use proto::ApiError;
use teloxide::{
    types::{CallbackQuery, ChatId, Message, Update, UpdateKind},
    Bot,
};

use crate::{
    commands::{self, Callback, Choice, Command, ParseError},
    linkd::CallError,
    messages::{self, Reply},
    telegram, App,
};

/// The dispatcher's only endpoint.
pub async fn update(bot: Bot, update: Update, app: Arc<App>) -> Result<(), Infallible> {
    match update.kind {
        UpdateKind::Message(msg) => message(&bot, &app, &msg).await,
        UpdateKind::CallbackQuery(q) => callback(&bot, &app, &q).await,
        _ => tracing::debug!(update = update.id.0, "ignored an update of another kind"),
    }
    Ok(())
}

async fn message(bot: &Bot, app: &App, msg: &Message) {
    let chat = msg.chat.id;
    let Some(text) = msg.text() else {
        return;
    };
    let parsed = commands::parse(text);
    if parsed != Ok(Command::WhoAmI) && !app.allowed(chat) {
        tracing::warn!(
            chat = chat.0,
            "refused a message from a chat that is not in ALLOWED_CHAT_IDS"
        );
        let _ = telegram::send(bot, chat, &messages::refusal(chat.0)).await;
        return;
    }
    let mut replies = match parsed {
        Ok(Command::Key) => {
            tracing::info!(chat = chat.0, command = "key", "command");
            // Its own message, which deletes itself: never part of the usual replies.
            return crate::streamkey::show(bot, app, chat).await;
        }
        Ok(cmd) => {
            tracing::info!(chat = chat.0, command = command_name(&cmd), "command");
            run(app, chat, cmd).await
        }
        Err(ParseError::Usage(u)) => vec![messages::usage(u)],
        Err(ParseError::Unknown(c)) => vec![messages::unknown(Some(&c))],
        Err(ParseError::NotACommand) => vec![messages::unknown(None)],
    };
    if app.first_reply(chat) {
        with_keyboard(&mut replies, app.reply_keyboard());
    }
    for reply in &replies {
        if telegram::send(bot, chat, reply).await.is_err() {
            break;
        }
    }
}

/// Puts the reply keyboard on the first reply without buttons of its own (a message carries
/// one keyboard), or on a short message after the replies when all of them have buttons.
fn with_keyboard(replies: &mut Vec<Reply>, keyboard: teloxide::types::KeyboardMarkup) {
    match replies.iter_mut().find(|r| {
        matches!(
            r.markup,
            messages::Markup::None | messages::Markup::Keyboard(_)
        )
    }) {
        Some(reply) => reply.markup = messages::Markup::Keyboard(keyboard),
        None => replies.push(crate::keyboard::keyboard_refresh(keyboard)),
    }
}

fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Start => "start",
        Command::Help => "help",
        Command::New { .. } => "new",
        Command::NewPerm { .. } => "newperm",
        Command::Active => "active",
        Command::Status => "status",
        Command::Off { .. } => "off",
        Command::OffLast => "offlast",
        Command::Extend { .. } => "extend",
        Command::WhoAmI => "whoami",
        Command::Notify { .. } => "notify",
        Command::Greet { .. } => "greet",
        Command::Kick { .. } => "kick",
        Command::Rotate { .. } => "rotate",
        Command::OffAll => "offall",
        Command::Log { .. } => "log",
        Command::Viewers => "viewers",
        Command::Key => "key",
        Command::RotateKey => "rotatekey",
    }
}

/// The answer for a failed call.
pub(crate) fn failure(app: &App, e: &CallError) -> Reply {
    let text = match e {
        CallError::Unreachable(why) => {
            tracing::warn!(error = %why, "linkd is not reachable");
            messages::linkd_unreachable()
        }
        CallError::Api(api) => messages::api_error(api, app.linkd.now(), app.config.time_zone),
    };
    Reply {
        text,
        markup: messages::Markup::None,
    }
}

async fn create(
    app: &App,
    chat: ChatId,
    ttl: Option<String>,
    note: Option<String>,
) -> Result<Reply, CallError> {
    let link = match ttl {
        Some(ttl) => {
            app.linkd_as(chat)
                .call(|c, ctx| async move { c.create_link(ctx, Some(ttl), note).await })
                .await?
        }
        None => {
            app.linkd_as(chat)
                .call(|c, ctx| async move { c.create_permanent_link(ctx, note).await })
                .await?
        }
    };
    Ok(created(app, &link))
}

/// The card of a link just created (logged by id), with linkd's clock noted.
pub(crate) fn created(app: &App, link: &proto::Link) -> Reply {
    tracing::info!(link = link.id, "link created");
    app.linkd.observe_now(link.created_at);
    messages::link_card(
        "New watch link:",
        link,
        link.created_at,
        app.config.time_zone,
    )
}

/// `/new` without limits: with a TTL, the link at once; without, the lifetime keyboard.
async fn new(
    app: &App,
    chat: ChatId,
    ttl: Option<String>,
    note: Option<String>,
) -> Result<Reply, CallError> {
    if ttl.is_some() {
        return create(app, chat, ttl, note).await;
    }
    let note_id = note.as_ref().map(|n| app.remember_note(n.clone()));
    Ok(crate::keyboard::ttl_choice(
        &app.ttl_options(),
        note.as_deref(),
        note_id,
    ))
}

/// Runs a command of an allowed chat (or `/whoami` of any chat).
/// The sharing-limit commands (`/new` with limits among them) go to [`crate::sharing`].
async fn run(app: &App, chat: ChatId, cmd: Command) -> Vec<Reply> {
    let replies = match crate::sharing::handles(&cmd) {
        true => crate::sharing::run(app, chat, cmd).await.map(|r| vec![r]),
        false => answer(app, chat, cmd).await,
    };
    replies.unwrap_or_else(|e| vec![failure(app, &e)])
}

/// The replies to `cmd`, or the linkd call that failed.
async fn answer(app: &App, chat: ChatId, cmd: Command) -> Result<Vec<Reply>, CallError> {
    let tz = app.config.time_zone;
    Ok(match cmd {
        Command::Start | Command::Help => vec![crate::keyboard::help(
            &app.ttl_options(),
            app.config
                .default_link_ttl
                .as_ref()
                .map(|t| t.text.as_str()),
        )],
        Command::WhoAmI => vec![messages::whoami(chat.0)],
        Command::RotateKey => vec![crate::streamkey::confirm()],
        Command::Key => Vec::new(), // `message` sends it, in a message that deletes itself
        Command::Notify { on } => {
            if let Some(on) = on {
                app.set_notify(chat, on);
            }
            vec![crate::notify::notify_setting(
                app.notify_on(chat),
                app.config.notify,
            )]
        }
        Command::New { ttl, note, .. } => vec![new(app, chat, ttl, note).await?],
        Command::NewPerm { note } => vec![create(app, chat, None, note).await?],
        Command::Active => {
            let links = app
                .linkd
                .call(|c, ctx| async move { c.list_active(ctx).await })
                .await?;
            let now = linkd_now(app).await;
            messages::active_list(&links, now, tz)
        }
        Command::Status => vec![messages::status(&app.linkd.status().await?, tz)],
        Command::Log { id } => vec![who_watched(app, Some(id)).await?],
        Command::Viewers => vec![who_watched(app, None).await?],
        Command::Greet { id, text } => vec![greet(app, chat, id, text).await?],
        Command::Off { id } => vec![off(app, chat, Some(id)).await?],
        Command::OffLast => vec![off(app, chat, None).await?],
        Command::Extend { id, ttl } => vec![extend(app, chat, id, ttl).await?],
        cmd => vec![crate::sharing::run(app, chat, cmd).await?],
    })
}

/// `/greet ID [text]`, on behalf of `chat`.
async fn greet(app: &App, chat: ChatId, id: i64, text: Option<String>) -> Result<Reply, CallError> {
    let shown = text.clone();
    let link = app
        .linkd_as(chat)
        .call(|c, ctx| async move { c.set_greeting(ctx, id, text).await })
        .await?;
    tracing::info!(link = link.id, "greeting set");
    Ok(messages::greeting_set(&link, shown.as_deref()))
}

/// `/off ID`, or `/offlast` without an id, on behalf of `chat`.
async fn off(app: &App, chat: ChatId, id: Option<i64>) -> Result<Reply, CallError> {
    let link = app
        .linkd_as(chat)
        .call(|c, ctx| async move {
            match id {
                Some(id) => c.disable_link(ctx, id).await,
                None => c.disable_last(ctx).await,
            }
        })
        .await?;
    tracing::info!(link = link.id, "link disabled");
    Ok(messages::link_off(
        &link,
        app.linkd.now(),
        app.config.time_zone,
    ))
}

/// `/extend ID TTL`, on behalf of `chat`.
async fn extend(app: &App, chat: ChatId, id: i64, ttl: String) -> Result<Reply, CallError> {
    let link = app
        .linkd_as(chat)
        .call(|c, ctx| async move { c.extend_link(ctx, id, ttl).await })
        .await?;
    tracing::info!(link = link.id, "link extended");
    let now = linkd_now(app).await;
    Ok(messages::link_card(
        "Link extended:",
        &link,
        now,
        app.config.time_zone,
    ))
}

/// `/log ID` (with `log`) or `/viewers`.
async fn who_watched(app: &App, log: Option<i64>) -> Result<Reply, CallError> {
    let tz = app.config.time_zone;
    let Some(id) = log else {
        let viewers = app
            .linkd
            .call(|c, ctx| async move { c.viewers(ctx).await })
            .await?;
        return Ok(crate::watched::viewers(&viewers, linkd_now(app).await, tz));
    };
    let log = app
        .linkd
        .call(|c, ctx| async move { c.link_log(ctx, id).await })
        .await?;
    app.linkd.observe_now(log.now);
    Ok(crate::watched::log(&log, tz))
}

/// linkd's clock, or botd's own when linkd cannot say.
async fn linkd_now(app: &App) -> i64 {
    app.linkd
        .status()
        .await
        .map_or_else(|_| app.linkd.now(), |s| s.now)
}

async fn callback(bot: &Bot, app: &App, q: &CallbackQuery) {
    let chat = q
        .message
        .as_ref()
        .map_or(ChatId(q.from.id.0 as i64), |m| m.chat().id);
    if !app.allowed(chat) {
        tracing::warn!(
            chat = chat.0,
            "refused a button press from a chat that is not in ALLOWED_CHAT_IDS"
        );
        telegram::answer_callback(bot, &q.id, "Sorry, this is a private bot.").await;
        return;
    }
    let Some(cb) = q.data.as_deref().and_then(Callback::parse) else {
        telegram::answer_callback(bot, &q.id, "This button does nothing any more.").await;
        return;
    };
    match cb {
        Callback::Off(id) => switch_off(bot, app, q, chat, id).await,
        Callback::OffAll(yes) => crate::sharing::off_all_pressed(bot, app, q, chat, yes).await,
        Callback::New { choice, note_id } => {
            create_pressed(bot, app, q, chat, choice, note_id).await
        }
        Callback::RotateKey(yes) => crate::streamkey::pressed(bot, app, q, chat, yes).await,
    }
}

/// The "switch off" button of link `id`: answers the press and shows the link as off.
async fn switch_off(bot: &Bot, app: &App, q: &CallbackQuery, chat: ChatId, id: i64) {
    let tz = app.config.time_zone;
    let result = app
        .linkd_as(chat)
        .call(|c, ctx| async move { c.disable_link(ctx, id).await })
        .await;
    let (notice, link) = match result {
        Ok(link) => {
            tracing::info!(link = link.id, "link disabled");
            (format!("Link #{id} is off."), Some(link))
        }
        Err(CallError::Api(
            e @ (ApiError::AlreadyDisabled { .. } | ApiError::AlreadyExpired { .. }),
        )) => {
            let link = app
                .linkd
                .call(|c, ctx| async move { c.get_link(ctx, id).await })
                .await
                .ok();
            (
                messages::notice(&messages::api_error(&e, app.linkd.now(), tz)),
                link,
            )
        }
        Err(e) => (messages::notice(&failure(app, &e).text), None),
    };
    telegram::answer_callback(bot, &q.id, &notice).await;
    let (Some(link), Some(msg)) = (link, q.message.as_ref().and_then(|m| m.regular_message()))
    else {
        return;
    };
    match listed_ids(msg, id) {
        // A list of links: this one is shown as off, the others stay.
        Some(ids) => {
            if let Some(reply) = list_now(app, ids).await {
                telegram::edit(bot, chat, msg.id, &reply).await;
            }
        }
        None => {
            telegram::edit(
                bot,
                chat,
                msg.id,
                &messages::link_off(&link, app.linkd.now(), tz),
            )
            .await
        }
    }
}

/// A lifetime button of `/new`: creates the link (with the note kept under `note_id`).
async fn create_pressed(
    bot: &Bot,
    app: &App,
    q: &CallbackQuery,
    chat: ChatId,
    choice: Choice,
    note_id: Option<u64>,
) {
    let note = note_id.and_then(|n| app.note(n));
    if note_id.is_some() && note.is_none() {
        telegram::answer_callback(bot, &q.id, "This choice has expired; send /new again.").await;
        return;
    }
    let ttl = match choice {
        Choice::Ttl(t) => Some(t),
        Choice::Permanent => None,
    };
    match create(app, chat, ttl, note).await {
        Ok(reply) => {
            telegram::answer_callback(bot, &q.id, "Link created.").await;
            match q.message.as_ref() {
                Some(m) => telegram::edit(bot, chat, m.id(), &reply).await,
                None => {
                    let _ = telegram::send(bot, chat, &reply).await;
                }
            }
        }
        Err(e) => {
            let reply = failure(app, &e);
            telegram::answer_callback(bot, &q.id, &messages::notice(&reply.text)).await;
        }
    }
}

/// A list message as it reads now: its links, those switched off shown as off. `None` when
/// linkd cannot be asked (the message then stays as it is).
async fn list_now(app: &App, ids: Vec<i64>) -> Option<Reply> {
    let mut links = Vec::with_capacity(ids.len());
    for id in ids {
        match app
            .linkd
            .call(|c, ctx| async move { c.get_link(ctx, id).await })
            .await
        {
            Ok(l) => links.push(l),
            Err(CallError::Api(ApiError::NotFound { .. })) => {}
            Err(_) => return None,
        }
    }
    Some(messages::list_after_off(
        &links,
        app.linkd.now(),
        app.config.time_zone,
    ))
}

/// For a list message (several Disable buttons), the ids it lists, in order, `id` included;
/// `None` when the message is about this link alone. A list message shows the links it
/// still has buttons for, and those already shown as off (their id is in the text).
fn listed_ids(msg: &Message, id: i64) -> Option<Vec<i64>> {
    let kb = msg.reply_markup()?;
    let buttons: Vec<i64> = kb
        .inline_keyboard
        .iter()
        .flatten()
        .filter_map(|b| match &b.kind {
            teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => {
                match Callback::parse(d) {
                    Some(Callback::Off(i)) => Some(i),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    let text = msg.text().unwrap_or("");
    if buttons.len() < 2 && !text.contains("active link") {
        return None;
    }
    // Ids in the order the text lists them ("Link #7"), so links shown as off keep their place.
    let mut ids: Vec<i64> = text
        .match_indices("Link #")
        .filter_map(|(i, m)| {
            let digits: String = text[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect();
    ids.dedup();
    if !ids.contains(&id) {
        ids.push(id);
    }
    Some(ids)
}
