//! linkd: owns tempstream's links, serves the watch page and the gated HLS proxy, and answers
//! the link API on a Unix socket.
//!
//! [`run`] wires the parts together around one shutdown path: the future given to it
//! resolves, every task sees the same cancellation, in-flight work drains for the grace
//! period, and `run` returns. `main` only loads the config, binds and maps errors to exit codes.

mod audit;
mod cache;
use kit::clock;
mod config;
mod events;
mod gates;
mod greetings;
mod http;
mod keys;
mod links;
mod memory;
mod metrics;
mod origin;
mod publish;
mod rpc;
pub mod store;
mod stream;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod token;
mod upstream;
mod viewers;

pub use clock::Clock;
pub use config::{Config, ConfigError};

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why linkd could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RPC socket could not be bound.
    #[error(transparent)]
    Rpc(#[from] rpc::BindError),
    /// The HTTP address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; is another program using that port? set HTTP_ADDR"
    )]
    Http {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The sockets linkd serves, bound before [`run`] so that binding errors come first and tests
/// can use port 0.
pub struct Listeners {
    http: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    media: Option<tokio::net::TcpListener>,
    rpc: tokio::net::UnixListener,
    rpc_path: PathBuf,
}

impl Listeners {
    /// The bound HTTP address (with the real port when 0 was asked for).
    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// The bound metrics address, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound media authentication address, when `MEDIA_AUTH_ADDR` is set.
    pub fn media_addr(&self) -> Option<SocketAddr> {
        self.media.as_ref().and_then(|l| l.local_addr().ok())
    }
}

/// Binds the RPC socket (refusing one that another linkd serves) and the HTTP address.
pub async fn bind(config: &Config) -> Result<Listeners, Error> {
    let rpc = rpc::bind(&config.rpc_socket)?;
    let http = match listen_tcp(config.http_addr) {
        Ok(l) => l,
        Err(source) => {
            let _ = std::fs::remove_file(&config.rpc_socket);
            return Err(Error::Http {
                addr: config.http_addr,
                source,
            });
        }
    };
    let optional = |addr: Option<SocketAddr>| match addr {
        None => Ok(None),
        Some(addr) => listen_tcp(addr).map(Some).map_err(|source| {
            let _ = std::fs::remove_file(&config.rpc_socket);
            Error::Http { addr, source }
        }),
    };
    let metrics = optional(config.metrics_addr)?;
    let media = optional(config.media_auth_addr)?;
    Ok(Listeners {
        http,
        metrics,
        media,
        rpc,
        rpc_path: config.rpc_socket.clone(),
    })
}

/// Pending connections the kernel queues for linkd (as nginx and other servers do; the
/// default of 128 drops connections when many viewers arrive at once).
const LISTEN_BACKLOG: u32 = 4096;

/// A TCP listener on `addr` with a deep accept queue.
fn listen_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// State shared by every part of linkd.
pub(crate) struct Shared {
    /// The effective configuration.
    pub config: Config,
    /// The link table (the only writer of links).
    pub links: links::Links,
    /// The keys that sign playback sessions.
    pub keys: keys::SigningKeys,
    /// The event log.
    pub events: events::Events,
    /// What viewers of a link are greeted with, when the operator set something.
    pub greetings: greetings::Greetings,
    /// Who is watching.
    pub viewers: viewers::Viewers,
    /// The other gates sharing the state, and whether the database answers.
    pub gates: gates::Gates,
    /// The audit trail: who changed a link, who watched.
    pub audit: audit::Audit,
    /// Whether the stream is live.
    pub stream: stream::StreamState,
    /// The stream key and the publisher the media server admitted.
    pub media: publish::Media,
    /// When linkd started.
    pub started: Instant,
    /// Cancelled when linkd begins to shut down.
    pub shutdown: CancellationToken,
}

/// How often ended links are cleaned up.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Runs linkd on `listeners` until `shutdown` resolves, then drains and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let token = CancellationToken::new();
    let gate = gates::gate_name(&config.gate_name, listeners.http_addr().port());
    let (shared, store, inbox) = match load(config, token.clone(), gate.clone()).await {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = std::fs::remove_file(&listeners.rpc_path);
            return Err(e);
        }
    };
    tracing::info!(
        http = %listeners.http_addr(),
        rpc = %listeners.rpc_path.display(),
        links = shared.links.active_count(),
        gate = %gate,
        version = proto::VERSION,
        runtime = ?tokio::runtime::Handle::current().runtime_flavor(),
        workers = tokio::runtime::Handle::current().metrics().num_workers(),
        "linkd ready"
    );
    let tasks = spawn_tasks(&shared, listeners, &token);
    let closing = CancellationToken::new();
    let writer = tokio::spawn(audit::write(shared.clone(), store, inbox, closing.clone()));
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let stop = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    token.cancelled().await;
    tracing::info!("shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    futures::future::join_all(tasks).await;
    // Nothing records any more: the sessions still open end now, and the trail is written.
    shared.viewers.sweep(true);
    closing.cancel();
    let _ = writer.await;
    tracing::info!("stopped");
    Ok(())
}

/// The state every part shares, loaded from the database; `shutdown` is linkd's one token,
/// `gate` this gate's name. Also the store and the inbox of the audit trail's writer.
async fn load(
    config: Config,
    shutdown: CancellationToken,
    gate: String,
) -> Result<(Arc<Shared>, store::Store, audit::Inbox), Error> {
    let (store, links, keys) = open_state(&config).await?;
    let greetings = greetings::Greetings::load(store.clone())?;
    let clock = config.clock.clone();
    let (audit, inbox) = audit::Audit::new(store.clone(), clock.clone(), config.audit_retention);
    let stream_keys = publish::key::StreamKeys::load(store.clone(), clock.clone(), &config)?;
    let shared = Arc::new(Shared {
        media: publish::Media::new(stream_keys),
        events: events::Events::new(store.clone(), clock.clone()),
        greetings,
        links,
        keys,
        viewers: viewers::Viewers::new(clock, audit.clone()),
        gates: gates::Gates::new(gate, store.clone()),
        audit,
        stream: stream::StreamState::default(),
        started: Instant::now(),
        shutdown,
        config,
    });
    Ok((shared, store, inbox))
}

/// Spawns every task of linkd on `listeners`: the RPC and HTTP servers (and metrics, when
/// bound), cleanup, the liveness probe and the cache sweep. Each one ends when `token` is
/// cancelled.
fn spawn_tasks(
    shared: &Arc<Shared>,
    listeners: Listeners,
    token: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let config = &shared.config;
    let origin = Arc::new(origin::Origin::new(
        &config.mediamtx_hls_base_url,
        config.mediamtx_read_user.as_deref(),
        config.mediamtx_read_password.as_ref().map(|p| p.expose()),
    ));
    let web = Arc::new(http::Web::new(
        shared.keys.sessions(),
        origin.clone(),
        config.cookie_secure,
        config.cache_bytes,
        http::conns::Conns::from_config(config),
    ));
    let grace = config.shutdown_grace;
    let serve = |listener, site, conns| {
        let (shared, web, token) = (shared.clone(), web.clone(), token.clone());
        tokio::spawn(http::serve(
            listener, site, shared, web, conns, token, grace,
        ))
    };
    let mut tasks = vec![
        serve(listeners.http, http::Site::Main, web.conns.clone()),
        tokio::spawn(rpc::serve(
            listeners.rpc,
            listeners.rpc_path,
            shared.clone(),
            token.clone(),
            grace,
        )),
        tokio::spawn(cleanup(shared.clone(), token.clone())),
        tokio::spawn(origin::probe(shared.clone(), origin, token.clone())),
        tokio::spawn(sweep_cache(web.clone(), token.clone())),
        tokio::spawn(sweep_viewers(shared.clone(), token.clone())),
    ];
    if let Some(url) = &config.database_url {
        // Other gates share this state: follow their changes and tell them who watches here.
        tasks.push(tokio::spawn(gates::follow(
            shared.clone(),
            url.clone(),
            token.clone(),
        )));
        tasks.push(tokio::spawn(gates::presence(shared.clone(), token.clone())));
    }
    if let Some(l) = listeners.metrics {
        // Its own connection count, so a busy main listener never keeps the scraper out.
        let conns = http::conns::Conns::from_config(config);
        tasks.push(serve(l, http::Site::Metrics, conns));
    }
    if let Some(l) = listeners.media {
        let conns = http::conns::Conns::from_config(config);
        tasks.push(serve(l, http::Site::Media, conns));
    }
    tasks
}

/// Opens the database and loads what linkd keeps in memory: the links and the session keys.
async fn open_state(
    config: &Config,
) -> Result<(store::Store, links::Links, keys::SigningKeys), Error> {
    let db = config.db();
    let store = tokio::task::spawn_blocking(move || store::Store::open(&db))
        .await
        .map_err(|e| store::StoreError::Task(e.to_string()))??;
    let unreadable = |e: store::StoreError| match store.backend() {
        store::Backend::Sqlite => store::StoreError::Open {
            path: config.db_path.clone(),
            reason: e.to_string(),
            hint: "its rows cannot be read: restore a backup or point DB_PATH at a new file",
        },
        store::Backend::Postgres => e,
    };
    let links = links::Links::load(
        store.clone(),
        config.clock.clone(),
        config.base_url.clone(),
        config.default_link_ttl,
    )
    .map_err(unreadable)?;
    let keys = keys::SigningKeys::load(store.clone(), config.clock.clone()).map_err(unreadable)?;
    Ok((store, links, keys))
}

/// How often expired origin answers are dropped from memory.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Drops expired origin answers, so memory follows the stream and not its peaks.
async fn sweep_cache(web: Arc<http::Web>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {
                web.cache.evict(std::time::Instant::now());
                memory::release_free();
            }
        }
    }
}

/// How often sessions without a request for `viewers::IDLE` are ended.
const SWEEP_VIEWERS_EVERY: Duration = Duration::from_secs(2);

/// Ends idle sessions, recording their end in the audit trail.
async fn sweep_viewers(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_VIEWERS_EVERY) => { shared.viewers.sweep(false); }
        }
    }
}

/// Deletes links that ended longer ago than `LINK_RETENTION`, and the audit trail older
/// than `AUDIT_RETENTION`, at start and then hourly.
async fn cleanup(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        match shared.links.cleanup(shared.config.link_retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "ended links cleaned up"),
            Err(e) => tracing::warn!(error = %e, "link cleanup failed"),
        }
        match shared.keys.prune().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retired session signing keys deleted"),
            Err(e) => tracing::warn!(error = %e, "signing key cleanup failed"),
        }
        match shared.audit.prune().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "audit trail past its retention deleted"),
            Err(e) => tracing::warn!(error = %e, "audit trail cleanup failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CLEANUP_EVERY) => {}
        }
    }
}
