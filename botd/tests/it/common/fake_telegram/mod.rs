//! A fake Telegram Bot API server on loopback, speaking the real wire protocol
//! (`POST /bot<TOKEN>/<method>` with JSON bodies, `{"ok":true,"result":...}` answers).
//!
//! It records every call, keeps the messages the bot sent (so edits and button presses see
//! realistic Message objects) and lets tests inject updates for `getUpdates` long polling.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    body::Incoming, server::conn::http1, service::service_fn, Request, Response, StatusCode,
};
use hyper_util::rt::TokioIo;
use kit::sync::lock;
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::Notify};

mod handlers;
use handlers::handle;

/// The bot's own user id (the digits of the token).
pub const BOT_ID: i64 = 123_456;

/// One request the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    /// Position in the log of calls.
    pub seq: usize,
    /// Bot API method, e.g. `sendMessage`.
    pub method: String,
    /// The JSON body (`{}` when empty).
    pub body: Value,
    /// What the server answered as `result` (`null` for a failure).
    pub result: Value,
}

impl Call {
    /// `body.chat_id` as a number.
    pub fn chat(&self) -> Option<i64> {
        self.body["chat_id"].as_i64()
    }

    /// The id of the message this call sent or edited.
    pub fn message_id(&self) -> i64 {
        self.result["message_id"]
            .as_i64()
            .expect("the call returned a message")
    }

    /// `body.text`, or "".
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or("")
    }

    /// Every `callback_data` of the inline keyboard in `body.reply_markup`.
    pub fn callback_data(&self) -> Vec<String> {
        buttons(&self.body["reply_markup"])
    }
}

/// Every `callback_data` of an inline keyboard markup.
pub fn buttons(markup: &Value) -> Vec<String> {
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// Updates not yet confirmed by an `offset` past them.
    updates: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    /// Messages the bot sent, by (chat, message id).
    messages: HashMap<(i64, i64), Value>,
    /// Chats for which `sendMessage` fails as if the user blocked the bot.
    blocked: Vec<i64>,
}

struct Shared {
    token: String,
    state: Mutex<State>,
    /// Woken on every new update.
    updates_changed: Notify,
    /// Woken on every call.
    called: Notify,
}

/// The running fake server. Dropping it does not stop the accept loop task; the test's
/// runtime ends it.
#[derive(Clone)]
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "tempstream", "username": "tempstream_bot"})
}

fn person(id: i64) -> Value {
    json!({"id": id.abs(), "is_bot": false, "first_name": "Person", "username": format!("person{}", id.abs())})
}

fn chat(id: i64) -> Value {
    if id < 0 {
        json!({"id": id, "type": "supergroup", "title": "Group"})
    } else {
        json!({"id": id, "type": "private", "first_name": "Person"})
    }
}

impl FakeTelegram {
    /// Starts serving on 127.0.0.1 with a random port; only `token` is accepted.
    pub async fn start(token: &str) -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            token: token.to_string(),
            state: Mutex::new(State {
                next_update_id: 1000,
                next_message_id: 1,
                ..State::default()
            }),
            updates_changed: Notify::new(),
            called: Notify::new(),
        });
        let accept = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = accept.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeTelegram { addr, shared }
    }

    /// The base URL to give the bot as `TELEGRAM_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    fn push_update(&self, mut update: Value) -> i64 {
        let id = {
            let mut s = self.state();
            s.next_update_id += 1;
            let id = s.next_update_id;
            update["update_id"] = json!(id);
            s.updates.push(update);
            id
        };
        self.shared.updates_changed.notify_waiters();
        id
    }

    /// Injects a text message from a person in `chat_id`; returns the update id.
    pub fn send_text(&self, chat_id: i64, text: &str) -> i64 {
        let message_id = {
            let mut s = self.state();
            s.next_message_id += 1;
            s.next_message_id
        };
        let mut message = json!({
            "message_id": message_id,
            "from": person(chat_id),
            "chat": chat(chat_id),
            "date": unix_now(),
            "text": text,
        });
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .encode_utf16()
                .count();
            message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        self.push_update(json!({ "message": message }))
    }

    /// Injects any update body (without `update_id`), e.g. a kind botd does not handle.
    pub fn inject(&self, update: Value) -> i64 {
        self.push_update(update)
    }

    /// Injects a press of the button `data` under the bot's message `message_id` in `chat_id`,
    /// pressed by a person of `presser_chat` (the same as `chat_id` in private chats).
    pub fn press(&self, chat_id: i64, message_id: i64, data: &str) -> String {
        let message = self
            .state()
            .messages
            .get(&(chat_id, message_id))
            .cloned()
            .unwrap_or_else(|| panic!("the bot sent no message {message_id} to {chat_id}"));
        let id = format!("cbq-{message_id}-{}", self.state().next_update_id + 1);
        self.push_update(json!({
            "callback_query": {
                "id": id,
                "from": person(chat_id),
                "message": message,
                "chat_instance": format!("ci{chat_id}"),
                "data": data,
            }
        }));
        id
    }

    /// Makes `sendMessage` to `chat_id` fail as if the user blocked the bot.
    pub fn block(&self, chat_id: i64) {
        self.state().blocked.push(chat_id);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Number of calls so far (to wait only for calls made after this point).
    pub fn mark(&self) -> usize {
        self.state().calls.len()
    }

    /// The message as the bot last left it (after edits).
    pub fn message(&self, chat_id: i64, message_id: i64) -> Value {
        self.state()
            .messages
            .get(&(chat_id, message_id))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Updates that the bot has not confirmed yet.
    pub fn pending_updates(&self) -> usize {
        self.state().updates.len()
    }

    /// Waits up to `timeout` for a call at or after position `since` that matches.
    pub async fn wait_for(
        &self,
        since: usize,
        timeout: Duration,
        mut matches: impl FnMut(&Call) -> bool,
    ) -> Result<Call, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.called.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(c) = self.calls().into_iter().skip(since).find(|c| matches(c)) {
                return Ok(c);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                let seen: Vec<String> = self
                    .calls()
                    .into_iter()
                    .skip(since)
                    .map(|c| format!("{} {}", c.method, c.body))
                    .collect();
                return Err(format!(
                    "no matching call within {timeout:?}; calls since: {seen:#?}"
                ));
            }
        }
    }

    /// Waits for a `method` call at or after `since`.
    pub async fn wait_method(&self, since: usize, method: &str) -> Call {
        let m = method.to_string();
        self.wait_for(since, Duration::from_secs(10), |c| c.method == m)
            .await
            .unwrap_or_else(|e| panic!("waiting for {method}: {e}"))
    }
}
