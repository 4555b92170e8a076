//! The accept loop both listeners share: connection caps (`conns`), the send timeout, the
//! header read timeout (on each connection's own `timer`) and head size limit, a back-off when accepting fails (out of file
//! descriptors and the like) instead of a spin, and graceful drain on shutdown.

use super::{
    conns, handle, media, revoke, scrape, timer, zerocopy, Answer, Conn, Web, HEADER_READ_TIMEOUT,
    MAX_HEAD_BYTES,
};
use crate::Shared;
use futures::FutureExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long the loop waits after a failed accept before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// The route table: the watch page, `/play`, assets, health.
    Main,
    /// `GET /metrics` only (`METRICS_ADDR`).
    Metrics,
    /// The media server's authentication calls and hooks (`MEDIA_AUTH_ADDR`).
    Media,
}

/// Serves `site` on `listener` until `shutdown`, then lets open requests finish for `grace`.
/// `conns` holds this listener's open connections and caps.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    site: Site,
    shared: Arc<Shared>,
    web: Arc<Web>,
    conns: Arc<conns::Conns>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let send_timeout = shared.config.http_send_timeout;
    let mut refused = (0u64, None::<Instant>);
    let l = &listener;
    while let Some((stream, peer)) = accept(|| l.accept(), &shutdown).await {
        let permit = match conns.admit(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                warn_refused(&mut refused, peer, why, conns.open());
                tokio::spawn(conns::refuse(stream, why));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let web = web.clone();
        let per_conn = Conn::default();
        let reset = per_conn.reset.clone();
        let cutoff = revoke::Cutoff::new(reset.clone(), shared.clone());
        let service = hyper::service::service_fn(move |req| match site {
            Site::Main => handle(&shared, &web, req, peer, &per_conn),
            Site::Metrics => Answer::Ready(Some(scrape::answer(&shared, &web, &req))),
            Site::Media => {
                let shared = shared.clone();
                Answer::Later(Box::pin(
                    async move { media::answer(&shared, req, peer).await },
                ))
            }
        });
        let io = zerocopy::ZeroCopy::new(stream, reset);
        let io = conns::SendTimeout::new(io, send_timeout, Some(cutoff));
        // Each connection's own timer: one timer entry per connection, not per request.
        let conn = builder
            .clone()
            .timer(timer::ConnTimer::new())
            .serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(connection_task(conn, permit));
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("http requests still running after the grace period; dropping them");
    }
}

/// The next connection `accept` gives, or `None` once `shutdown` is cancelled. A failed accept
/// is logged and retried after [`ACCEPT_BACKOFF`], so a listener out of file descriptors
/// waits for some to be freed rather than spinning.
async fn accept<T, F, Fut>(mut accept: F, shutdown: &CancellationToken) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<T>>,
{
    loop {
        let err = tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = accept() => match accepted {
                Ok(a) => return Some(a),
                Err(e) => e,
            },
        };
        tracing::warn!(error = %err, "http accept failed");
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
        }
    }
}

/// The task of one connection: serves it, then gives its place under the caps back (drops
/// `permit`). A combinator rather than an `async` block, which would keep the connection
/// twice, as captured and as awaited: 2,256 bytes per connection instead of 1,152.
fn connection_task<C, E, P>(conn: C, permit: P) -> impl Future<Output = ()>
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    conn.map(move |served| {
        if let Err(e) = served {
            tracing::debug!(error = %e, "http connection ended with an error");
        }
        drop(permit);
    })
}

/// Logs refused connections: one warning per 10 s however many are refused.
fn warn_refused(
    refused: &mut (u64, Option<Instant>),
    peer: SocketAddr,
    why: conns::Refusal,
    open: usize,
) {
    refused.0 += 1;
    if refused
        .1
        .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
    {
        tracing::warn!(client = %peer.ip(), ?why, refused = refused.0, open,
            "connections refused: over the limit (HTTP_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS_PER_CLIENT)");
        *refused = (0, Some(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A connection's task holds the connection once, and lets its permit go when it ends.
    #[tokio::test]
    async fn a_connection_task_holds_its_connection_once() {
        let conn = async {
            let state = [7u8; 4096];
            tokio::task::yield_now().await;
            std::hint::black_box(state);
            Ok::<(), std::io::Error>(())
        };
        let held = std::mem::size_of_val(&conn);
        let permit = Arc::new(());
        let task = connection_task(conn, permit.clone());
        let size = std::mem::size_of_val(&task);
        assert!(
            size < held + 64,
            "{size} bytes for a {held}-byte connection"
        );
        task.await;
        assert_eq!(Arc::strong_count(&permit), 1, "the permit is given back");
    }

    /// A listener whose every accept fails at once (as with EMFILE) is asked again only after
    /// a pause: over 300 ms that is a handful of tries, not a busy loop of millions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_accept_backs_off_instead_of_spinning() {
        let tries = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (tries, shutdown) = (tries.clone(), shutdown.clone());
            async move {
                accept(
                    || {
                        tries.fetch_add(1, Ordering::Relaxed);
                        std::future::ready(Err::<(), _>(std::io::Error::other("too many files")))
                    },
                    &shutdown,
                )
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        shutdown.cancel();
        let got = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop stops on shutdown")
            .unwrap();
        assert_eq!(got, None);
        let n = tries.load(Ordering::Relaxed);
        assert!((1..=10).contains(&n), "{n} accepts in 300 ms");
    }
}
