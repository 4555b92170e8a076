//! The connection to linkd's socket: connects lazily, and drops the connection after any
//! transport failure so the next call reconnects. botd never opens linkd's database.
//!
//! It also tracks linkd's clock (from [`proto::Status::now`]) so "in 59 min" uses server time.

use std::{
    future::Future,
    path::PathBuf,
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use proto::{ApiError, LinkApiClient};
use tarpc::{client::RpcError, context};
use tokio::sync::Mutex;

pub use proto::client::CallError;

/// A client of linkd that reconnects by itself.
pub struct Linkd {
    socket: PathBuf,
    /// The chat this connection acts for: named to linkd on each connect, so its audit
    /// trail says which chat changed a link.
    chat: Option<i64>,
    client: Mutex<Option<LinkApiClient>>,
    /// linkd's clock minus ours, seconds.
    skew: AtomicI64,
}

fn local_now() -> i64 {
    kit::clock::Clock::system().now()
}

/// How long an ordinary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl Linkd {
    /// A client for the socket at `socket`; nothing is connected yet.
    pub fn new(socket: PathBuf) -> Linkd {
        Linkd {
            socket,
            chat: None,
            client: Mutex::new(None),
            skew: AtomicI64::new(0),
        }
    }

    /// A client for the socket at `socket` whose calls are made for Telegram chat `chat`.
    pub fn for_chat(socket: PathBuf, chat: i64) -> Linkd {
        Linkd {
            chat: Some(chat),
            ..Linkd::new(socket)
        }
    }

    /// The current time by linkd's clock, as last learned (our clock until then).
    pub fn now(&self) -> i64 {
        local_now() + self.skew.load(Ordering::Relaxed)
    }

    /// Remembers linkd's clock reading.
    pub fn observe_now(&self, server_now: i64) {
        self.skew.store(server_now - local_now(), Ordering::Relaxed);
    }

    async fn connected(&self) -> Result<LinkApiClient, CallError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = proto::connect(&self.socket).await.map_err(|e| {
            CallError::Unreachable(format!("cannot connect to {}: {e}", self.socket.display()))
        })?;
        tracing::info!(socket = %self.socket.display(), "connected to linkd");
        if let Some(chat) = self.chat {
            let named =
                proto::client::call_with_deadline(c.clone(), CALL_TIMEOUT, |c, ctx| async move {
                    c.identify(ctx, chat).await
                })
                .await;
            if let Err(e) = named {
                // An older linkd: its audit trail names botd's user instead of the chat.
                tracing::warn!(error = %e, chat, "linkd did not take the chat's name");
            }
        }
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn forget(&self) {
        if self.client.lock().await.take().is_some() {
            tracing::warn!(socket = %self.socket.display(), "lost the connection to linkd; reconnecting on the next call");
        }
    }

    /// Runs one API call with the default timeout.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, CallError>
    where
        F: FnOnce(LinkApiClient, context::Context) -> Fut,
        Fut: Future<Output = Result<Result<T, ApiError>, RpcError>>,
    {
        self.call_within(CALL_TIMEOUT, f).await
    }

    /// Runs one API call that may take up to `timeout`. Any transport failure drops the
    /// connection, so the next call dials the socket again.
    pub async fn call_within<T, F, Fut>(&self, timeout: Duration, f: F) -> Result<T, CallError>
    where
        F: FnOnce(LinkApiClient, context::Context) -> Fut,
        Fut: Future<Output = Result<Result<T, ApiError>, RpcError>>,
    {
        let client = self.connected().await?;
        let result = proto::client::call_with_deadline(client, timeout, f).await;
        if let Err(CallError::Unreachable(_)) = result {
            self.forget().await;
        }
        result
    }

    /// `status`, also refreshing the clock skew.
    pub async fn status(&self) -> Result<proto::Status, CallError> {
        let s = self
            .call(|c, ctx| async move { c.status(ctx).await })
            .await?;
        self.observe_now(s.now);
        Ok(s)
    }
}
