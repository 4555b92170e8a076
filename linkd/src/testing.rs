//! For tests only (cargo feature `testing`): linkd's `run()` started in-process on the
//! listeners [`crate::bind`] made, stopped through its one shutdown path; and the few inner
//! parts that property tests and forged-credential tests drive directly.

use crate::{Config, Error};

pub mod pg;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::config::{names as config_names, Secret};
pub use crate::http::assets::Assets;
pub use crate::http::path::sanitize;
pub use crate::http::peers::TrustedProxies;
pub use crate::http::session::{Claim, Sessions, MAX_SESSION_SECS};
pub use crate::http::HEADER_READ_TIMEOUT;
pub use crate::links::{check_note, parse_ttl};
pub use crate::token::Token;

/// How long [`Running::stop`] waits for `run` to return.
const STOP_WITHIN: Duration = Duration::from_secs(20);

/// A linkd running in this process.
pub struct Running {
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    /// The bound metrics address, when `METRICS_ADDR` was set.
    pub metrics_addr: Option<SocketAddr>,
    /// The bound media authentication address, when `MEDIA_AUTH_ADDR` was set.
    pub media_addr: Option<SocketAddr>,
    /// The RPC socket.
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl Running {
    /// Binds `config`'s addresses and spawns `run` on them; panics when binding fails.
    pub async fn start(config: Config) -> Running {
        let listeners = crate::bind(&config).await.expect("bind linkd");
        let http_addr = listeners.http_addr();
        let metrics_addr = listeners.metrics_addr();
        let media_addr = listeners.media_addr();
        let socket = config.rpc_socket.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::run(config, listeners, async move {
            let _ = stopped.await;
        }));
        Running {
            http_addr,
            metrics_addr,
            media_addr,
            socket,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Resolves the shutdown future and waits (at most 20 s) for `run` to return.
    pub async fn stop(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(t) => tokio::time::timeout(STOP_WITHIN, t)
                .await
                .expect("linkd stops within 20 s")
                .expect("linkd task"),
            None => Ok(()),
        }
    }
}
