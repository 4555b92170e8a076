//! botd: the operator's Telegram bot. It turns commands and button presses into calls to
//! linkd's API over its Unix socket, and announces linkd's events in the allowed chats.
//!
//! [`run`] wires the parts together: long polling of the Bot API, the update handler, the
//! notification loop, and one shutdown path for all of them.

pub mod commands;
pub mod config;
pub mod debounce;
pub mod handlers;
pub mod keyboard;
pub mod linkd;
pub mod messages;
pub mod notify;
pub mod sharing;
pub mod streamkey;
pub mod telegram;
pub mod text;
pub mod watched;

use std::{
    collections::{BTreeMap, HashSet},
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use kit::sync::lock;
use teloxide::{
    dispatching::Dispatcher,
    dptree,
    error_handlers::ErrorHandler,
    prelude::Requester,
    types::{BotCommand, ChatId},
    update_listeners::Polling,
    Bot, RequestError,
};

pub use config::Config;

/// Why botd could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client for the Bot API could not be built.
    #[error("cannot set up the telegram client: {0}")]
    HttpClient(String),
}

/// How many `/new` notes are kept for their keyboard (the oldest is dropped first).
const MAX_NOTES: usize = 256;
/// How long a long-poll `getUpdates` waits on the Bot API.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the dispatcher may take to finish in-flight updates at shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// What the handlers share.
pub struct App {
    /// The effective configuration.
    pub config: Config,
    /// linkd's API.
    pub linkd: linkd::Linkd,
    /// linkd's API for each allowed chat, so changes are recorded as that chat's.
    chats: std::collections::HashMap<i64, linkd::Linkd>,
    notes: Mutex<(u64, BTreeMap<u64, String>)>,
    /// Chats whose reply keyboard this process has already replaced.
    keyboards: Mutex<HashSet<i64>>,
    /// Chats that said `/notify off`.
    muted: Mutex<HashSet<i64>>,
}

impl App {
    /// Builds the shared state; nothing is connected yet.
    pub fn new(config: Config) -> App {
        let linkd = linkd::Linkd::new(config.rpc_socket.clone());
        let chats = config
            .allowed_chat_ids
            .iter()
            .map(|c| (*c, linkd::Linkd::for_chat(config.rpc_socket.clone(), *c)))
            .collect();
        App {
            config,
            linkd,
            chats,
            notes: Mutex::new((0, BTreeMap::new())),
            keyboards: Mutex::new(HashSet::new()),
            muted: Mutex::new(HashSet::new()),
        }
    }

    /// linkd's API acting for `chat` (for calls that change links).
    pub fn linkd_as(&self, chat: ChatId) -> &linkd::Linkd {
        self.chats.get(&chat.0).unwrap_or(&self.linkd)
    }

    /// Whether a chat may use more than `/whoami`.
    pub fn allowed(&self, chat: ChatId) -> bool {
        self.config.allowed_chat_ids.contains(&chat.0)
    }

    /// The configured lifetimes, as written.
    pub fn ttl_options(&self) -> Vec<String> {
        self.config
            .link_ttl_options
            .iter()
            .map(|t| t.text.clone())
            .collect()
    }

    /// Keeps a `/new` note until a lifetime is picked; returns its key for the buttons.
    pub fn remember_note(&self, note: String) -> u64 {
        let mut guard = lock(&self.notes);
        let (next, notes) = &mut *guard;
        *next += 1;
        notes.insert(*next, note);
        while notes.len() > MAX_NOTES {
            notes.pop_first();
        }
        *next
    }

    /// Whether `chat` still shows a keyboard of before this process (an older botd, or the
    /// Go service's); true once per chat, so its first reply puts the current one in place.
    pub fn first_reply(&self, chat: ChatId) -> bool {
        let mut seen = lock(&self.keyboards);
        seen.insert(chat.0)
    }

    /// Turns notifications in `chat` on or off.
    pub fn set_notify(&self, chat: ChatId, on: bool) {
        let mut muted = lock(&self.muted);
        if on {
            muted.remove(&chat.0);
        } else {
            muted.insert(chat.0);
        }
    }

    /// Whether `chat` gets notifications.
    pub fn notify_on(&self, chat: ChatId) -> bool {
        let muted = lock(&self.muted);
        !muted.contains(&chat.0)
    }

    /// The reply keyboard for this configuration.
    pub fn reply_keyboard(&self) -> teloxide::types::KeyboardMarkup {
        keyboard::reply_keyboard(
            &self.ttl_options(),
            self.config
                .default_link_ttl
                .as_ref()
                .map(|t| t.text.as_str()),
        )
    }

    /// A remembered note.
    pub fn note(&self, id: u64) -> Option<String> {
        let guard = lock(&self.notes);
        guard.1.get(&id).cloned()
    }
}

/// Logs update-listener failures (e.g. the Bot API is unreachable) without request URLs.
struct ListenerErrors;

impl ErrorHandler<RequestError> for ListenerErrors {
    fn handle_error(
        self: Arc<Self>,
        error: RequestError,
    ) -> futures::future::BoxFuture<'static, ()> {
        tracing::warn!(error = %telegram::describe(&error), "getting updates from telegram failed");
        Box::pin(async {})
    }
}

/// Registers the command menu, retrying until the Bot API accepts it.
async fn register_commands(bot: Bot) {
    let commands: Vec<BotCommand> = commands::MENU
        .iter()
        .map(|(name, description)| BotCommand::new(*name, *description))
        .collect();
    let mut backoff = Duration::from_secs(1);
    loop {
        match bot.set_my_commands(commands.clone()).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %telegram::describe(&e), "could not register the command menu; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// Runs the bot until `shutdown` resolves, then stops polling and the notification loop.
/// It starts whether or not linkd or the Bot API can be reached, and keeps retrying both.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let client = teloxide::net::default_reqwest_settings()
        .build()
        .map_err(|e| Error::HttpClient(e.without_url().to_string()))?;
    let bot = Bot::with_client(config.telegram_bot_token.expose(), client)
        .set_api_url(config.telegram_api_url.clone());
    tracing::info!(
        socket = %config.rpc_socket.display(),
        chats = config.allowed_chat_ids.len(),
        "botd starting"
    );
    let app = Arc::new(App::new(config));
    // Ready means configured and running: botd serves (and says "linkd is not reachable")
    // whether or not linkd and Telegram can be reached yet.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let menu = tokio::spawn(register_commands(bot.clone()));
    let notifier = tokio::spawn(notify::run(bot.clone(), app.clone()));

    let handler = dptree::endpoint(handlers::update);
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![app.clone()])
        .default_handler(|_| async {})
        .build();
    let token = dispatcher.shutdown_token();
    let dispatch = async {
        let mut backoff = Duration::from_secs(1);
        loop {
            // Long polling only works without a webhook; this is a no-op when none is set.
            if let Err(e) = bot.delete_webhook().await {
                tracing::warn!(error = %telegram::describe(&e), "could not remove a webhook");
            }
            let listener = Polling::builder(bot.clone()).timeout(POLL_TIMEOUT).build();
            match dispatcher
                .try_dispatch_with_listener(listener, Arc::new(ListenerErrors))
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %telegram::describe(&e), "cannot reach the telegram bot api; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    };
    tokio::pin!(dispatch);
    tokio::select! {
        () = &mut dispatch => tracing::warn!("the dispatcher stopped by itself"),
        () = shutdown => {
            tracing::info!("shutting down");
            // An idle dispatcher (still waiting for the Bot API) is simply dropped.
            if token.shutdown().is_ok() && tokio::time::timeout(GRACE, &mut dispatch).await.is_err() {
                tracing::warn!("the dispatcher did not stop within {GRACE:?}; dropping it");
            }
        }
    }
    notifier.abort();
    menu.abort();
    let _ = notifier.await;
    let _ = menu.await;
    tracing::info!("botd stopped");
    Ok(())
}
