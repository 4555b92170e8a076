//! The tarpc server on the Unix socket: [`proto::LinkApi`] on top of the link table.
//!
//! Binding replaces a stale socket file and refuses a live one; the socket is made 0660.
//! Each call is logged with its method, outcome and duration, never with a token or URL.

use crate::Shared;
use futures::StreamExt;
use proto::{
    Actor, ApiError, AuditKind, Event, Limits, Link, LinkApi, LinkLog, Pong, SigningKeyRotation,
    Status, StreamKey, StreamKeyRotation, Viewer,
};
use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another process answers on the socket.
    #[error("another linkd is already listening on {path}; stop it first or set RPC_SOCKET to another path")]
    InUse {
        /// The socket.
        path: PathBuf,
    },
    /// The path exists and is not a socket; it was left alone.
    #[error("{path} exists and is not a socket; remove it or set RPC_SOCKET to another path")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The operating system refused.
    #[error("cannot bind {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Binds the RPC socket at `path` with mode 0660.
pub fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let io = |source| BindError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(BindError::InUse {
                        path: path.to_path_buf(),
                    })
                }
                Err(_) => std::fs::remove_file(path).map_err(io)?,
            }
        }
        Ok(_) => {
            return Err(BindError::NotASocket {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    Ok(listener)
}

/// Serves the API on `listener` until `shutdown`, then lets calls in flight finish (for at
/// most `grace`) and removes the socket file.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let calls = TaskTracker::new();
    let connections = TaskTracker::new();
    let conn_stop = CancellationToken::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let actor = Arc::new(Mutex::new(crate::audit::peer(&stream)));
                    let server = RpcServer { shared: shared.clone(), actor };
                    let calls = calls.clone();
                    let stop = conn_stop.clone();
                    connections.spawn(async move {
                        let channel = BaseChannel::with_defaults(proto::transport(stream));
                        let run = channel.execute(server.serve()).for_each(|call| {
                            calls.spawn(call);
                            async {}
                        });
                        tokio::select! {
                            _ = run => {}
                            _ = stop.cancelled() => {}
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rpc accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
    calls.close();
    if tokio::time::timeout(grace, calls.wait()).await.is_err() {
        tracing::warn!("rpc calls still running after the grace period; dropping them");
    }
    conn_stop.cancel();
    connections.close();
    connections.wait().await;
}

/// One connection's view of the API.
#[derive(Clone)]
struct RpcServer {
    shared: Arc<Shared>,
    /// Who makes this connection's calls: its peer user, or the chat botd named.
    actor: Arc<Mutex<Actor>>,
}

/// Runs one call, logging its method, outcome and duration.
async fn logged<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let start = Instant::now();
    let result = call.await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(_) => tracing::info!(method, outcome = "ok", ms, "rpc"),
        Err(e) => tracing::info!(method, outcome = "refused", error = %e, ms, "rpc"),
    }
    result
}

impl RpcServer {
    fn wire(&self, e: &crate::links::Entry) -> Link {
        let viewers = self.shared.viewers.live_on(e.id) + self.shared.gates.remote_on(e.id);
        self.shared
            .links
            .to_wire(e, self.shared.links.now(), viewers)
    }

    /// Who makes this call, for the audit trail.
    fn actor(&self) -> Actor {
        crate::sync::lock(&self.actor).clone()
    }

    /// Records in the audit trail that this connection's actor changed `e` (`kind`). A link
    /// switched off, kicked or given a new URL has no viewers any more: its live sessions
    /// end now.
    fn audit(&self, e: &crate::links::Entry, kind: AuditKind) {
        self.shared
            .audit
            .change(&self.actor(), e.id, kind, e.expires_at);
        if matches!(
            kind,
            AuditKind::Disabled | AuditKind::Kicked | AuditKind::Rotated
        ) {
            self.shared.viewers.end_link(e.id);
        }
    }

    fn writable(&self) -> Result<(), ApiError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(ApiError::ShuttingDown);
        }
        Ok(())
    }
}

impl LinkApi for RpcServer {
    async fn ping(self, _: Context) -> Pong {
        tracing::debug!(method = "ping", "rpc");
        Pong {
            version: proto::VERSION.to_string(),
        }
    }

    async fn create_link(
        self,
        _: Context,
        ttl: Option<String>,
        note: Option<String>,
    ) -> Result<Link, ApiError> {
        logged("create_link", async {
            self.writable()?;
            let e = self
                .shared
                .links
                .create(ttl.as_deref(), false, note, Limits::default())
                .await?;
            tracing::info!(link_id = e.id, expires_at = e.expires_at, "link created");
            self.audit(&e, AuditKind::Created);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn create_permanent_link(
        self,
        _: Context,
        note: Option<String>,
    ) -> Result<Link, ApiError> {
        logged("create_permanent_link", async {
            self.writable()?;
            let e = self
                .shared
                .links
                .create(None, true, note, Limits::default())
                .await?;
            tracing::info!(link_id = e.id, "permanent link created");
            self.audit(&e, AuditKind::Created);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn list_active(self, _: Context) -> Result<Vec<Link>, ApiError> {
        logged("list_active", async {
            let now = self.shared.links.now();
            let viewers = self.shared.gates.summed(self.shared.viewers.per_link());
            Ok(self
                .shared
                .links
                .active()
                .iter()
                .map(|e| {
                    self.shared
                        .links
                        .to_wire(e, now, viewers.get(&e.id).copied().unwrap_or(0))
                })
                .collect())
        })
        .await
    }

    async fn set_greeting(
        self,
        _: Context,
        id: i64,
        greeting: Option<String>,
    ) -> Result<Link, ApiError> {
        logged("set_greeting", async {
            self.writable()?;
            let e = self.shared.links.get(id).ok_or(ApiError::NotFound { id })?;
            self.shared.greetings.set(id, greeting).await?;
            tracing::info!(link_id = id, "greeting set");
            Ok(self.wire(&e))
        })
        .await
    }

    async fn get_link(self, _: Context, id: i64) -> Result<Link, ApiError> {
        logged("get_link", async {
            let e = self.shared.links.get(id).ok_or(ApiError::NotFound { id })?;
            Ok(self.wire(&e))
        })
        .await
    }

    async fn disable_link(self, _: Context, id: i64) -> Result<Link, ApiError> {
        logged("disable_link", async {
            self.writable()?;
            let e = self.shared.links.disable(id).await?;
            tracing::info!(link_id = e.id, "link disabled");
            self.audit(&e, AuditKind::Disabled);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn disable_last(self, _: Context) -> Result<Link, ApiError> {
        logged("disable_last", async {
            self.writable()?;
            let e = self.shared.links.disable_last().await?;
            tracing::info!(link_id = e.id, "link disabled");
            self.audit(&e, AuditKind::Disabled);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn extend_link(self, _: Context, id: i64, ttl: String) -> Result<Link, ApiError> {
        logged("extend_link", async {
            self.writable()?;
            let e = self.shared.links.extend(id, &ttl).await?;
            tracing::info!(link_id = e.id, expires_at = e.expires_at, "link extended");
            self.audit(&e, AuditKind::Extended);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn status(self, _: Context) -> Result<Status, ApiError> {
        logged("status", async {
            let viewers = self
                .shared
                .gates
                .summed(self.shared.viewers.per_link())
                .values()
                .sum();
            Ok(Status {
                live: self.shared.stream.live(),
                live_since: self.shared.stream.since(),
                viewers,
                active_links: self.shared.links.active_count(),
                version: proto::VERSION.to_string(),
                uptime_s: self.shared.started.elapsed().as_secs(),
                now: self.shared.links.now(),
                state_store: Some(self.shared.gates.state_store()),
            })
        })
        .await
    }

    async fn next_events(
        self,
        ctx: Context,
        consumer: String,
        wait_ms: u32,
    ) -> Result<Vec<Event>, ApiError> {
        logged("next_events", async {
            // Answer before the caller's deadline, leaving it time to receive the answer.
            let left = ctx.deadline.saturating_duration_since(Instant::now());
            let wait = Duration::from_millis(u64::from(wait_ms.min(30_000)))
                .min(left.saturating_sub(Duration::from_millis(500)));
            self.shared
                .events
                .next(&consumer, wait, &self.shared.shutdown)
                .await
        })
        .await
    }

    async fn ack_events(self, _: Context, consumer: String, last_id: u64) -> Result<(), ApiError> {
        logged("ack_events", self.shared.events.ack(&consumer, last_id)).await
    }

    async fn rotate_signing_key(
        self,
        _: Context,
        logout_all: bool,
    ) -> Result<SigningKeyRotation, ApiError> {
        logged("rotate_signing_key", async {
            self.writable()?;
            let r = self.shared.keys.rotate(logout_all).await?;
            tracing::info!(key_id = r.key_id, logout_all, "session signing key rotated");
            Ok(r)
        })
        .await
    }

    async fn create_limited_link(
        self,
        _: Context,
        ttl: Option<String>,
        permanent: bool,
        note: Option<String>,
        limits: Limits,
    ) -> Result<Link, ApiError> {
        logged("create_limited_link", async {
            self.writable()?;
            let links = &self.shared.links;
            let e = links
                .create(ttl.as_deref(), permanent, note, limits)
                .await?;
            tracing::info!(
                link_id = e.id,
                expires_at = e.expires_at,
                max_viewers = limits.max_viewers,
                once = limits.once,
                "link created"
            );
            self.audit(&e, AuditKind::Created);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn kick_link(self, _: Context, id: i64) -> Result<Link, ApiError> {
        logged("kick_link", async {
            self.writable()?;
            let e = self.shared.links.kick(id).await?;
            tracing::info!(link_id = e.id, "link's sessions ended");
            self.audit(&e, AuditKind::Kicked);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn rotate_link(self, _: Context, id: i64) -> Result<Link, ApiError> {
        logged("rotate_link", async {
            self.writable()?;
            let e = self.shared.links.rotate(id).await?;
            tracing::info!(link_id = e.id, "link has a new token");
            self.audit(&e, AuditKind::Rotated);
            Ok(self.wire(&e))
        })
        .await
    }

    async fn disable_all(self, _: Context) -> Result<Vec<Link>, ApiError> {
        logged("disable_all", async {
            self.writable()?;
            let off = self.shared.links.disable_all().await?;
            tracing::info!(links = off.len(), "every active link disabled");
            for e in &off {
                self.audit(e, AuditKind::Disabled);
            }
            Ok(off.iter().map(|e| self.wire(e)).collect())
        })
        .await
    }

    async fn identify(self, _: Context, chat_id: i64) -> Result<(), ApiError> {
        logged("identify", async {
            let mut actor = crate::sync::lock(&self.actor);
            let user = match &*actor {
                Actor::User { name } => Some(name.clone()),
                Actor::Chat { user, .. } => user.clone(),
            };
            *actor = Actor::Chat { chat_id, user };
            Ok(())
        })
        .await
    }

    async fn stream_key(self, _: Context) -> Result<StreamKey, ApiError> {
        logged("stream_key", async {
            tracing::info!("stream key shown");
            Ok(self.shared.media.keys.show())
        })
        .await
    }

    async fn link_log(self, _: Context, id: i64) -> Result<LinkLog, ApiError> {
        logged("link_log", async {
            let e = self.shared.links.get(id).ok_or(ApiError::NotFound { id })?;
            let events = self.shared.audit.events(id).await?;
            let live: Vec<Viewer> = self
                .shared
                .viewers
                .list(|_| e.note.clone())
                .into_iter()
                .filter(|v| v.link_id == id)
                .collect();
            let now = self.shared.links.now();
            Ok(crate::audit::log(self.wire(&e), events, &live, now))
        })
        .await
    }

    async fn viewers(self, _: Context) -> Result<Vec<Viewer>, ApiError> {
        logged("viewers", async {
            let links = &self.shared.links;
            Ok(self
                .shared
                .viewers
                .list(|id| links.get(id).map(|e| e.note).unwrap_or_default()))
        })
        .await
    }

    async fn rotate_stream_key(self, _: Context) -> Result<StreamKeyRotation, ApiError> {
        logged("rotate_stream_key", async {
            self.writable()?;
            let r = crate::publish::rotate(&self.shared).await?;
            tracing::info!(
                publisher_stopped = r.publisher_stopped,
                "stream key rotated"
            );
            Ok(r)
        })
        .await
    }
}
